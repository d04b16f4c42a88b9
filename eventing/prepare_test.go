package eventing_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
)

// memQueue is a Queue that keeps the events Put stores in memory, or fails
// every Put with err. It makes no deliveries.
type memQueue struct {
	mu     sync.Mutex
	stored map[string]*event.Event
	err    error
}

func (q *memQueue) Put(_ context.Context, e *event.Event, _ []string) (
	*event.Event, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return nil, q.err
	}
	if first, ok := q.stored[eventing.EventKey(e)]; ok {
		return first, nil
	}
	q.stored[eventing.EventKey(e)] = e
	return nil, nil
}

func (q *memQueue) Claim(time.Time, int) ([]eventing.Delivery, time.Time) {
	return nil, time.Time{}
}
func (q *memQueue) Done(context.Context, eventing.Delivery, *event.Event,
	[]string) error {
	return nil
}
func (q *memQueue) Retry(context.Context, eventing.Delivery, time.Time) error {
	return nil
}
func (q *memQueue) Bury(context.Context, eventing.Delivery, string) error {
	return nil
}
func (q *memQueue) Wake() <-chan struct{} { return nil }

// preparer is a RoutedPreparer that notes what it is asked to prepare,
// record and report, and fails records with err.
type preparer struct {
	mu       sync.Mutex
	prepared []string // event ids
	recorded []string
	routed   []string
	err      error
}

func (p *preparer) PrepareRouted(kind eventing.EventKind, e *event.Event,
	triggers []string) func(context.Context) error {
	p.mu.Lock()
	p.prepared = append(p.prepared, string(kind)+" "+e.ID())
	p.mu.Unlock()
	return func(context.Context) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.recorded = append(p.recorded, string(kind)+" "+e.ID())
		return p.err
	}
}

func (p *preparer) Routed(_ context.Context, kind eventing.EventKind,
	e *event.Event, _ []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routed = append(p.routed, string(kind)+" "+e.ID())
	return p.err
}

func (p *preparer) Attempted(context.Context, eventing.Attempt) error {
	return nil
}

func (p *preparer) calls() (prepared, recorded, routed []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prepared, p.recorded, p.routed
}

func preparingBroker(t *testing.T, q eventing.Queue,
	obs eventing.Observer) *eventing.Broker {
	t.Helper()
	b, err := eventing.NewBroker(eventing.Params{Name: "default",
		Namespace: namespace, Queue: q, Observer: obs,
		Resolver: &resolver{},
		Triggers: []*eventingv1.Trigger{trigger("fn", "fn.fn", nil)},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A new event's report is prepared and then recorded; a duplicate's is
// prepared, dropped, and the first event reported again instead.
func TestPublishRecordsThePreparedReportOfANewEvent(t *testing.T) {
	q := &memQueue{stored: map[string]*event.Event{}}
	obs := &preparer{}
	b := preparingBroker(t, q, obs)
	ctx := context.Background()

	r, err := b.Publish(ctx, newEvent("/s", "1", "job", nil))
	if err != nil || r.Duplicate {
		t.Fatalf("first Publish: %+v, %v", r, err)
	}
	prepared, recorded, routed := obs.calls()
	if len(prepared) != 1 || len(recorded) != 1 || len(routed) != 0 ||
		recorded[0] != "accepted 1" {
		t.Fatalf("after a new event: prepared %v, recorded %v, routed %v",
			prepared, recorded, routed)
	}

	r, err = b.Publish(ctx, newEvent("/s", "1", "job", nil))
	if err != nil || !r.Duplicate {
		t.Fatalf("second Publish: %+v, %v", r, err)
	}
	_, recorded, routed = obs.calls()
	if len(recorded) != 1 || len(routed) != 1 || routed[0] != "accepted 1" {
		t.Fatalf("after a duplicate: recorded %v, routed %v", recorded, routed)
	}
}

// An event the Queue did not store is not recorded; a report the Observer
// did not take is no 202: ErrTaskNotRecorded.
func TestPublishRecordsNothingTheQueueDidNotStore(t *testing.T) {
	q := &memQueue{stored: map[string]*event.Event{},
		err: errors.New("queue down")}
	obs := &preparer{}
	b := preparingBroker(t, q, obs)
	ctx := context.Background()

	_, err := b.Publish(ctx, newEvent("/s", "1", "job", nil))
	if !errors.Is(err, eventing.ErrBrokerUnavailable) ||
		errors.Is(err, eventing.ErrTaskNotRecorded) {
		t.Fatalf("Publish to a failing queue: %v", err)
	}
	if _, recorded, routed := obs.calls(); len(recorded)+len(routed) != 0 {
		t.Fatalf("failed Publish recorded %v, reported %v", recorded, routed)
	}

	q.err, obs.err = nil, errors.New("store down")
	_, err = b.Publish(ctx, newEvent("/s", "2", "job", nil))
	if !errors.Is(err, eventing.ErrTaskNotRecorded) {
		t.Fatalf("Publish with a failing store: %v, want ErrTaskNotRecorded",
			err)
	}
}
