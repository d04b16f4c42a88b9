package rabbitmq

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/eventing"
)

// uriResolver reaches every destination by its URI.
type uriResolver struct{}

func (uriResolver) Resolve(d duckv1.Destination) (eventing.Subscriber, error) {
	u := url.URL(*d.URI)
	return eventing.Subscriber{URL: &u, Transport: http.DefaultTransport}, nil
}

// subscriber is an httptest server that hands every event it gets to a
// channel and answers with answer.
func subscriber(t *testing.T, answer func(w http.ResponseWriter,
	e *event.Event)) (*apis.URL, <-chan *event.Event) {
	t.Helper()
	got := make(chan *event.Event, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter,
		r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("subscriber got no event: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got <- e
		answer(w, e)
	}))
	t.Cleanup(srv.Close)
	u, err := apis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u, got
}

func status(code int) func(http.ResponseWriter, *event.Event) {
	return func(w http.ResponseWriter, _ *event.Event) { w.WriteHeader(code) }
}

func subscribed(name, typ string, sub *apis.URL,
	delivery *eventingduckv1.DeliverySpec) *eventingv1.Trigger {
	t := trig(name, map[string]string{"type": typ}, 0)
	t.Spec.Subscriber = duckv1.Destination{URI: sub}
	t.Spec.Delivery = delivery
	return t
}

func receive(t *testing.T, what string, ch <-chan *event.Event) *event.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: nothing came in 15 s", what)
		return nil
	}
}

func TestBrokerDeliversRepliesAndDeadLettersOverRabbitMQ(t *testing.T) {
	thumb, thumbGot := subscriber(t, func(w http.ResponseWriter,
		e *event.Event) {
		w.Header().Set("Ce-Specversion", "1.0")
		w.Header().Set("Ce-Id", "reply-of-"+e.ID())
		w.Header().Set("Ce-Source", "/functions/thumb")
		w.Header().Set("Ce-Type", "dev.e2e.out")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("thumbnail"))
	})
	results, resultsGot := subscriber(t, status(http.StatusOK))
	var flakyCalls atomic.Int32
	flaky, _ := subscriber(t, func(w http.ResponseWriter, _ *event.Event) {
		flakyCalls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	sink, sinkGot := subscriber(t, status(http.StatusAccepted))
	rejecting, _ := subscriber(t, status(http.StatusBadRequest))

	retry, delay := int32(1), "PT0.05S"
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		subscribed("thumb", "dev.e2e.in", thumb, nil),
		subscribed("results", "dev.e2e.out", results, nil),
		subscribed("flaky", "dev.e2e.flaky", flaky,
			&eventingduckv1.DeliverySpec{Retry: &retry, BackoffDelay: &delay,
				DeadLetterSink: &duckv1.Destination{URI: sink}}),
		subscribed("rejecting", "dev.e2e.rejected", rejecting, nil),
	}})
	consume(t, q)
	b, err := eventing.NewBroker(eventing.Params{
		Name: q.p.Broker, Namespace: testNamespace, Triggers: q.p.Triggers,
		Queue: q, Resolver: uriResolver{}, Parallelism: q.Parallelism(),
		Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = b.Run(ctx)
	}()
	defer func() {
		cancel()
		<-ran
	}()

	// Event in, delivered, its reply routed to a second Trigger.
	rc, err := b.Publish(ctx, newEvent("e2e-1", "dev.e2e.in"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if e := receive(t, "thumb", thumbGot); e.ID() != "e2e-1" {
		t.Errorf("thumb got %s", e.ID())
	}
	reply := receive(t, "results", resultsGot)
	ext := reply.Extensions()
	if reply.ID() != "reply-of-e2e-1" || string(reply.Data()) != "thumbnail" ||
		ext[eventing.ExtCausationID] != "e2e-1" ||
		ext[eventing.ExtCorrelationID] != rc.TaskID {
		t.Errorf("results got %v", reply)
	}

	// A 5xx is retried once, then the event goes to the dead letter sink.
	if _, err := b.Publish(ctx, newEvent("e2e-2", "dev.e2e.flaky")); err != nil {
		t.Fatal(err)
	}
	dead := receive(t, "dead letter sink", sinkGot)
	if dead.ID() != "e2e-2" || dead.Extensions()["knativeerrorcode"] != "500" {
		t.Errorf("dead letter sink got %v", dead)
	}
	if n := flakyCalls.Load(); n != 2 {
		t.Errorf("flaky subscriber called %d times, want 2", n)
	}

	// A 400 without a dead letter sink buries the event in the dead queue.
	if _, err := b.Publish(ctx, newEvent("e2e-3",
		"dev.e2e.rejected")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "buried event in the dead queue", func() error {
		msg, ok, err := admin(t).Get(q.top.dead, true)
		switch {
		case err != nil:
			return err
		case !ok:
			return errNotEvent
		case msg.Headers["id"] != "e2e-3" || msg.Headers[hdrBuriedTrigger] !=
			"rejecting":
			t.Fatalf("dead queue holds %v", msg.Headers)
		}
		return nil
	})

	// Everything delivered was acked.
	cancel()
	<-ran
	q.Close()
	for _, tr := range []string{"thumb", "results", "flaky", "rejecting"} {
		if n := ready(t, queueOf(t, q, tr)); n != 0 {
			t.Errorf("queue of %s holds %d messages, want 0", tr, n)
		}
	}
}
