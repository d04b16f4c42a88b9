package tasks

import (
	"context"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Reader is the read side of a task store, what the ingress serves from.
type Reader interface {
	// Get returns the task with the given id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Task, error)
	// Result returns the task's result event, whole (data included). It
	// returns ErrNotFound for an unknown task and ErrNoResult while the task
	// has no reply yet.
	Result(ctx context.Context, id string) (*event.Event, error)
}

// Finished reports whether a task in state s will not change any more
// unless a new event of the task arrives.
func (s State) Finished() bool { return s == Succeeded || s == Failed }

// Settled reports whether nothing more will happen to t unless a new event
// of it arrives: it is finished, or no Trigger matched its event (it stays
// accepted, with no delivery).
func (t *Task) Settled() bool {
	return t.State.Finished() || t.State == Accepted && len(t.Deliveries) == 0
}
