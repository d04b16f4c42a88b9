// Package ingress is Ferry's HTTP API, written with gin: producers post
// CloudEvents (or plain bodies) and get 202 and a task id once the Broker
// has stored the event; anyone reads a task's state and result by id.
//
// # Routes
//
//	POST /, POST /v1/events  one CloudEvent, binary or structured mode
//	POST /v1/tasks/{type}    any body, wrapped in an event of that type
//	GET  /v1/tasks/{id}      the task as JSON; ?wait=10s long-polls
//	GET  /v1/tasks/{id}/result
//	                         the result event's data, raw, answered as a
//	                         binary-mode CloudEvent; ?wait= too; 409 while
//	                         there is none yet or the task failed, 204
//	                         when the task succeeded without a reply
//	GET  /v1/functions       the functions the process runs (ferry dev);
//	                         404 when Params.Functions is nil
//	POST /v1/records         a cluster Broker's follow-ups and dead letters,
//	                         recorded in the task store (Params.Records)
//	GET  /healthz, /readyz   liveness and readiness
//	OPTIONS /, /v1/events    the CloudEvents webhook validation handshake
//
// # What 202 means
//
// An answer of 202 Accepted means that eventing.Publisher.Publish returned
// without error: the Broker has stored the event durably and will deliver
// it at least once. The body is an [Acceptance] naming the task, and the
// Location header points at it. Posting the same event again (same source
// and id) is not an error: the answer is 202 again, with the same task id
// and "duplicate": true, so that a producer's retry looks like success and
// the work is done once. Plain bodies get the same promise when the
// producer sends an Idempotency-Key header, which becomes the event id.
//
// Events are posted one at a time: specversion 1.0 and 0.3, structured mode
// only as application/cloudevents+json. Batch mode is refused with 415, as
// Knative's broker ingress refuses it.
//
// # Errors
//
// Every 4xx and 5xx answer is an RFC 9457 problem document, Content-Type
// application/problem+json, whose type is one of the [ProblemType] values
// (https://ferry.dev/problems/<kind>) and whose detail names what is wrong.
// The kinds are stable; callers match on the type, not on the detail. 503
// broker-unavailable and 409 result-not-ready carry Retry-After: 1.
//
// # Limitations
//
// The ingress authenticates nobody and limits no rate; put it behind
// something that does when it faces the internet. The webhook handshake
// allows every origin and answers synchronously; it never calls a
// WebHook-Request-Callback URL. A long poll holds its connection for up to
// Params.WaitMax, so the HTTP server's WriteTimeout must be longer. Task
// ids are read from the decoded path, so a task id containing "/" (a
// producer's correlationid may) cannot be read back.
package ingress
