package tasks

import (
	"encoding/json"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
)

// The states of a Delivery.
const (
	deliveryPending      = "pending"
	deliveryRunning      = "running"
	deliveryRetrying     = "retrying"
	deliveryDelivered    = "delivered"
	deliveryDeadLettered = "deadlettered"
)

// kindDeadLetter marks a recorded event that was dead-lettered.
const kindDeadLetter = "deadletter"

func newTask(id string, e *event.Event, now time.Time) *Task {
	return &Task{
		ID:        id,
		Type:      e.Type(),
		Source:    e.Source(),
		EventID:   e.ID(),
		State:     Accepted,
		CreatedAt: now,
		UpdatedAt: now,
	}
}

// delivery returns t's delivery of event id to trigger, adding a pending
// one if there is none.
func (t *Task) delivery(eventID, trigger string, now time.Time) *Delivery {
	for i := range t.Deliveries {
		d := &t.Deliveries[i]
		if d.EventID == eventID && d.Trigger == trigger {
			return d
		}
	}
	t.Deliveries = append(t.Deliveries, Delivery{
		EventID: eventID, Trigger: trigger, State: deliveryPending, UpdatedAt: now,
	})
	return &t.Deliveries[len(t.Deliveries)-1]
}

// derive sets the task's state, attempts and reason from its deliveries and
// replies. A failure (a dead letter or a failure reply) decides the state;
// otherwise the least advanced delivery does.
func (t *Task) derive(now time.Time) {
	// Reports from several processes need not come in the order of their
	// times: the task's updatedAt never goes back.
	if now.After(t.UpdatedAt) {
		t.UpdatedAt = now
	}
	t.Attempts = 0
	var retrying, running, pending, delivered, dead *Delivery
	for i := range t.Deliveries {
		d := &t.Deliveries[i]
		t.Attempts += d.Attempts
		switch d.State {
		case deliveryRetrying:
			retrying = d
		case deliveryRunning:
			running = d
		case deliveryPending:
			pending = d
		case deliveryDelivered:
			delivered = d
		case deliveryDeadLettered:
			dead = d
		}
	}

	t.Reason, t.Code = "", 0
	switch {
	case t.failure != "":
		t.State, t.Reason = Failed, t.failure
	case dead != nil:
		t.State, t.Reason, t.Code = Failed, dead.Reason, dead.Code
	case retrying != nil:
		t.State, t.Reason, t.Code = Retrying, retrying.Reason, retrying.Code
	case running != nil:
		t.State = Running
	case pending != nil && delivered != nil:
		t.State = Running // a reply is on its way to the next subscriber
	case pending != nil, len(t.Deliveries) == 0:
		t.State = Accepted
		if len(t.Deliveries) == 0 {
			t.Reason = "no Trigger matched the event"
		}
	default:
		t.State = Succeeded
	}

	if t.State.Finished() {
		if t.FinishedAt == nil {
			t.FinishedAt = &now
		}
	} else {
		t.FinishedAt = nil
	}
}

// failureReason reports whether e is a failure reply (type ending in
// FailedSuffix) and its reason: the problem's detail, else its title, else
// the data as text.
func failureReason(e *event.Event) (string, bool) {
	if !strings.HasSuffix(e.Type(), FailedSuffix) {
		return "", false
	}
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(e.Data(), &p) == nil {
		if p.Detail != "" {
			return p.Detail, true
		}
		if p.Title != "" {
			return p.Title, true
		}
	}
	if text := strings.TrimSpace(string(e.Data())); text != "" &&
		utf8.ValidString(text) {
		return text, true
	}
	return e.Type(), true
}

// newEvent records e: its attributes, and its data inline when small and
// textual.
func newEvent(kind string, e *event.Event, now time.Time) (Event, error) {
	rec := Event{Kind: kind, DataSize: len(e.Data()), RecordedAt: now}
	attrs, err := eventAttributes(e)
	if err != nil {
		return rec, err
	}
	rec.Attributes = attrs
	rec.Data = inlineData(e)
	return rec, nil
}

// inlineData is e's data as Event.Data shows it, always valid compact JSON
// or nil: JSON (by its content type, or without one when it parses)
// compacted; text (text/*, XML, and data typed JSON that does not parse)
// as a JSON string; nil for no data, data over InlineDataMax and binary
// data.
func inlineData(e *event.Event) json.RawMessage {
	data := e.Data()
	if len(data) == 0 || len(data) > InlineDataMax || !utf8.Valid(data) {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(e.DataContentType())
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if compact, ok := compactJSON(data); ok {
			return compact
		}
	case mt == "":
		compact, _ := compactJSON(data)
		return compact
	case strings.HasPrefix(mt, "text/") || mt == "application/xml" ||
		strings.HasSuffix(mt, "+xml"):
	default:
		return nil
	}
	s, _ := json.Marshal(string(data))
	return s
}
