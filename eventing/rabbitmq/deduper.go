package rabbitmq

import "context"

// Deduper remembers which events were published, so that Put can answer a
// resubmitted event (same source and id) with its first task instead of
// publishing it again: RabbitMQ cannot tell a duplicate. The task store on
// Redis implements it; keys are eventing.EventKey values.
//
// Put asks Seen before it publishes and calls Stored only after RabbitMQ
// confirmed the publish. A failed publish, or a crash in between, then
// leaves no mark, and the producer's retry is published; the price is that
// two copies posted at the same instant can both be published, which the
// task store absorbs by event id.
type Deduper interface {
	// Seen reports whether an event with key was stored before and, if so,
	// the id of the task it started.
	Seen(ctx context.Context, key string) (firstTaskID string, dup bool,
		err error)
	// Stored records that the event with key, which starts or belongs to
	// task taskID, is now held by RabbitMQ.
	Stored(ctx context.Context, key, taskID string) error
}
