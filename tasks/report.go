package tasks

import (
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/ferryfn/ferry/eventing"
)

// change is what applying one Observer report adds beside the task's own
// record, for the store to keep in the same transaction: whole events for
// Result, and the pointer to the task's result.
//
// Both stores apply a report the same way, through applyRouted and
// applyAttempt on a task loaded from their records, so that one sequence
// of reports gives one Task, whichever store holds it.
type change struct {
	// kept are the whole events to keep, each by its event key.
	kept []keptEvent
	// result, when not empty, is the event key of the task's new result.
	result string
}

// keptEvent is one whole event (the CloudEvents JSON format, data
// included) under its event key, eventing.EventKey.
type keptEvent struct {
	key string
	raw []byte
}

// applyRouted applies a Routed report to t: it records e (raw is its whole
// JSON) unless t has it already, adds a pending delivery per Trigger, and
// makes a reply t's result; a failure reply fails t.
func applyRouted(t *Task, kind eventing.EventKind, e *event.Event,
	triggers []string, raw []byte, now time.Time) (change, error) {
	var c change
	added, err := t.record(string(kind), e, now)
	if err != nil {
		return c, err
	}
	if kind == eventing.KindAccepted && added {
		t.acceptedFirst(e, now)
	}
	if added {
		c.kept = append(c.kept, keptEvent{key: eventing.EventKey(e), raw: raw})
	}
	for _, trig := range triggers {
		t.delivery(e.ID(), trig, now)
	}
	if kind == eventing.KindReply {
		t.ResultEventID = e.ID()
		c.result = eventing.EventKey(e)
		if reason, failed := failureReason(e); failed {
			t.failure = reason
		}
	}
	return c, nil
}

// applyOutcome applies an Attempted report to t: the reply it carries,
// if any, as a Routed report of it (replyRaw is its whole JSON), then the
// attempt itself, so that the task shows the reply and the delivery's
// end together.
func applyOutcome(t *Task, a eventing.Attempt, replyRaw []byte,
	now time.Time) (change, error) {
	var c change
	if a.Reply != nil {
		var err error
		c, err = applyRouted(t, eventing.KindReply, a.Reply, a.ReplyTriggers,
			replyRaw, now)
		if err != nil {
			return c, err
		}
	}
	if _, err := applyAttempt(t, a, now); err != nil {
		return c, err
	}
	return c, nil
}

// replyJSON is the whole JSON of an attempt's reply, nil without one.
func replyJSON(a eventing.Attempt) ([]byte, error) {
	if a.Reply == nil {
		return nil, nil
	}
	raw, err := a.Reply.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode reply %s: %w", a.Reply.ID(), err)
	}
	return raw, nil
}

// applyAttempt applies an Attempted report to t's delivery of a.Event to
// a.Trigger. A delivered or dead-lettered delivery keeps its outcome: a
// report after it is a repeat after a crash.
func applyAttempt(t *Task, a eventing.Attempt, now time.Time) (change, error) {
	d := t.delivery(a.Event.ID(), a.Trigger, now)
	if a.Subscriber != "" {
		d.Subscriber = a.Subscriber
	}
	if d.State == deliveryDelivered || d.State == deliveryDeadLettered {
		return change{}, nil // a repeat after a crash; the outcome stands
	}
	d.UpdatedAt = now
	prior := d.Attempts
	d.Attempts = max(d.Attempts, a.Number)
	if d.State == deliveryRunning && a.Outcome != eventing.OutcomeStarted &&
		a.StartUnreported {
		// An attempt before this one was cut short (a crash or a
		// restart) after its start was reported: count both.
		d.Attempts = max(prior+1, a.Number)
	}
	d.NextAttempt = nil
	switch a.Outcome {
	case eventing.OutcomeStarted:
		if d.State == deliveryRunning {
			// The attempt before was cut short (a crash or a
			// restart) and this one is made again: count both.
			d.Attempts = max(prior+1, a.Number)
		}
		d.State = deliveryRunning
	case eventing.OutcomeRetrying:
		d.State, d.Code, d.Reason = deliveryRetrying, a.Code, a.Reason
		next := a.NextAttempt
		d.NextAttempt = &next
	case eventing.OutcomeDelivered:
		d.State, d.Code, d.Reason = deliveryDelivered, a.Code, ""
	case eventing.OutcomeDeadLettered:
		d.State, d.Code, d.Reason = deliveryDeadLettered, a.Code, a.Reason
		_, err := t.record(kindDeadLetter, a.Event, now)
		return change{}, err
	}
	return change{}, nil
}

// acceptedFirst makes the accepted event e, just recorded last, the task's
// first event, and the task its task. A fast delivery's outcome can be
// reported (and create the task) before the ingress's report of the event
// it delivered; the task must still read as accepted first, created when
// the event was accepted.
func (t *Task) acceptedFirst(e *event.Event, now time.Time) {
	last := len(t.Events) - 1
	if last > 0 {
		rec := t.Events[last]
		copy(t.Events[1:], t.Events[:last])
		t.Events[0] = rec
	}
	t.Type, t.Source, t.EventID = e.Type(), e.Source(), e.ID()
	if now.Before(t.CreatedAt) {
		t.CreatedAt = now
	}
}

// record appends e to t's events as kind unless it is there already, and
// reports whether it did.
func (t *Task) record(kind string, e *event.Event, now time.Time) (bool, error) {
	for _, have := range t.Events {
		if have.Kind == kind && have.Attributes["id"] == e.ID() &&
			have.Attributes["source"] == e.Source() {
			return false, nil
		}
	}
	rec, err := newEvent(kind, e, now)
	if err != nil {
		return false, err
	}
	t.Events = append(t.Events, rec)
	return true, nil
}
