// Package faults holds Ferry's fault tests against the real RabbitMQ: they
// stop and start the RabbitMQ application on this machine (rabbitmqctl
// stop_app and start_app), so they run alone, after every other test, with
// `go test -tags faults -p 1 ./faults/` (make test does this last).
//
//   - TestRabbitMQRestartDuringStreamLosesNoAcceptedEvent: a steady stream
//     of events while RabbitMQ goes away and comes back; every 202 is
//     delivered, the ingress answers 503 with Retry-After while it is down
//     (never a hang), /readyz says so, and both recover by themselves.
//   - TestDeadLetterSinkDownLosesNothing: every event that fails for good
//     reaches its dead letter sink although the sink is down for a while.
package faults
