package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// finishWaitMax bounds how long a test waits for a notification that
// should come at once.
const finishWaitMax = 5 * time.Second

func wantClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(finishWaitMax):
		t.Fatalf("%s: no notification within %v", what, finishWaitMax)
	}
}

func wantOpen(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: notified, want no notification", what)
	default:
	}
}

func TestDiskStoreWakesWaitersWhenTaskFinishes(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	finished, stop := f.store.WaitFinished(id)
	defer stop()
	other, stopOther := f.store.WaitFinished("another-task")
	defer stopOther()

	f.routed(eventing.KindAccepted, in, "invoice")
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	wantOpen(t, finished, "accepted, then running")
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered)
	wantClosed(t, finished, "delivered")
	wantOpen(t, other, "another task's wait")
}

func TestRedisStoreWakesWaitersOfAnyProcess(t *testing.T) {
	writer := redisTestStore(t, RedisOptions{})
	// The reader is another process's store: it sees the task finish only
	// through Redis.
	reader := redisTestStore(t, RedisOptions{Prefix: writer.prefix})
	elsewhere := redisTestStore(t, RedisOptions{}) // another prefix
	ctx := context.Background()
	in := redisTestAccepted("wake-1", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)

	finished, stop := reader.WaitFinished(id)
	defer stop()
	mine, stopMine := writer.WaitFinished(id)
	defer stopMine()
	unrelated, stopUnrelated := elsewhere.WaitFinished(id)
	defer stopUnrelated()

	redisTestMust(t, writer.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	wantOpen(t, finished, "accepted")
	redisTestMust(t, writer.Attempted(ctx, eventing.Attempt{Event: in,
		Trigger: "t", Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200}))
	wantClosed(t, mine, "the writer's own wait")
	wantClosed(t, finished, "the other store's wait")
	time.Sleep(100 * time.Millisecond)
	wantOpen(t, unrelated, "a store with another prefix")
}

func TestStoppedWaitIsForgotten(t *testing.T) {
	var w finishWaiters
	_, stop := w.wait("a")
	stop()
	stop() // twice is harmless
	w.mu.Lock()
	left := len(w.byID["a"])
	w.mu.Unlock()
	if left != 0 {
		t.Error("a stopped wait is still registered")
	}
	ch, stop := w.wait("a")
	defer stop()
	w.wake("a")
	wantClosed(t, ch, "wake after a stopped wait")
}
