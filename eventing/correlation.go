package eventing

import (
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/google/uuid"
)

// Extension attributes the Broker reads and sets.
const (
	// ExtCorrelationID groups the events of one task (CloudEvents
	// Correlation extension). The Broker sets it: to NewTaskID(e) on a
	// producer's event (replacing any it came with), and to the answered
	// event's on a reply that has none.
	ExtCorrelationID = "correlationid"
	// ExtCausationID is the id of the event that caused this one (CloudEvents
	// Correlation extension). The Broker sets it on replies that lack it.
	ExtCausationID = "causationid"
	// ExtBrokerTTL is Knative's loop guard: it starts at BrokerTTLDefault and
	// drops by one per reply; a reply that would reach zero is not routed.
	ExtBrokerTTL = "knativebrokerttl"
)

// BrokerTTLDefault is the hop budget of a new event, as in Knative.
const BrokerTTLDefault = 255

// taskNamespace seeds the name-based UUIDs of TaskID.
var taskNamespace = uuid.MustParse("6f1c1d0e-3f5a-4a43-9c1e-8f6b2f0d7a11")

// TaskID is the id of the task e belongs to: its correlationid, which the
// Broker sets on every event it takes in. An event without one (not yet
// published) would start the task NewTaskID names.
func TaskID(e *event.Event) string {
	if id := stringExtension(e, ExtCorrelationID); id != "" {
		return id
	}
	return NewTaskID(e)
}

// NewTaskID is the id of the task a producer's event starts: a UUID derived
// from its source and id, so that the same event posted twice names the
// same task on any ingress.
func NewTaskID(e *event.Event) string {
	return uuid.NewSHA1(taskNamespace, eventKey(e)).String()
}

// eventKey identifies an event for deduplication: source and id, which the
// CloudEvents spec says are unique together.
func eventKey(e *event.Event) []byte {
	return []byte(e.Source() + "\x00" + e.ID())
}

// EventKey is the deduplication key of e: its source and id.
func EventKey(e *event.Event) string { return string(eventKey(e)) }

// StringExtension is e's extension name as a string, "" when e does not
// have it or it has no string form.
func StringExtension(e *event.Event, name string) string {
	return stringExtension(e, name)
}

func stringExtension(e *event.Event, name string) string {
	v, ok := extension(e, name)
	if !ok {
		return ""
	}
	s, err := types.ToString(v)
	if err != nil {
		return ""
	}
	return s
}

// extension is e's extension name, read in place: Event.Extensions
// copies the whole map on every call, and TaskID is asked for several
// times a delivery.
func extension(e *event.Event, name string) (any, bool) {
	var exts map[string]any
	switch c := e.Context.(type) {
	case *event.EventContextV1:
		exts = c.Extensions
	case *event.EventContextV03:
		exts = c.Extensions
	default:
		exts = e.Extensions()
	}
	v, ok := exts[name]
	return v, ok
}

// brokerTTL returns e's knativebrokerttl, or BrokerTTLDefault when it has
// none or it is not a number.
func brokerTTL(e *event.Event) int {
	v, ok := extension(e, ExtBrokerTTL)
	if !ok {
		return BrokerTTLDefault
	}
	n, err := types.ToInteger(v)
	if err != nil {
		return BrokerTTLDefault
	}
	return int(n)
}

// stampAccepted gives a producer's event its correlationid and hop budget.
// A correlationid the producer sent is replaced: a task is one accepted
// event, and a producer must not be able to add events to (or take over the
// result of) a task that is not its own.
func stampAccepted(e *event.Event) {
	e.SetExtension(ExtCorrelationID, NewTaskID(e))
	if _, ok := extension(e, ExtBrokerTTL); !ok {
		e.SetExtension(ExtBrokerTTL, BrokerTTLDefault)
	}
}

// stampReply links a reply to the event it answers. It returns false when
// the reply has no hops left and must not be routed.
func stampReply(reply, cause *event.Event) bool {
	if stringExtension(reply, ExtCorrelationID) == "" {
		reply.SetExtension(ExtCorrelationID, stringExtension(cause, ExtCorrelationID))
	}
	if stringExtension(reply, ExtCausationID) == "" {
		reply.SetExtension(ExtCausationID, cause.ID())
	}
	ttl := brokerTTL(cause) - 1
	reply.SetExtension(ExtBrokerTTL, ttl)
	return ttl > 0
}
