package eventing

import (
	"encoding/json"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

func newEvent(source, id, typ string) *event.Event {
	e := event.New()
	e.SetSource(source)
	e.SetID(id)
	e.SetType(typ)
	return &e
}

func TestTaskIDIsStableForSameSourceAndID(t *testing.T) {
	a := newEvent("/shop/orders", "order-17", "order.created")
	b := newEvent("/shop/orders", "order-17", "order.updated")
	if TaskID(a) != TaskID(b) {
		t.Errorf("same source and id: %s != %s", TaskID(a), TaskID(b))
	}
	if _, err := uuid.Parse(TaskID(a)); err != nil {
		t.Errorf("TaskID %q is not a UUID: %v", TaskID(a), err)
	}
	// A second computation, as on another ingress, names the same task.
	if got := TaskID(newEvent("/shop/orders", "order-17", "x")); got != TaskID(a) {
		t.Errorf("recomputed TaskID %s != %s", got, TaskID(a))
	}
}

func TestTaskIDDiffersForOtherSourceOrID(t *testing.T) {
	base := TaskID(newEvent("/shop/orders", "order-17", "t"))
	others := []*event.Event{
		newEvent("/shop/orders", "order-18", "t"),
		newEvent("/shop/invoices", "order-17", "t"),
	}
	for _, e := range others {
		if TaskID(e) == base {
			t.Errorf("source %q id %q: same TaskID as /shop/orders order-17",
				e.Source(), e.ID())
		}
	}
	if TaskID(newEvent("a", "bc", "t")) == TaskID(newEvent("ab", "c", "t")) {
		t.Error("source a id bc and source ab id c share a TaskID")
	}
}

func TestTaskIDUsesCorrelationID(t *testing.T) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	e.SetExtension(ExtCorrelationID, "checkout-42")
	if got := TaskID(e); got != "checkout-42" {
		t.Errorf("TaskID = %q, want the correlationid checkout-42", got)
	}
}

// The extensions are read in place for both spec versions.
func TestTaskIDUsesCorrelationIDOfCloudEvents03(t *testing.T) {
	e := event.New(event.CloudEventsVersionV03)
	e.SetID("order-17")
	e.SetSource("/shop/orders")
	e.SetType("order.created")
	e.SetExtension(ExtCorrelationID, "checkout-42")
	e.SetExtension(ExtBrokerTTL, int32(7))
	if got := TaskID(&e); got != "checkout-42" {
		t.Errorf("TaskID = %q, want the correlationid checkout-42", got)
	}
	if got := brokerTTL(&e); got != 7 {
		t.Errorf("knativebrokerttl = %d, want 7", got)
	}
}

// BenchmarkTaskID is the task id of a stamped event, which the task
// store asks for with every report.
func BenchmarkTaskID(b *testing.B) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	stampAccepted(e)
	b.ReportAllocs()
	for b.Loop() {
		if TaskID(e) == "" {
			b.Fatal("no task id")
		}
	}
}

func TestStampAcceptedSetsCorrelationIDAndTTL(t *testing.T) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	want := TaskID(e)
	stampAccepted(e)
	if got := stringExtension(e, ExtCorrelationID); got != want {
		t.Errorf("correlationid = %q, want %q", got, want)
	}
	if got := brokerTTL(e); got != 255 {
		t.Errorf("knativebrokerttl = %d, want 255", got)
	}
	if TaskID(e) != want {
		t.Errorf("TaskID changed after stamping: %s", TaskID(e))
	}
}

func TestStampAcceptedReplacesProducerCorrelationButKeepsTTL(t *testing.T) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	e.SetExtension(ExtCorrelationID, "someone-elses-task")
	e.SetExtension(ExtBrokerTTL, 10)
	stampAccepted(e)
	want := NewTaskID(newEvent("/shop/orders", "order-17", "order.created"))
	if got := stringExtension(e, ExtCorrelationID); got != want {
		t.Errorf("correlationid = %q, want the event's own task %s", got, want)
	}
	if got := brokerTTL(e); got != 10 {
		t.Errorf("knativebrokerttl = %d, want 10", got)
	}
}

func TestStampReplyLinksReplyToCause(t *testing.T) {
	cause := newEvent("/shop/orders", "order-17", "order.created")
	stampAccepted(cause)
	reply := newEvent("/fn/invoice", "reply-1", "invoice.created")

	if !stampReply(reply, cause) {
		t.Fatal("stampReply refused a reply with 254 hops left")
	}
	if got, want := stringExtension(reply, ExtCorrelationID), TaskID(cause); got != want {
		t.Errorf("correlationid = %q, want the task id %q", got, want)
	}
	if got := stringExtension(reply, ExtCausationID); got != "order-17" {
		t.Errorf("causationid = %q, want order-17", got)
	}
	if got := brokerTTL(reply); got != 254 {
		t.Errorf("knativebrokerttl = %d, want 254", got)
	}
	if TaskID(reply) != TaskID(cause) {
		t.Errorf("reply's task %s is not its cause's %s", TaskID(reply),
			TaskID(cause))
	}
}

func TestStampReplyKeepsCorrelationSetBySubscriber(t *testing.T) {
	cause := newEvent("/shop/orders", "order-17", "order.created")
	stampAccepted(cause)
	reply := newEvent("/fn/invoice", "reply-1", "invoice.created")
	reply.SetExtension(ExtCorrelationID, "other-task")
	reply.SetExtension(ExtCausationID, "upstream-9")
	// A subscriber that copies the ttl back does not reset the loop guard.
	reply.SetExtension(ExtBrokerTTL, 255)

	stampReply(reply, cause)
	if got := stringExtension(reply, ExtCorrelationID); got != "other-task" {
		t.Errorf("correlationid = %q, want other-task", got)
	}
	if got := stringExtension(reply, ExtCausationID); got != "upstream-9" {
		t.Errorf("causationid = %q, want upstream-9", got)
	}
	if got := brokerTTL(reply); got != 254 {
		t.Errorf("knativebrokerttl = %d, want 254", got)
	}
}

func TestBrokerTTLDecrementsPerReplyUntilExhausted(t *testing.T) {
	e := newEvent("/loop", "0", "ping")
	stampAccepted(e)
	hops := 0
	for {
		reply := newEvent("/loop", e.ID()+"+", "ping")
		routed := stampReply(reply, e)
		if got, want := brokerTTL(reply), brokerTTL(e)-1; got != want {
			t.Fatalf("hop %d: ttl %d, want %d", hops, got, want)
		}
		if !routed {
			if got := brokerTTL(reply); got != 0 {
				t.Errorf("reply refused with ttl %d, want 0", got)
			}
			break
		}
		hops++
		e = reply
		if hops > 300 {
			t.Fatal("the loop guard never stopped the chain")
		}
	}
	// 255 at the start: replies get 254 ... 1, and the one that would
	// get 0 is not routed.
	if hops != 254 {
		t.Errorf("routed %d replies, want 254", hops)
	}
}

func TestBrokerTTLSurvivesJSONAndHeaders(t *testing.T) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	stampAccepted(e)
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back event.Event
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if got := brokerTTL(&back); got != 255 {
		t.Errorf("after a JSON round trip ttl = %d, want 255", got)
	}

	// Binary mode carries extensions as strings.
	h := newEvent("/shop/orders", "order-17", "order.created")
	h.SetExtension(ExtBrokerTTL, "7")
	if got := brokerTTL(h); got != 7 {
		t.Errorf("ttl from the string \"7\" = %d, want 7", got)
	}
	h.SetExtension(ExtBrokerTTL, "many")
	if got := brokerTTL(h); got != BrokerTTLDefault {
		t.Errorf("ttl from \"many\" = %d, want the default %d", got,
			BrokerTTLDefault)
	}
}

func TestEventKeyIsSourceAndID(t *testing.T) {
	e := newEvent("/shop/orders", "order-17", "order.created")
	if got, want := EventKey(e), "/shop/orders\x00order-17"; got != want {
		t.Errorf("EventKey = %q, want %q", got, want)
	}
}

func TestExtensionsAreThoseOfTheEventInEverySpecVersion(t *testing.T) {
	for _, sv := range []string{event.CloudEventsVersionV1,
		event.CloudEventsVersionV03} {
		e := newEvent("/shop/orders", "order-17", "order.created")
		e.SetSpecVersion(sv)
		stampAccepted(e)
		e.SetExtension("region", "eu")

		got, want := Extensions(e), e.Extensions()
		if len(got) != len(want) || len(got) != 3 {
			t.Errorf("%s: extensions %v, want %v", sv, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: extension %s is %v, want %v", sv, k, got[k], v)
			}
		}
		if TaskID(e) != NewTaskID(e) || brokerTTL(e) != BrokerTTLDefault {
			t.Errorf("%s: task %s, ttl %d, want %s and %d", sv, TaskID(e),
				brokerTTL(e), NewTaskID(e), BrokerTTLDefault)
		}
	}
}
