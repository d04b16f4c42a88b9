package tasks

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
)

// outcomeTestStep is one report: a Routed one when attempt is nil,
// else an Attempted one, which the script is expected to take or not.
type outcomeTestStep struct {
	name    string
	route   func(ctx context.Context, o eventing.Observer) error
	attempt *eventing.Attempt
	// byScript says outcomeScript takes the attempt (a delivered
	// outcome in the plain case); else it answers the task as it is.
	byScript bool
}

// A delivered outcome applied by outcomeScript, in Redis, gives the task
// that applying it in Go gives (DiskStore, the reference), and the
// script takes only the plain case: a repeated report, whose duplicate
// the Go path absorbs, and a delivery the task does not have, go to Go.
func TestOutcomeScriptMatchesGo(t *testing.T) {
	rs := redisTestStore(t, RedisOptions{})
	// A second client, which did not write the tasks: it has no copy of
	// them, as a dispatcher has none of what an ingress wrote.
	dispatcher := redisTestStore(t, RedisOptions{Prefix: rs.prefix})
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ferry.db"), 0o600, nil)
	redisTestMust(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ds, err := NewDiskStore(db)
	redisTestMust(t, err)
	rs.now, ds.now = newRedisTestClock().now, newRedisTestClock().now

	in := redisTestAccepted("script-1", "dev.ferry.thumbnail", "image/png",
		redisTestPNG(t))
	r1 := redisTestReply(in, "script-1-r1", "dev.ferry.stage",
		"application/json", []byte(`{"stage": 1, "big": 12345678901234567890}`))
	bad := redisTestAccepted("script-2", "dev.ferry.csvstats", "text/csv",
		[]byte("a,b\n1"))
	badReply := redisTestReply(bad, "script-2-r", "dev.ferry.csvstats.failed",
		"application/problem+json", []byte(`{"detail":"not CSV"}`))

	at := time.Date(2026, 7, 1, 12, 30, 0, 123456000, time.UTC)
	attempt := func(e *event.Event, trig string, n int, o eventing.Outcome,
		code int, when time.Time) *eventing.Attempt {
		return &eventing.Attempt{Event: e, Trigger: trig, Number: n,
			Outcome: o, Code: code, At: when,
			Subscriber: "http://127.0.0.1:9/" + trig}
	}
	route := func(kind eventing.EventKind, e *event.Event,
		triggers ...string) func(context.Context, eventing.Observer) error {
		return func(ctx context.Context, o eventing.Observer) error {
			return o.Routed(ctx, kind, e, triggers)
		}
	}
	delivered := eventing.OutcomeDelivered
	withReply := attempt(in, "a", 1, delivered, 200, at.Add(time.Second))
	withReply.Reply, withReply.ReplyTriggers = r1, []string{"c"}
	cut := attempt(in, "b", 1, delivered, 202, at.Add(3*time.Second))
	cut.StartUnreported = true
	failing := attempt(bad, "csv", 1, delivered, 200, at.Add(5*time.Second))
	failing.Reply = badReply

	steps := []outcomeTestStep{
		{name: "accept", route: route(eventing.KindAccepted, in, "a", "b")},
		{name: "deliver a with a reply", attempt: withReply, byScript: true},
		{name: "deliver a again", attempt: withReply},
		{name: "start b", attempt: attempt(in, "b", 1,
			eventing.OutcomeStarted, 0, at.Add(2*time.Second))},
		// Its start reported, then a later attempt's outcome without
		// its start: the attempt cut short between them counts too.
		{name: "deliver b, start unreported", attempt: cut, byScript: true},
		// Earlier than the task's last update, which stays.
		{name: "deliver c, late clock", attempt: attempt(r1, "c", 1,
			delivered, 0, at), byScript: true},
		{name: "deliver d, unknown", attempt: attempt(in, "d", 1, delivered,
			200, at.Add(4*time.Second))},
		{name: "accept bad", route: route(eventing.KindAccepted, bad, "csv")},
		{name: "deliver bad with a failure reply", attempt: failing,
			byScript: true},
	}

	ctx := context.Background()
	ids := []string{eventing.TaskID(in), eventing.TaskID(bad)}
	for _, step := range steps {
		switch {
		case step.route != nil:
			redisTestMust(t, step.route(ctx, ds))
			redisTestMust(t, step.route(ctx, rs))
		case step.attempt.Outcome != delivered: // not the script's
			redisTestMust(t, ds.Attempted(ctx, *step.attempt))
			redisTestMust(t, dispatcher.Attempted(ctx, *step.attempt))
		default:
			a := *step.attempt
			redisTestMust(t, ds.Attempted(ctx, a))
			id := eventing.TaskID(a.Event)
			k := dispatcher.keys(id)
			before, err := dispatcher.client.Get(ctx, k.task).Bytes()
			redisTestMust(t, err)
			reply, err := replyJSON(a)
			redisTestMust(t, err)
			r, err := dispatcher.applyDelivered(ctx, k, a, reply, a.At)
			redisTestMust(t, err)
			if r.written != step.byScript {
				t.Fatalf("%s: written by the script %v, want %v", step.name,
					r.written, step.byScript)
			}
			if !r.written {
				if !bytes.Equal(r.current, before) {
					t.Fatalf("%s: script answered %q, the task is %q",
						step.name, r.current, before)
				}
				redisTestMust(t, dispatcher.Attempted(ctx, a))
			}
		}
		for _, id := range ids {
			dTask, dResult := redisTestSnapshot(t, ds, id)
			rTask, rResult := redisTestSnapshot(t, rs, id)
			if rTask != dTask {
				t.Fatalf("after %q, task %s:\nredis %s\ndisk  %s",
					step.name, id, rTask, dTask)
			}
			if rResult != dResult {
				t.Fatalf("after %q, result of %s:\nredis %.300s\ndisk  %.300s",
					step.name, id, rResult, dResult)
			}
		}
	}

	// The sequence reached the states it is meant to, so the comparison
	// above compared something.
	task := redisTestGet(t, rs, ids[0])
	if task.State != Succeeded || task.Attempts != 5 ||
		task.Deliveries[1].Attempts != 2 || task.ResultEventID != r1.ID() ||
		task.FinishedAt == nil {
		t.Errorf("task 1: %+v", task)
	}
	if task := redisTestGet(t, rs, ids[1]); task.State != Failed ||
		task.Reason != "not CSV" || task.FinishedAt == nil {
		t.Errorf("task 2: %+v", task)
	}
}

// A delivered outcome that finishes its task wakes the long polls of any
// client, as one applied in Go does.
func TestOutcomeScriptWakesWaiters(t *testing.T) {
	ingress := redisTestStore(t, RedisOptions{})
	dispatcher := redisTestStore(t, RedisOptions{Prefix: ingress.prefix})
	ctx := context.Background()
	in := redisTestAccepted("script-wake", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)
	redisTestMust(t, ingress.Routed(ctx, eventing.KindAccepted, in,
		[]string{"t"}))

	finished, stop := ingress.WaitFinished(id)
	defer stop()
	here, stopHere := dispatcher.WaitFinished(id)
	defer stopHere()
	redisTestMust(t, dispatcher.Attempted(ctx, eventing.Attempt{Event: in,
		Trigger: "t", Number: 1, Outcome: eventing.OutcomeDelivered,
		Code: 200}))
	for _, ch := range []<-chan struct{}{here, finished} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up for the finished task")
		}
	}
	if task := redisTestGet(t, ingress, id); task.State != Succeeded {
		t.Fatalf("task: %+v", task)
	}
}

// commandLog records the names of the commands a client sends.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.mu.Lock()
		l.names = append(l.names, cmd.Name())
		l.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(
	next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.mu.Lock()
		for _, cmd := range cmds {
			l.names = append(l.names, cmd.Name())
		}
		l.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := l.names
	l.names = nil
	return names
}

// A dispatcher that did not write the task records a delivered outcome,
// reply included, with one command: no read of the task first.
func TestDeliveredOutcomeIsOneCommand(t *testing.T) {
	ingress := redisTestStore(t, RedisOptions{})
	dispatcher := redisTestStore(t, RedisOptions{Prefix: ingress.prefix})
	var log commandLog
	dispatcher.client.AddHook(&log)
	ctx := context.Background()

	for i, withReply := range []bool{false, true} {
		in := redisTestAccepted(fmt.Sprint("one-", i), "dev.ferry.test",
			"text/plain", []byte("hi"))
		redisTestMust(t, ingress.Routed(ctx, eventing.KindAccepted, in,
			[]string{"t"}))
		a := eventing.Attempt{Event: in, Trigger: "t", Number: 1,
			Outcome: eventing.OutcomeDelivered, Code: 200}
		if withReply {
			a.Reply = redisTestReply(in, fmt.Sprint("one-", i, "-r"),
				"dev.ferry.done", "application/json", []byte(`{"ok":1}`))
		}
		log.take()
		redisTestMust(t, dispatcher.Attempted(ctx, a))
		// The first run loads the script: EVALSHA, then EVAL.
		if got := log.take(); len(got) == 0 || got[0] != "evalsha" ||
			(i > 0 && len(got) != 1) {
			t.Errorf("reply %v: commands %q, want [evalsha]", withReply, got)
		}
		task := redisTestGet(t, ingress, eventing.TaskID(in))
		if task.State != Succeeded || task.Attempts != 1 ||
			(withReply && task.ResultEventID != a.Reply.ID()) {
			t.Errorf("reply %v: task %+v", withReply, task)
		}
	}
}
