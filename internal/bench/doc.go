// Package bench measures Ferry against RabbitMQ's own ceiling on the
// machine it runs on, for `ferry bench` and `make bench`, and renders one
// markdown table of the results (docs/performance.md explains each row).
//
// Everything is measured in one run, in this process, against the
// RabbitMQ and Redis of Options (FERRY_AMQP_URL and FERRY_REDIS_URL, on
// loopback by default):
//
//   - the raw ceiling, amqp091-go alone: persistent publishes with
//     publisher confirms of Ferry's own message (the same headers and
//     ~1 KB body, read back from a queue Ferry wrote it to), spread over
//     rabbitmq.PublisherChannels (4) confirm channels of one connection as
//     Ferry's publisher does, each publisher waiting for its own confirm,
//     at concurrency 1, 16 and 64; and consume-and-ack of four times
//     Options.Events such messages from a quorum queue with prefetch 100,
//     one ack per message;
//   - the floors, HTTP in front of RabbitMQ with none of Ferry: a bare
//     net/http handler that publishes the raw message and waits for its
//     confirm, under the ingress's HTTP load; and a raw consumer whose
//     workers POST each message to the trivial subscriber and ack it, at
//     each dispatch parallelism, with Go's net/http at both ends. An
//     ingress or dispatcher built on net/http, as Ferry's are, does more
//     than that, so the floors' ratios to the raw ceiling bound Ferry's;
//   - Ferry's ingress accepting binary CloudEvents over keep-alive HTTP,
//     in a devstack.RoleIngress stack on RabbitMQ and Redis, at the same
//     concurrencies: events/s, p50 and p99;
//   - Ferry's dispatcher (devstack.RoleDispatch) draining Options.Events
//     pre-published events to a trivial subscriber (an HTTP handler on
//     127.0.0.1 answering 200 with no body) at Trigger parallelism 1, 10
//     and 100: events/s from the first delivery to the last;
//   - submit-to-result-stored latency at concurrency 1 (devstack.RoleAll):
//     from the POST until the task, read straight from Redis, is succeeded
//     with the subscriber's reply as its result;
//   - the embedded backend of `ferry dev` (bbolt, fsynced) for context:
//     ingress accept and submit-to-stored.
//
// Each measurement uses a namespace of its own (ferry-bench-<hex>-<phase>)
// and deletes its exchange, queues and Redis keys afterwards; the stacks'
// Redis keys also expire after ten minutes should the clean-up not run.
//
// For every throughput and drain point the report also gives the CPU time
// per event of this process, of RabbitMQ and of Redis (from /proc, when
// the servers run on this machine), which shows where each point's time
// goes.
//
// Throughput counts the operations that complete within a window of
// Options.Duration after a warm-up of Options.Warmup; latencies are those
// of the same operations. The load generator runs in this process, so on a
// small machine it takes CPU from what it measures, as it does from the raw
// ceiling.
//
// Limitations: the trivial subscriber is an in-process handler, not a
// `kn func` function process (those are measured by the runner's own
// benchmarks); the numbers of one run are only as quiet as the machine.
package bench
