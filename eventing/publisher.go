package eventing

import (
	"context"
	"errors"

	"github.com/cloudevents/sdk-go/v2/event"
)

// ErrBrokerUnavailable is returned by Publish when the broker cannot store
// the event right now (a disk or connection failure). Nothing was accepted
// unless the error also wraps ErrTaskNotRecorded; either way the producer
// should try again.
var ErrBrokerUnavailable = errors.New("broker unavailable")

// ErrTaskNotRecorded is returned by Publish, with ErrBrokerUnavailable,
// when the event was stored but its task store did not take the report:
// the producer gets no 202. Posting the same event again (same source
// and id) is recognised as a duplicate, which reports the task again.
var ErrTaskNotRecorded = errors.New("event stored, task not recorded")

// Publisher takes an event into a Broker.
type Publisher interface {
	// Publish stores e durably and returns the task it belongs to. It
	// returns only once the event will survive a crash. An event that was
	// published before (same source and id) is not stored again: the
	// receipt names the existing task and has Duplicate set.
	//
	// Publish may add extensions to e (correlationid, knativebrokerttl).
	Publish(ctx context.Context, e *event.Event) (Receipt, error)
}

// Receipt is the Broker's answer to Publish.
type Receipt struct {
	// TaskID is the id of the task the event belongs to: its correlationid.
	TaskID string
	// Duplicate is set when the event had been published before.
	Duplicate bool
}
