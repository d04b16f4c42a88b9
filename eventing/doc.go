// Package eventing is Ferry's Broker: it takes events in, stores them
// durably, matches them against Triggers, delivers them to subscribers with
// the Trigger's delivery spec (retries, backoff, dead letter sink) and
// publishes each subscriber's reply back into the Broker as a follow-up
// event.
//
// The words keep Knative Eventing's meaning: a Broker receives events at its
// ingress; a Trigger's filter selects the events its subscriber gets; the
// dispatcher makes the deliveries; a reply is the CloudEvent a subscriber
// answers with; the dead letter sink gets what could not be delivered.
//
// Where events are stored is a backend's concern: the embedded backend
// (package eventing/embedded) keeps them on disk for `ferry dev`.
package eventing
