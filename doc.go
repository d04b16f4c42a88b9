// Package ferry is Ferry's ingress as a kn func HTTP function, the shape
// of kn func's instanced Go HTTP template: New returns an *Ingress, the
// runtime (knative.dev/func-go/http) calls its Start once with the
// process's configuration, routes every request to Handle, probes Ready at
// /health/readiness and Alive at /health/liveness, and calls Stop on
// SIGTERM. So `kn func deploy` at the repository's root (func.yaml there
// says runtime go, invoke http, scale min 1) deploys the ingress, and
// `make images` builds the same thing without Docker.
//
// On a cluster the ingress does not hold the Broker: it posts every
// accepted event to K_SINK (the Broker's address, which the SinkBinding in
// config/ injects) with eventing.Sink, and answers 202 once the Broker
// answered 2xx. The results Trigger and the Broker's dead letter sink bring
// follow-ups and dead letters back to POST /v1/records, which records them
// in the task store. The store is Redis when FERRY_REDIS_URL is set (every
// replica then answers for every task), else a bbolt file in FERRY_DATA_DIR
// (one replica only).
//
// # Configuration
//
// Start reads these keys of its cfg map (func-go passes the environment):
//
//	K_SINK            the Broker's URL; required unless the two below are set
//	FERRY_RABBITMQ_URL       amqp://...: publish straight to RabbitMQ...
//	FERRY_RABBITMQ_EXCHANGE  ...to this exchange, the RabbitMQ Broker's
//	                  (see docs/deploy.md for the trade-off)
//	FERRY_BROKER      the Broker's name, for recorded deliveries ("default")
//	FERRY_REDIS_URL   redis://host:6379/0: the shared task store
//	FERRY_REDIS_PREFIX  key prefix in Redis (tasks.RedisPrefixDefault)
//	FERRY_DATA_DIR    folder of tasks.db without Redis (".ferry")
//	FERRY_WAIT_MAX    longest ?wait= long poll (25s; func-go's server
//	                  cuts every answer at 30 s)
//	FERRY_LOG_LEVEL   debug, info, warn or error ("info"); JSON on stderr
//
// # Limitations
//
// The ingress sees no delivery on a cluster, only what comes back: a task
// is "accepted" until its first follow-up or dead letter arrives, shows no
// retries in progress, and a function that answers 2xx without a reply
// leaves its task "accepted" for good. A task whose reply is routed on to
// a second function shows "succeeded" as soon as the first reply is
// recorded. When one event matches several Triggers, all their deliveries
// are one pseudo-delivery named after the Broker, so a dead letter that
// arrives after another Trigger's reply does not fail the task. Replies
// must carry correlationid (and causationid) themselves: Knative's brokers
// do not add them. There is no option yet to publish straight to RabbitMQ.
package ferry
