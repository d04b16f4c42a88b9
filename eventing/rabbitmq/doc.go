// Package rabbitmq is the Broker backend for several processes: an
// eventing.Queue on RabbitMQ, laid out and encoded as Knative's RabbitMQ
// broker (knative-extensions/eventing-rabbitmq) does, so that a queue or a
// message looks the same to an operator whichever of the two wrote it.
//
// # Topology
//
// Open declares, for Broker b in namespace ns (all durable, none
// auto-deleted):
//
//	b.<ns>.<b>                 headers exchange: every event of the Broker
//	<ns>.<trigger>.<b>         one queue per Trigger, quorum by default,
//	                           single-active-consumer at parallelism 1
//	                           (Params.QueueType "classic" for classic)
//	b.<ns>.<b>.dead            queue of buried deliveries (Bury)
//
// These are eventing-rabbitmq's names with the Broker's name where it uses
// the Broker's Kubernetes UID, which Ferry does not have. Each Trigger queue
// is bound to the exchange with the arguments x-match: all,
// x-knative-trigger: <trigger> (ignored by the match, it names the binding)
// and one argument per spec.filter.attributes entry, so RabbitMQ routes an
// event to a Trigger's queue only when every attribute is equal. An entry
// with an empty value means "any value" in Knative and is left out of the
// binding. A Trigger without a filter, or with spec.filters (which a
// binding cannot express), is bound with no attribute arguments and gets
// every event; the Broker applies the filter in the dispatcher. Trigger
// queues dead-letter into the dead queue, so that anything RabbitMQ itself
// discards (a quorum queue's delivery-limit, for one) is kept there too.
//
// # Messages
//
// An event is one persistent message (delivery mode 2) published to the
// exchange with an empty routing key: the data is the body, the
// datacontenttype the AMQP content-type property and a content-type header,
// the event id the message-id property, and every other attribute and
// extension a header with its bare name (specversion, id, source, type,
// subject, time, dataschema, correlationid, knativebrokerttl...), as
// eventing-rabbitmq's ingress writes them. String, integer and boolean
// extensions keep their AMQP type, time is RFC 3339, other values are
// their canonical string. Headers that start with "x-" are never
// attributes; a "ce-" prefix is accepted when reading. Every message also
// carries x-ferry-publish, a tag that pairs RabbitMQ's return of an
// unroutable message with its publish; buried ones carry x-ferry-trigger,
// x-ferry-reason and x-ferry-attempts as well.
//
// # Contract
//
//   - Put publishes once, mandatory and with publisher confirms, over one
//     of PublisherChannels (4) channels, and returns only after RabbitMQ
//     acked the message, so a nil error means it is on disk in every queue
//     it was routed to. A nack, a return (no queue took it although the
//     Broker named Triggers), a lost connection or no confirm within
//     Params.PublishTimeout (5 s by default) is an error; while the
//     connection is down or blocked by a RabbitMQ alarm, Put fails at once.
//     It publishes nothing when the Broker names no Trigger (which is also
//     how a reply whose knativebrokerttl ran out is stopped). The frames
//     of publishes made while the socket is busy leave together in its
//     next write; a write that fails ends the connection, and with it
//     every publish not yet confirmed.
//   - Open waits for RabbitMQ until its context ends. Each connection is
//     redialed in the background with a backoff from 100 ms doubling to
//     5 s, for as long as the Queue is open; Ready reports whether the
//     connections are up.
//   - A delivery is acked only once its outcome is final: Done publishes
//     the reply (confirmed) before the ack, Bury publishes to the dead
//     queue (confirmed, and refused if the queue is missing) before the
//     ack. When either fails the message stays unacked and is offered again
//     1 s later; nothing is acked and dropped. A finished message whose
//     older ones are still out is acked up to 3 ms later, with them in one
//     frame when they finish by then (multiple), else on its own; a
//     multiple ack never covers a message that is not finished. When the
//     prefetch exceeds the parallelism, the oldest finished message waits
//     too, up to 3 ms or until half the spare prefetch is finished, so
//     that messages finishing in order are acked in one frame.
//   - Retry keeps the message unacked in this process and offers it again
//     at its due time; attempts live in memory only.
//   - Messages not acked when a dispatcher dies or loses its connection go
//     back to their queue, and RabbitMQ delivers them again (at least once).
//     The consumers reconnect, re-declare the topology and consume again by
//     themselves; deliveries held from the lost connection are forgotten.
//   - Each Trigger has one consumer with Params.Prefetch unacked messages
//     (100 by default) and makes at most its parallelism of deliveries at a
//     time: Params.Parallelism (1 by default, as in eventing-rabbitmq) or
//     its rabbitmq.eventing.knative.dev/parallelism annotation (1 to 1000).
//     With parallelism 1 a Trigger's messages are handed out one at a time
//     in queue order, and a message waiting for its retry holds the turn.
//
// # Limitations
//
//   - RabbitMQ cannot tell a duplicate: without Params.Dedupe, the same
//     event posted twice is published twice, and the task store must absorb
//     it by id. With it, Put claims the event before it publishes (copies
//     posted at the same instant wait for that claim) and marks it stored
//     after the confirm, in the background. A claim whose answer was lost
//     is released again and again until it would expire; a publish whose
//     confirm comes after Put returned keeps its claim until the confirm
//     says what became of it. The event can still be published twice when
//     the stored mark never lands (the store down, then the process gone)
//     and a copy comes after the claim expired (ClaimTTL), or when a
//     confirm comes later than that.
//   - Attempts, the dead letter phase and the due time of a retry are held
//     in memory: a message redelivered after a dispatcher died starts again
//     from its first attempt to the subscriber.
//   - While a message waits for its retry it holds one of the Trigger's
//     prefetch credits; a Trigger whose Prefetch messages all wait takes no
//     new message until one falls due.
//   - After a connection loss a delivery that was being made when the
//     connection went can be made twice at once: RabbitMQ redelivers it
//     while the first attempt finishes (its Done then fails with
//     ErrDeliveryGone).
//   - Bindings that no Trigger asks for any more (a Trigger removed or its
//     filter changed) are not removed: RabbitMQ cannot list bindings over
//     AMQP. Extra events they route are filtered out by the Broker.
//   - A filter on an extension that is not a string (knativebrokerttl, a
//     boolean) never matches in a binding, since RabbitMQ compares types.
//   - A return only tells that no queue took a message: when an event
//     reaches some of its Triggers' queues but not all (one deleted under
//     a running Broker), Put cannot tell, and the missing queue is
//     declared again only at the next connect.
//   - Nothing reads the dead queue yet; an operator can, with any AMQP
//     client.
package rabbitmq
