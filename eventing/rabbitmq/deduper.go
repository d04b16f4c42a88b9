package rabbitmq

import (
	"context"
	"math/rand/v2"
	"strconv"
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
// claim, and so does a Claim whose answer was lost (the store may hold it
// or not); a claim left by a process that died expires after ClaimTTL.
type Deduper interface {
	// Claim reserves key for taskID, as the attempt token (see claim),
	// until expires at the latest: also a claim command that reaches the
	// store late (held up in the client or the network) holds the key no
	// longer than that. When the key was claimed or stored before, dup is
	// set and first names that task; pending says the other claim's
	// publish is still under way. A claim of the same token (a retried
	// command whose first try landed) is not a duplicate.
	Claim(ctx context.Context, key, taskID, token string,
		expires time.Time) (first string, dup, pending bool, err error)
	// Stored records that the event with key, of task taskID, is now held
	// by RabbitMQ.
	Stored(ctx context.Context, key, taskID string) error
	// Release drops the claim of key for taskID made as token, if the key
	// still holds it: never another attempt's claim of the same event.
	Release(ctx context.Context, key, taskID, token string) error
}

// claim is one attempt's hold on an event while Put publishes it. key is
// the event's eventing.EventKey and task its task; two attempts at the
// same event (a producer's reposts, on any ingress) share both, so token,
// made anew for each attempt, tells them apart. An attempt that cannot
// tell whether its claim reached the store can then release it without
// dropping the claim of another attempt that is publishing.
type claim struct {
	key, task, token string
	// expires is when the claim ends at the latest, should it stay: set
	// for each Claim call, ClaimTTL after it.
	expires time.Time
}

// newClaim is a claim of key for task with a fresh token.
func newClaim(key, task string) claim {
	return claim{key: key, task: task,
		token: strconv.FormatUint(rand.Uint64(), 36)}
}

// ClaimTTL is how long a Deduper keeps a claim that was neither stored
// nor released: longer than any publish may take.
const ClaimTTL = 30 * time.Second

// claimPollMin and claimPollMax bound the pause before Put looks again
// at another publish's claim: short at first (a publish takes about a
// millisecond), longer for a claim that stays (its publish hung, or its
// process died).
const (
	claimPollMin = 10 * time.Millisecond
	claimPollMax = 250 * time.Millisecond
)
