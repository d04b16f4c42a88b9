package eventing_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/ferryfn/ferry/eventing"
)

// sinkObserver is an Observer that keeps the Routed calls.
type sinkObserver struct {
	mu     sync.Mutex
	routed []sinkRouted
}

type sinkRouted struct {
	kind     eventing.EventKind
	id       string
	triggers []string
}

func (o *sinkObserver) Routed(_ context.Context, k eventing.EventKind,
	e *event.Event, triggers []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routed = append(o.routed, sinkRouted{k, e.ID(), triggers})
	return nil
}

func (o *sinkObserver) Attempted(context.Context, eventing.Attempt) error {
	return nil
}

func sinkEvent(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/test/sink")
	e.SetType("dev.ferry.test")
	_ = e.SetData("text/plain", "hello")
	return &e
}

func TestSinkPostsBinaryModeAndRecordsAcceptedEvent(t *testing.T) {
	var got http.Header
	var body string
	broker := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			got = r.Header.Clone()
			b, _ := io.ReadAll(r.Body)
			body = string(b)
			w.WriteHeader(http.StatusAccepted)
		}))
	defer broker.Close()

	obs := &sinkObserver{}
	s, err := eventing.NewSink(eventing.SinkParams{URL: broker.URL,
		Broker: "orders", Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	e := sinkEvent("sink-1")
	r, err := s.Publish(context.Background(), e)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}

	if want := eventing.TaskID(e); r.TaskID != want || r.Duplicate {
		t.Errorf("receipt = %+v, want task %s, not duplicate", r, want)
	}
	checks := map[string]string{
		"Ce-Id":               "sink-1",
		"Ce-Source":           "/test/sink",
		"Ce-Type":             "dev.ferry.test",
		"Ce-Correlationid":    r.TaskID,
		"Ce-Knativebrokerttl": "255",
		"Content-Type":        "text/plain",
	}
	for h, want := range checks {
		if v := got.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	if body != "hello" {
		t.Errorf("body = %q, want hello", body)
	}
	if len(obs.routed) != 1 || obs.routed[0].kind != eventing.KindAccepted ||
		len(obs.routed[0].triggers) != 1 || obs.routed[0].triggers[0] != "orders" {
		t.Errorf("routed = %+v, want one accepted event to [orders]", obs.routed)
	}
}

func TestSinkMapsBrokerAnswersToNamedErrors(t *testing.T) {
	cases := []struct {
		code int
		want error
	}{
		{http.StatusInternalServerError, eventing.ErrBrokerUnavailable},
		{http.StatusServiceUnavailable, eventing.ErrBrokerUnavailable},
		{http.StatusNotFound, eventing.ErrBrokerUnavailable},
		{http.StatusTooManyRequests, eventing.ErrBrokerUnavailable},
		{http.StatusBadRequest, eventing.ErrBrokerRejected},
		{http.StatusRequestEntityTooLarge, eventing.ErrBrokerRejected},
	}
	for _, c := range cases {
		broker := httptest.NewServer(http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no", c.code)
			}))
		obs := &sinkObserver{}
		s, err := eventing.NewSink(eventing.SinkParams{URL: broker.URL,
			Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Publish(context.Background(), sinkEvent("e"))
		broker.Close()
		if !errors.Is(err, c.want) {
			t.Errorf("HTTP %d: err = %v, want %v", c.code, err, c.want)
		}
		if len(obs.routed) != 0 {
			t.Errorf("HTTP %d: recorded %+v; nothing was accepted", c.code,
				obs.routed)
		}
	}
}

func TestSinkUnreachableBrokerIsUnavailable(t *testing.T) {
	broker := httptest.NewServer(http.NotFoundHandler())
	url := broker.URL
	broker.Close() // nothing listens there any more

	s, err := eventing.NewSink(eventing.SinkParams{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Publish(context.Background(), sinkEvent("e"))
	if !errors.Is(err, eventing.ErrBrokerUnavailable) {
		t.Fatalf("err = %v, want ErrBrokerUnavailable", err)
	}
}

func TestSinkDoesNotRepostASeenEvent(t *testing.T) {
	posts := 0
	broker := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			posts++
			w.WriteHeader(http.StatusAccepted)
		}))
	defer broker.Close()

	s, err := eventing.NewSink(eventing.SinkParams{URL: broker.URL,
		Seen: func(_ context.Context, e *event.Event) (bool, error) {
			return e.ID() == "old", nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Publish(context.Background(), sinkEvent("old"))
	if err != nil || !r.Duplicate {
		t.Fatalf("seen event: receipt %+v, err %v; want duplicate", r, err)
	}
	if r, err := s.Publish(context.Background(), sinkEvent("new")); err != nil ||
		r.Duplicate {
		t.Fatalf("new event: receipt %+v, err %v; want accepted", r, err)
	}
	if posts != 1 {
		t.Errorf("posts = %d, want 1 (the new event only)", posts)
	}
}

func TestNewSinkRefusesARelativeURL(t *testing.T) {
	for _, u := range []string{"", "broker", "ftp://x/", "http://"} {
		if _, err := eventing.NewSink(eventing.SinkParams{URL: u}); err == nil {
			t.Errorf("NewSink(%q) = nil error", u)
		}
	}
}
