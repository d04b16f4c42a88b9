package tasks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// A prepared report, once recorded, leaves the task as Routed does; until
// then (and if never recorded) it leaves no trace.
func TestRedisStorePreparedRoutedMatchesRouted(t *testing.T) {
	fixed := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	plain := redisTestStore(t, RedisOptions{})
	prepared := redisTestStore(t, RedisOptions{})
	plain.now = func() time.Time { return fixed }
	prepared.now = plain.now
	ctx := context.Background()
	in := redisTestAccepted("prep-1", "dev.ferry.test", "application/json",
		[]byte(`{ "n": 1 }`))
	id := eventing.TaskID(in)
	triggers := []string{"a", "b"}

	record := prepared.PrepareRouted(eventing.KindAccepted, in, triggers)
	if _, err := prepared.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before the record: %v, want ErrNotFound", err)
	}
	redisTestMust(t, record(ctx))
	redisTestMust(t, plain.Routed(ctx, eventing.KindAccepted, in, triggers))

	want, wantResult := redisTestSnapshot(t, plain, id)
	got, gotResult := redisTestSnapshot(t, prepared, id)
	if got != want || gotResult != wantResult {
		t.Fatalf("prepared report:\n%s\nRouted:\n%s", got, want)
	}

	dropped := redisTestAccepted("prep-dropped", "dev.ferry.test", "", nil)
	_ = prepared.PrepareRouted(eventing.KindAccepted, dropped, triggers)
	if _, err := prepared.Get(ctx, eventing.TaskID(dropped)); !errors.Is(err,
		ErrNotFound) {
		t.Fatalf("Get of a report never recorded: %v, want ErrNotFound", err)
	}
}

// A report prepared before another update of the same task in this
// process is applied again to that update when recorded: neither is lost.
func TestRedisStorePreparedRoutedAfterAnotherUpdateKeepsBoth(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("prep-2", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)

	record := s.PrepareRouted(eventing.KindAccepted, in, []string{"a"})
	// The delivery ends before the accepted report is recorded, as when a
	// dispatcher in this process is quicker than the ingress.
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in,
		Trigger: "a", Number: 1, Outcome: eventing.OutcomeDelivered,
		Code: 200, At: time.Now()}))
	redisTestMust(t, record(ctx))

	task := redisTestGet(t, s, id)
	if task.State != Succeeded || len(task.Deliveries) != 1 ||
		task.Deliveries[0].Code != 200 || len(task.Events) != 1 {
		t.Fatalf("task: state %s, deliveries %+v, %d events", task.State,
			task.Deliveries, len(task.Events))
	}
}

// A prepared report whose record finds Redis gone fails, as Routed does.
func TestRedisStorePreparedRoutedFailsWithoutRedis(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	in := redisTestAccepted("prep-3", "dev.ferry.test", "", nil)
	record := s.PrepareRouted(eventing.KindAccepted, in, []string{"a"})
	redisTestMust(t, s.Close())
	if err := record(context.Background()); err == nil {
		t.Fatal("record after Close: no error")
	}
}
