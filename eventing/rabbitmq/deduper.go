package rabbitmq

import (
	"context"
	"time"
)

// Deduper remembers which events were published, so that Put can answer a
// resubmitted event (same source and id) with its first task instead of
// publishing it again: RabbitMQ cannot tell a duplicate. The task stores
// implement it; keys are eventing.EventKey values.
//
// Put claims the key before it publishes, so that of two copies posted at
// the same instant (on two ingresses) only one is published; the other
// waits until the claim is Stored (then it is a duplicate) or Released
// (then it claims and publishes itself). A failed publish releases the
// claim; a claim left by a process that died expires after ClaimTTL.
type Deduper interface {
	// Claim reserves key for taskID. When key was claimed or stored
	// before, dup is set and first names that task; pending says the
	// other claim's publish is still under way.
	Claim(ctx context.Context, key, taskID string) (first string,
		dup, pending bool, err error)
	// Stored records that the event with key, of task taskID, is now held
	// by RabbitMQ.
	Stored(ctx context.Context, key, taskID string) error
	// Release drops taskID's claim on key after a failed publish.
	Release(ctx context.Context, key, taskID string) error
}

// ClaimTTL is how long a Deduper keeps a claim that was neither stored
// nor released: longer than any publish may take.
const ClaimTTL = 30 * time.Second

// claimPoll is how often Put looks again at another publish's claim.
const claimPoll = 10 * time.Millisecond
