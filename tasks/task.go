// Package tasks is Ferry's task store. A task is an accepted event; the store
// records it and every event that follows from it (replies and dead letters,
// grouped by the CloudEvents correlationid extension), and the state of each
// delivery, so that a producer can read the task's state and result by id.
//
// The store learns what happens from the Broker as an eventing.Observer. It
// applies every report idempotently: delivery is at least once, so a report
// may come twice, and a report about a task it has not seen creates it.
package tasks

import (
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned for an id the store has no task for.
var ErrNotFound = errors.New("task not found")

// ErrNoResult is returned by Result while a task has no result event yet.
var ErrNoResult = errors.New("task has no result yet")

// State is where a task stands.
type State string

// The states of a task, in the order a task usually passes through them.
const (
	// Accepted: stored by the Broker, no delivery attempted yet.
	Accepted State = "accepted"
	// Running: a delivery of one of its events is in progress.
	Running State = "running"
	// Retrying: a delivery failed and another attempt is scheduled.
	Retrying State = "retrying"
	// Succeeded: every delivery ended with a 2xx and no subscriber
	// reported a failure.
	Succeeded State = "succeeded"
	// Failed: an event was dead-lettered, or a subscriber replied with a
	// failure event (a type ending in FailedSuffix).
	Failed State = "failed"
)

// FailedSuffix marks a reply as a failure: a function that gets input it can
// never process answers 2xx with an event of type "<input type>.failed" and
// an application/problem+json body, instead of a 4xx that Knative's RabbitMQ
// broker would drop without dead-lettering.
const FailedSuffix = ".failed"

// Task is what GET /v1/tasks/{id} shows.
type Task struct {
	// ID is the task's id, the correlationid of all its events.
	ID string `json:"id"`
	// Type and Source are those of the accepted event.
	Type   string `json:"type"`
	Source string `json:"source"`
	// EventID is the id of the accepted event.
	EventID string `json:"eventId"`
	State   State  `json:"state"`
	// Attempts is the number of delivery attempts made so far, over all
	// deliveries of the task.
	Attempts int `json:"attempts"`
	// Reason says why the task failed or is retrying.
	Reason string `json:"reason,omitempty"`
	// Code is the HTTP status of the failed delivery, when there was one.
	Code       int        `json:"code,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Deliveries lists each (event, Trigger) delivery of the task.
	Deliveries []Delivery `json:"deliveries"`
	// Events are the task's events in the order they were recorded: the
	// accepted event first, then the follow-ups.
	Events []Event `json:"events"`
	// ResultEventID is the id of the event whose data is the task's result:
	// the latest reply.
	ResultEventID string `json:"resultEventId,omitempty"`

	// failure is the reason a subscriber's failure reply gave, kept by
	// the store to derive State.
	failure string
}

// Delivery is the state of delivering one event of the task to one Trigger's
// subscriber.
type Delivery struct {
	EventID    string `json:"eventId"`
	Trigger    string `json:"trigger"`
	Subscriber string `json:"subscriber,omitempty"`
	// State is one of pending, running, retrying, delivered, deadlettered.
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Code     int    `json:"code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// NextAttempt is when a retrying delivery is tried again.
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// Event is one recorded event of a task.
type Event struct {
	// Kind is "accepted", "reply" or "deadletter".
	Kind string `json:"kind"`
	// Attributes are the event's context attributes and extensions, as in
	// the CloudEvents JSON format (specversion, id, source, type, ...).
	Attributes map[string]any `json:"attributes"`
	// Data is the event's data when it is small (at most InlineDataMax
	// bytes) and textual: a JSON value as is, other text as a string.
	Data json.RawMessage `json:"data,omitempty"`
	// DataSize is the size of the event's data in bytes.
	DataSize   int       `json:"dataSize"`
	RecordedAt time.Time `json:"recordedAt"`
}

// InlineDataMax is the largest event data, in bytes, that a task's JSON
// shows inline. Larger or binary data is read with GET /v1/tasks/{id}/result.
const InlineDataMax = 8 << 10
