package conformance

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestReplyReachesAnotherTrigger(t *testing.T) {
	t.Parallel()
	first := newSubscriber(t, reply(func(int, *http.Request) (
		map[string]string, []byte) {
		h := binary("shipped-7", "dev.conformance.shipped")
		h["Content-Type"] = "application/json"
		return h, []byte(`{"shipped":true}`)
	}))
	second := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""),
		triggerDoc("orders", first.URL(), typeFilter("dev.conformance.order")),
		triggerDoc("shipping", second.URL(), typeFilter("dev.conformance.shipped")))

	id := s.publish(binary("order-7", "dev.conformance.order"), nil)
	tk := s.awaitFinished(id)
	if tk.State != "succeeded" || len(tk.Events) != 2 {
		t.Fatalf("task %s with %d events, want succeeded with the event and "+
			"its reply", tk.State, len(tk.Events))
	}

	checkReceived(t, first, []string{"order-7"})
	checkReceived(t, second, []string{"shipped-7"})
	got := second.received()[0]
	if v := got.ce("correlationid"); v != id {
		t.Errorf("reply's correlationid %q, want the task id %s", v, id)
	}
	if v := got.ce("causationid"); v != "order-7" {
		t.Errorf("reply's causationid %q, want order-7", v)
	}
	if string(got.Body) != `{"shipped":true}` {
		t.Errorf("reply data %q, want {\"shipped\":true}", got.Body)
	}
}

func TestStructuredReplyIsReingested(t *testing.T) {
	t.Parallel()
	first := newSubscriber(t, reply(func(int, *http.Request) (
		map[string]string, []byte) {
		return map[string]string{"Content-Type": "application/cloudevents+json"},
			[]byte(`{"specversion":"1.0","id":"answer-1","source":"/answerer",` +
				`"type":"dev.conformance.answer","datacontenttype":"text/plain",` +
				`"data":"forty-two"}`)
	}))
	second := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""),
		triggerDoc("questions", first.URL(), typeFilter("dev.conformance.question")),
		triggerDoc("answers", second.URL(), typeFilter("dev.conformance.answer")))

	s.awaitState(s.publish(binary("q-1", "dev.conformance.question"), nil),
		"succeeded")
	checkReceived(t, second, []string{"answer-1"})
	if b := second.received()[0].Body; string(b) != "forty-two" {
		t.Errorf("reply data %q, want forty-two", b)
	}
}

func TestEmptyReplyEndsDelivery(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, always(http.StatusOK, nil))
	s := startStack(t, brokerDoc(""), triggerDoc("quiet", sub.URL()))

	id := s.publish(binary("quiet", "dev.conformance.quiet"), nil)
	tk := s.awaitFinished(id)
	if tk.State != "succeeded" || tk.Attempts != 1 || len(tk.Events) != 1 {
		t.Errorf("task %s after %d attempts with %d events, want succeeded "+
			"after 1 with no reply", tk.State, tk.Attempts, len(tk.Events))
	}
	a := do(t, http.MethodGet, s.URL()+"/v1/tasks/"+id+"/result", nil, nil)
	if a.Code != http.StatusNoContent {
		t.Errorf("result: %d %s, want 204 (succeeded without a reply)",
			a.Code, a.Body)
	}
	settle()
	if n := len(sub.received()); n != 1 {
		t.Errorf("subscriber got %d requests, want 1", n)
	}
}

func TestLargeEventAndReplyDeliveredOnce(t *testing.T) {
	t.Parallel()
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, 36<<10) }
	first := newSubscriber(t, reply(func(int, *http.Request) (
		map[string]string, []byte) {
		h := binary("big-reply", "dev.conformance.big.reply")
		h["Content-Type"] = "text/plain"
		return h, big('r')
	}))
	second := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""),
		triggerDoc("big", first.URL(), typeFilter("dev.conformance.big")),
		triggerDoc("big-reply", second.URL(), typeFilter("dev.conformance.big.reply")))

	hdr := binary("big-event", "dev.conformance.big")
	hdr["Content-Type"] = "text/plain"
	s.awaitState(s.publish(hdr, big('e')), "succeeded")

	checkReceived(t, first, []string{"big-event"})
	checkReceived(t, second, []string{"big-reply"})
	if b := first.received()[0].Body; !bytes.Equal(b, big('e')) {
		t.Errorf("event data of %d bytes, want the 36 KiB sent", len(b))
	}
	if b := second.received()[0].Body; !bytes.Equal(b, big('r')) {
		t.Errorf("reply data of %d bytes, want the 36 KiB replied", len(b))
	}
}

func TestBrokerTTLEndsReplyLoop(t *testing.T) {
	t.Parallel()
	// The subscriber answers every event with a new one that its own
	// Trigger matches: an endless loop but for knativebrokerttl.
	sink := newSubscriber(t, accept)
	loop := newSubscriber(t, reply(func(n int, _ *http.Request) (
		map[string]string, []byte) {
		return binary(fmt.Sprintf("loop-%d", n), "dev.conformance.loop"), nil
	}))
	s := startStack(t, brokerDoc(""), triggerDoc("loop", loop.URL(),
		typeFilter("dev.conformance.loop"), deliveryDoc(0, delay, sink.URL())))

	id := s.publish(binary("start", "dev.conformance.loop",
		"knativebrokerttl", "3"), nil)
	dead := sink.await(t, 1)
	tk := s.awaitState(id, "failed")
	settle()

	// ttl 3: the event (3), its reply (2) and the reply's reply (1) are
	// delivered; the next reply would have 0 hops, so the event with 1
	// goes to the dead letter sink.
	checkReceived(t, loop, []string{"start", "loop-1", "loop-2"})
	checkReceived(t, sink, []string{"loop-2"})
	if v := dead[0].ce("knativebrokerttl"); v != "1" {
		t.Errorf("dead-lettered event has knativebrokerttl %q, want 1", v)
	}
	var kinds []string
	for _, e := range tk.Events {
		kinds = append(kinds, fmt.Sprint(e.Kind, ":", e.Attributes["id"]))
	}
	want := "[accepted:start reply:loop-1 reply:loop-2 deadletter:loop-2]"
	if fmt.Sprint(kinds) != want {
		t.Errorf("task events %v, want %s (the third reply is not routed)",
			kinds, want)
	}
	ttls := map[string]string{}
	for _, r := range loop.received() {
		ttls[r.ce("id")] = r.ce("knativebrokerttl")
	}
	wantTTL := map[string]string{"start": "3", "loop-1": "2", "loop-2": "1"}
	if fmt.Sprint(ttls) != fmt.Sprint(wantTTL) {
		t.Errorf("knativebrokerttl per delivery %v, want %v", ttls, wantTTL)
	}
}

// TestReplyReusingEventIDFailsVisibly: a reply with the source and id of
// the event it answers would be taken for that event (Ferry knows events
// by source and id) and lost, its task left running for good. The
// delivery fails instead, with a reason that says so. Knative's broker
// would route such a reply.
func TestReplyReusingEventIDFailsVisibly(t *testing.T) {
	t.Parallel()
	echo := newSubscriber(t, reply(func(_ int, r *http.Request) (
		map[string]string, []byte) {
		return binary(r.Header.Get("Ce-Id"), "dev.conformance.echoed"), nil
	}))
	next := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""),
		triggerDoc("echo", echo.URL(), typeFilter("dev.conformance.ask")),
		triggerDoc("next", next.URL(), typeFilter("dev.conformance.echoed")))

	tk := s.awaitFinished(s.publish(binary("same", "dev.conformance.ask"), nil))
	if tk.State != "failed" || !strings.Contains(tk.Reason, "reuses") {
		t.Errorf("task %s (%s), want failed with a reason naming the reused id",
			tk.State, tk.Reason)
	}
	checkReceived(t, next, nil)
}

func TestNonCloudEventReplyIsFailedDelivery(t *testing.T) {
	t.Parallel()
	sink := newSubscriber(t, accept)
	sub := newSubscriber(t, always(http.StatusOK, []byte("not an event")))
	s := startStack(t, brokerDoc(""), triggerDoc("chatty", sub.URL(),
		deliveryDoc(1, delay, sink.URL())))

	id := s.publish(binary("chatty", "dev.conformance.chatty"), nil)
	got := sink.await(t, 1)
	tk := s.awaitState(id, "failed")
	if tk.Attempts != 2 || tk.Code != http.StatusBadGateway {
		t.Errorf("task after %d attempts with code %d, want 2 attempts "+
			"and 502 (Knative's code for a reply that is no event)",
			tk.Attempts, tk.Code)
	}
	if v := got[0].ce("knativeerrorcode"); v != "502" {
		t.Errorf("knativeerrorcode %q, want 502", v)
	}
	data, _ := base64.StdEncoding.DecodeString(got[0].ce("knativeerrordata"))
	if string(data) != "not an event" {
		t.Errorf("knativeerrordata decodes to %q, want the answer", data)
	}
	if n := len(sub.received()); n != 2 {
		t.Errorf("subscriber got %d requests, want 2 (retried)", n)
	}
	if !strings.Contains(tk.Reason, "not a CloudEvent") {
		t.Errorf("reason %q, want it to say the reply is not a CloudEvent",
			tk.Reason)
	}
}
