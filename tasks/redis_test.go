package tasks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
)

// redisTestURL is the Redis the tests use: FERRY_REDIS_URL, else the one
// CI runs on loopback.
func redisTestURL() string {
	if u := os.Getenv("FERRY_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// redisTestPrefix is a key prefix no other test uses.
func redisTestPrefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return "ferrytest:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// redisTestStore opens a RedisStore on a prefix of its own (unless opts
// names one) and deletes the prefix's keys when the test ends. Without
// Redis it skips the test, except in CI (CI=true), where it fails it.
func redisTestStore(t testing.TB, opts RedisOptions) *RedisStore {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redisTestPrefix(t)
	}
	s, err := OpenRedis(context.Background(), redisTestURL(), opts)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is required in CI: %v", err)
		}
		t.Skipf("Redis unreachable (FERRY_REDIS_URL): %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		redisTestDeletePrefix(t, opts.Prefix)
	})
	return s
}

// redisTestDeletePrefix deletes every key that starts with prefix, through
// a client of its own, so that it works after the store was closed.
func redisTestDeletePrefix(t testing.TB, prefix string) {
	ropts, err := redis.ParseURL(redisTestURL())
	if err != nil {
		t.Errorf("clean up %s: %v", prefix, err)
		return
	}
	c := redis.NewClient(ropts)
	defer c.Close()
	ctx := context.Background()
	it := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for it.Next(ctx) {
		if err := c.Del(ctx, it.Val()).Err(); err != nil {
			t.Errorf("clean up %s: %v", it.Val(), err)
		}
	}
	if err := it.Err(); err != nil {
		t.Errorf("clean up %s: %v", prefix, err)
	}
}

// redisTestClock is a clock that moves 1 ms per reading, so that two
// stores read in the same order see the same times.
type redisTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func newRedisTestClock() *redisTestClock {
	return &redisTestClock{t: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *redisTestClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

var redisTestEpoch = time.Date(2026, 7, 1, 11, 0, 0, 0, time.UTC)

// redisTestAccepted is a producer's event as the Broker stores it, with
// its correlationid.
func redisTestAccepted(id, typ, contentType string, data []byte) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/tasks/redis_test")
	e.SetType(typ)
	e.SetTime(redisTestEpoch)
	if data != nil {
		_ = e.SetData(contentType, data)
	}
	e.SetExtension(eventing.ExtCorrelationID, eventing.TaskID(&e))
	e.SetExtension(eventing.ExtBrokerTTL, eventing.BrokerTTLDefault)
	return &e
}

// redisTestReply is a subscriber's reply to cause, linked as the Broker
// links it.
func redisTestReply(cause *event.Event, id, typ, contentType string,
	data []byte) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/functions/redis_test")
	e.SetType(typ)
	e.SetTime(redisTestEpoch.Add(time.Second))
	if data != nil {
		_ = e.SetData(contentType, data)
	}
	e.SetExtension(eventing.ExtCorrelationID, eventing.TaskID(cause))
	e.SetExtension(eventing.ExtCausationID, cause.ID())
	e.SetExtension(eventing.ExtBrokerTTL, eventing.BrokerTTLDefault-1)
	return &e
}

func redisTestGet(t *testing.T, s Reader, id string) *Task {
	t.Helper()
	task, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return task
}

func redisTestMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// redisTestPNG encodes a 96x96 picture of noise: a real PNG of about
// 28 KiB, over InlineDataMax, with bytes that are not UTF-8.
func redisTestPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 96, 96))
	r := mrand.New(mrand.NewPCG(1, 2))
	for y := range 96 {
		for x := range 96 {
			img.Set(x, y, color.NRGBA{uint8(r.UintN(256)), uint8(x),
				uint8(y), 255})
		}
	}
	var buf bytes.Buffer
	redisTestMust(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func TestRedisStoreTaskSucceedsWithResult(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("ok-1", "dev.ferry.test", "application/json",
		[]byte(`{ "n": 1 }`))
	id := eventing.TaskID(in)

	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in,
		[]string{"thumbnail"}))
	task := redisTestGet(t, s, id)
	if task.State != Accepted || len(task.Deliveries) != 1 ||
		task.Deliveries[0].State != deliveryPending {
		t.Fatalf("after Routed: state %s, deliveries %+v", task.State,
			task.Deliveries)
	}
	if task.EventID != "ok-1" || task.Type != "dev.ferry.test" ||
		len(task.Events) != 1 || string(task.Events[0].Data) != `{"n":1}` {
		t.Fatalf("after Routed: %+v", task)
	}
	if _, err := s.Result(ctx, id); !errors.Is(err, ErrNoResult) {
		t.Fatalf("Result before a reply: %v, want ErrNoResult", err)
	}

	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in,
		Trigger: "thumbnail", Subscriber: "http://127.0.0.1:9/", Number: 1,
		Outcome: eventing.OutcomeStarted, At: time.Now()}))
	task = redisTestGet(t, s, id)
	if task.State != Running || task.Attempts != 1 ||
		task.Deliveries[0].Subscriber != "http://127.0.0.1:9/" {
		t.Fatalf("after start: state %s, attempts %d, delivery %+v",
			task.State, task.Attempts, task.Deliveries[0])
	}

	reply := redisTestReply(in, "ok-1-reply", "dev.ferry.test.done",
		"text/plain", []byte("done"))
	redisTestMust(t, s.Routed(ctx, eventing.KindReply, reply, nil))
	if got := redisTestGet(t, s, id).State; got != Running {
		t.Fatalf("after the reply was routed: state %s, want running", got)
	}
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in,
		Trigger: "thumbnail", Number: 1, Outcome: eventing.OutcomeDelivered,
		Code: 200, Reply: reply, At: time.Now()}))

	task = redisTestGet(t, s, id)
	if task.State != Succeeded || task.FinishedAt == nil ||
		task.ResultEventID != "ok-1-reply" || len(task.Events) != 2 ||
		task.Events[1].Kind != "reply" || task.Deliveries[0].Code != 200 {
		t.Fatalf("after delivery: %+v", task)
	}
	res, err := s.Result(ctx, id)
	redisTestMust(t, err)
	if res.ID() != "ok-1-reply" || string(res.Data()) != "done" ||
		res.DataContentType() != "text/plain" {
		t.Fatalf("Result: id %s, %s %q", res.ID(), res.DataContentType(),
			res.Data())
	}
}

func TestRedisStoreRetryingDeliveryShowsReasonAndNextAttempt(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("retry-1", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)
	at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	next := at.Add(400 * time.Millisecond)

	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeStarted, At: at}))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeRetrying, Code: 503,
		Reason: "503 Service Unavailable", NextAttempt: next, At: at}))

	task := redisTestGet(t, s, id)
	d := task.Deliveries[0]
	if task.State != Retrying || task.Code != 503 ||
		task.Reason != "503 Service Unavailable" || task.FinishedAt != nil ||
		d.NextAttempt == nil || !d.NextAttempt.Equal(next) {
		t.Fatalf("retrying: %+v, delivery %+v", task, d)
	}

	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 2, Outcome: eventing.OutcomeStarted, At: next}))
	task = redisTestGet(t, s, id)
	if task.State != Running || task.Attempts != 2 || task.Reason != "" ||
		task.Deliveries[0].NextAttempt != nil {
		t.Fatalf("second attempt: %+v", task)
	}
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 2, Outcome: eventing.OutcomeDelivered, Code: 202, At: next}))
	task = redisTestGet(t, s, id)
	if task.State != Succeeded || task.Attempts != 2 || task.Code != 0 {
		t.Fatalf("delivered: %+v", task)
	}
	if _, err := s.Result(ctx, id); !errors.Is(err, ErrNoResult) {
		t.Fatalf("Result without a reply: %v, want ErrNoResult", err)
	}
}

func TestRedisStoreDeadLetterFailsTask(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("dead-1", "dev.ferry.test", "text/plain",
		[]byte("x"))
	id := eventing.TaskID(in)

	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeStarted}))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeDeadLettered, Code: 400,
		Reason: "400 Bad Request"}))

	task := redisTestGet(t, s, id)
	if task.State != Failed || task.Code != 400 ||
		task.Reason != "400 Bad Request" || task.FinishedAt == nil ||
		len(task.Events) != 2 || task.Events[1].Kind != kindDeadLetter {
		t.Fatalf("dead-lettered: %+v", task)
	}

	// A report repeated after a crash does not undo the outcome.
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200}))
	if got := redisTestGet(t, s, id); got.State != Failed ||
		got.Deliveries[0].State != deliveryDeadLettered {
		t.Fatalf("after a late report: %+v", got)
	}
}

func TestRedisStoreFailureReplyFailsTaskWithDetail(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("broken-1", "dev.ferry.csvstats", "text/csv",
		[]byte{0x89, 'P', 'N', 'G'})
	id := eventing.TaskID(in)
	problem := []byte(`{"type":"broken-input","title":"Broken input",` +
		`"detail":"data is not UTF-8 text: invalid byte 0x89 at offset 0"}`)
	reply := redisTestReply(in, "broken-1-reply", "dev.ferry.csvstats"+
		FailedSuffix, "application/problem+json", problem)

	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeStarted}))
	redisTestMust(t, s.Routed(ctx, eventing.KindReply, reply, nil))
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200,
		Reply: reply}))

	task := redisTestGet(t, s, id)
	want := "data is not UTF-8 text: invalid byte 0x89 at offset 0"
	if task.State != Failed || task.Reason != want || task.Code != 0 ||
		task.Attempts != 1 || task.FinishedAt == nil {
		t.Fatalf("failure reply: state %s, reason %q, code %d, attempts %d",
			task.State, task.Reason, task.Code, task.Attempts)
	}
	res, err := s.Result(ctx, id)
	redisTestMust(t, err)
	if !bytes.Equal(res.Data(), problem) {
		t.Fatalf("Result data %q, want the problem", res.Data())
	}
}

// redisTestStep is one report, made the same way to each store.
type redisTestStep struct {
	name   string
	report func(ctx context.Context, o eventing.Observer) error
}

func redisTestRouted(kind eventing.EventKind, e *event.Event,
	triggers ...string) func(context.Context, eventing.Observer) error {
	return func(ctx context.Context, o eventing.Observer) error {
		return o.Routed(ctx, kind, e, triggers)
	}
}

func redisTestAttempted(a eventing.Attempt) func(context.Context,
	eventing.Observer) error {
	return func(ctx context.Context, o eventing.Observer) error {
		return o.Attempted(ctx, a)
	}
}

// redisTestSequence is a run of reports over five tasks that takes every
// path of Routed and Attempted: repeats, an attempt cut short, retries,
// a reply routed on, a dead letter and a report after it, a failure reply,
// an event no Trigger matched, a task first heard of through an attempt,
// and a binary result.
func redisTestSequence(pngData []byte) (steps []redisTestStep,
	ids []string) {
	at := time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC)
	in := redisTestAccepted("seq-1", "dev.ferry.thumbnail", "image/png",
		pngData)
	r1 := redisTestReply(in, "seq-1-r1", "dev.ferry.stage", "application/json",
		[]byte(`{"stage": 1}`))
	r2 := redisTestReply(r1, "seq-1-r2", "dev.ferry.thumbnail.done",
		"image/png", pngData)
	none := redisTestAccepted("seq-2", "dev.ferry.nobody", "text/plain",
		[]byte("hello"))
	bad := redisTestAccepted("seq-3", "dev.ferry.csvstats", "text/csv",
		[]byte("a,b\n1"))
	badReply := redisTestReply(bad, "seq-3-r", "dev.ferry.csvstats.failed",
		"application/problem+json", []byte(`{"title":"Not CSV"}`))
	late := redisTestAccepted("seq-4", "dev.ferry.late", "", nil)
	plain := redisTestAccepted("seq-5", "dev.ferry.plain", "", nil)
	plainReply := redisTestReply(plain, "seq-5-r", "dev.ferry.plain.failed",
		"text/plain", []byte(" it broke \n"))

	a := func(e *event.Event, trig string, n int, o eventing.Outcome,
		code int, reason string, when time.Time) eventing.Attempt {
		return eventing.Attempt{Event: e, Trigger: trig, Number: n,
			Outcome: o, Code: code, Reason: reason, At: when,
			Subscriber: "http://127.0.0.1:9/" + trig}
	}
	started, retrying := eventing.OutcomeStarted, eventing.OutcomeRetrying
	delivered, dead := eventing.OutcomeDelivered, eventing.OutcomeDeadLettered
	retry := a(in, "b", 1, retrying, 503, "503 Service Unavailable", at)
	retry.NextAttempt = at.Add(400 * time.Millisecond)
	withReply := a(in, "a", 2, delivered, 200, "", time.Time{})
	withReply.Reply = r1

	// A zero time makes the store read its clock.
	now := time.Time{}
	route, report := redisTestRouted, redisTestAttempted
	accepted, replied := eventing.KindAccepted, eventing.KindReply
	steps = []redisTestStep{
		{"accept", route(accepted, in, "a", "b")},
		{"accept again", route(accepted, in, "a", "b")},
		{"start a", report(a(in, "a", 1, started, 0, "", now))},
		{"start a again", report(a(in, "a", 1, started, 0, "", now))},
		{"start b", report(a(in, "b", 1, started, 0, "", at))},
		{"retry b", report(retry)},
		{"route r1", route(replied, r1, "c")},
		{"deliver a", report(withReply)},
		{"deliver a again", report(withReply)},
		{"start c", report(a(r1, "c", 1, started, 0, "", now))},
		{"route r2", route(replied, r2)},
		{"deliver c", report(a(r1, "c", 1, delivered, 200, "", now))},
		{"start b 2", report(a(in, "b", 2, started, 0, "", at))},
		{"dead-letter b", report(a(in, "b", 2, dead, 500, "500 boom", at))},
		{"start b late", report(a(in, "b", 3, started, 0, "", at))},
		{"accept unmatched", route(accepted, none)},
		{"accept bad", route(accepted, bad, "csv")},
		{"start bad", report(a(bad, "csv", 1, started, 0, "", now))},
		{"failure reply", route(replied, badReply)},
		{"deliver bad", report(a(bad, "csv", 1, delivered, 200, "", now))},
		{"attempt unknown", report(a(late, "t", 4, started, 0, "", at))},
		{"accept plain", route(accepted, plain, "p")},
		{"plain failure reply", route(replied, plainReply)},
	}
	ids = []string{eventing.TaskID(in), eventing.TaskID(none),
		eventing.TaskID(bad), eventing.TaskID(late), eventing.TaskID(plain)}
	return steps, ids
}

// redisTestSnapshot is what a Reader answers for a task: the task's JSON
// or its error, and its result's JSON or its error.
func redisTestSnapshot(t *testing.T, r Reader, id string) (task, result string) {
	t.Helper()
	ctx := context.Background()
	text := func(v any, err error) string {
		switch {
		case errors.Is(err, ErrNotFound):
			return "ErrNotFound"
		case errors.Is(err, ErrNoResult):
			return "ErrNoResult"
		case err != nil:
			t.Fatalf("read %s: %v", id, err)
		}
		raw, err := json.Marshal(v)
		redisTestMust(t, err)
		return string(raw)
	}
	task = text(r.Get(ctx, id))
	result = text(r.Result(ctx, id))
	return task, result
}

func TestRedisStoreMatchesDiskStore(t *testing.T) {
	rs := redisTestStore(t, RedisOptions{})
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ferry.db"), 0o600, nil)
	redisTestMust(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ds, err := NewDiskStore(db)
	redisTestMust(t, err)
	rs.now, ds.now = newRedisTestClock().now, newRedisTestClock().now

	steps, ids := redisTestSequence(redisTestPNG(t))
	ctx := context.Background()
	for _, step := range steps {
		if err := step.report(ctx, ds); err != nil {
			t.Fatalf("%s: disk: %v", step.name, err)
		}
		if err := step.report(ctx, rs); err != nil {
			t.Fatalf("%s: redis: %v", step.name, err)
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
	want := []State{Failed, Accepted, Failed, Running, Failed}
	for i, id := range ids {
		if got := redisTestGet(t, rs, id).State; got != want[i] {
			t.Errorf("task %d (%s): state %s, want %s", i, id, got, want[i])
		}
	}
}

// Every report made twice changes nothing, but one: a second start of a
// delivery that is still running counts as a new attempt (the one before
// was cut short), as DiskStore counts it. In the sequence, only task 3
// (first heard of through a start) ends with its delivery running.
func TestRedisStoreRepeatedReportsChangeNothing(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	fixed := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return fixed }
	steps, ids := redisTestSequence(redisTestPNG(t))
	ctx := context.Background()

	for _, step := range steps {
		redisTestMust(t, step.report(ctx, s))
	}
	var first []string
	for _, id := range ids {
		task, result := redisTestSnapshot(t, s, id)
		first = append(first, task, result)
	}
	running := redisTestGet(t, s, ids[3])

	for _, step := range steps {
		redisTestMust(t, step.report(ctx, s))
	}
	for i, id := range ids {
		if i == 3 {
			continue
		}
		task, result := redisTestSnapshot(t, s, id)
		if task != first[2*i] || result != first[2*i+1] {
			t.Errorf("task %s changed on repeated reports:\nonce  %s\ntwice %s",
				id, first[2*i], task)
		}
	}
	again := redisTestGet(t, s, ids[3])
	if running.State != Running || again.State != Running ||
		again.Attempts != running.Attempts+1 {
		t.Errorf("restarted delivery: %s with %d attempts, then %s with %d; "+
			"want running, one attempt more", running.State, running.Attempts,
			again.State, again.Attempts)
	}
}

// redisTestDeliverAll makes, concurrently, one delivery per Trigger of in
// through the stores in turn: started, a reply routed, delivered.
func redisTestDeliverAll(t *testing.T, in *event.Event, triggers []string,
	stores ...*RedisStore) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 3*len(triggers))
	for i, trig := range triggers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			reply := redisTestReply(in, "reply-"+trig, "dev.ferry.done",
				"application/json", fmt.Appendf(nil, `{"trigger":%q}`, trig))
			errs <- s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: trig,
				Number: 1, Outcome: eventing.OutcomeStarted})
			errs <- s.Routed(ctx, eventing.KindReply, reply, nil)
			errs <- s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: trig,
				Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200,
				Reply: reply})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// redisTestCheckAllDelivered checks that no update of redisTestDeliverAll
// was lost.
func redisTestCheckAllDelivered(t *testing.T, s *RedisStore, id string,
	triggers []string) {
	task := redisTestGet(t, s, id)
	if task.State != Succeeded || task.Attempts != len(triggers) ||
		len(task.Deliveries) != len(triggers) ||
		len(task.Events) != 1+len(triggers) {
		t.Fatalf("state %s, attempts %d, %d deliveries, %d events; want "+
			"succeeded, %d each", task.State, task.Attempts,
			len(task.Deliveries), len(task.Events), len(triggers))
	}
	seen := map[string]bool{}
	for _, d := range task.Deliveries {
		if d.State != deliveryDelivered || d.Attempts != 1 || d.Code != 200 {
			t.Errorf("delivery %+v, want delivered once with 200", d)
		}
		seen[d.Trigger] = true
	}
	for _, trig := range triggers {
		if !seen[trig] {
			t.Errorf("no delivery to %s", trig)
		}
	}
	res, err := s.Result(context.Background(), id)
	redisTestMust(t, err)
	if res.ID() != task.ResultEventID ||
		!strings.HasPrefix(res.ID(), "reply-") {
		t.Errorf("Result %s, task's result %s", res.ID(), task.ResultEventID)
	}
}

func redisTestTriggers(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("trigger-%02d", i)
	}
	return names
}

func TestRedisStoreConcurrentUpdatesLoseNothing(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	in := redisTestAccepted("fan-50", "dev.ferry.fan", "", nil)
	triggers := redisTestTriggers(50)
	redisTestMust(t, s.Routed(context.Background(), eventing.KindAccepted, in,
		triggers))

	redisTestDeliverAll(t, in, triggers, s)

	redisTestCheckAllDelivered(t, s, eventing.TaskID(in), triggers)
}

func TestRedisStoreTwoClientsShareTasks(t *testing.T) {
	a := redisTestStore(t, RedisOptions{})
	b := redisTestStore(t, RedisOptions{Prefix: a.prefix})
	in := redisTestAccepted("fan-20", "dev.ferry.fan", "", nil)
	id := eventing.TaskID(in)
	triggers := redisTestTriggers(20)
	redisTestMust(t, a.Routed(context.Background(), eventing.KindAccepted, in,
		triggers))

	redisTestDeliverAll(t, in, triggers, a, b)

	redisTestCheckAllDelivered(t, b, id, triggers)
	fromA, _ := redisTestSnapshot(t, a, id)
	fromB, _ := redisTestSnapshot(t, b, id)
	if fromA != fromB {
		t.Errorf("the clients disagree:\na %s\nb %s", fromA, fromB)
	}
}

// The write of an update is refused when the task is not the one the
// update was based on (another client changed it), and the refusal hands
// back the task as it is, so that the update is applied again, not lost.
func TestRedisStoreCommitRefusesChangedTask(t *testing.T) {
	a := redisTestStore(t, RedisOptions{})
	b := redisTestStore(t, RedisOptions{Prefix: a.prefix})
	ctx := context.Background()
	in := redisTestAccepted("cas-1", "dev.ferry.test", "", nil)
	k := a.keys(eventing.TaskID(in))
	commit := func(read []byte) (bool, []byte) {
		t.Helper()
		written, current, err := a.commit(ctx, k, read, []byte("written"),
			change{}, false)
		redisTestMust(t, err)
		return written, current
	}

	redisTestMust(t, a.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	read, err := a.client.Get(ctx, k.task).Bytes()
	redisTestMust(t, err)
	if written, current := commit(nil); written || !bytes.Equal(current, read) {
		t.Fatalf("a write as if there were no task: written %v, current %q",
			written, current)
	}

	redisTestMust(t, b.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeStarted}))
	now, err := b.client.Get(ctx, k.task).Bytes()
	redisTestMust(t, err)
	if written, current := commit(read); written || !bytes.Equal(current, now) {
		t.Fatalf("a write based on a stale read: written %v, current %q",
			written, current)
	}

	if written, _ := commit(now); !written {
		t.Fatal("a write based on the current task was refused")
	}
	got, err := a.client.Get(ctx, k.task).Result()
	redisTestMust(t, err)
	if got != "written" {
		t.Fatalf("task after the write: %q", got)
	}
}

// A client's remembered task goes stale when another client updates it;
// its next update must build on the other client's.
func TestRedisStoreUpdateBuildsOnOtherClientsWrites(t *testing.T) {
	a := redisTestStore(t, RedisOptions{})
	b := redisTestStore(t, RedisOptions{Prefix: a.prefix})
	ctx := context.Background()
	in := redisTestAccepted("stale-1", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)

	redisTestMust(t, a.Routed(ctx, eventing.KindAccepted, in,
		[]string{"t", "u"}))
	redisTestMust(t, b.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Subscriber: "http://127.0.0.1:9/t", Number: 1,
		Outcome: eventing.OutcomeStarted}))
	redisTestMust(t, a.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "u",
		Number: 1, Outcome: eventing.OutcomeStarted}))
	redisTestMust(t, b.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "u",
		Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200}))
	redisTestMust(t, a.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeDelivered, Code: 201}))

	task := redisTestGet(t, b, id)
	if task.State != Succeeded || task.Attempts != 2 ||
		task.Deliveries[0].Subscriber != "http://127.0.0.1:9/t" ||
		task.Deliveries[0].Code != 201 || task.Deliveries[1].Code != 200 {
		t.Fatalf("after alternating clients: %+v", task)
	}
}

// A task that expired while this process remembered it is created afresh
// by the next report, as for a task never seen.
func TestRedisStoreUpdateAfterExpiryStartsAfresh(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	in := redisTestAccepted("gone-1", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)
	k := s.keys(id)
	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in,
		[]string{"t", "u"}))
	redisTestMust(t, s.client.Del(ctx, k.task, k.events, k.result).Err())

	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeStarted}))
	task := redisTestGet(t, s, id)
	if task.State != Running || len(task.Deliveries) != 1 ||
		len(task.Events) != 0 || task.EventID != "gone-1" {
		t.Fatalf("after expiry: %+v", task)
	}
}

func TestRedisStoreKeysExpireRetentionAfterLastUpdate(t *testing.T) {
	const retention = 10 * time.Minute
	s := redisTestStore(t, RedisOptions{Retention: retention})
	ctx := context.Background()
	in := redisTestAccepted("ttl-1", "dev.ferry.test", "", nil)
	reply := redisTestReply(in, "ttl-1-r", "dev.ferry.done", "text/plain",
		[]byte("ok"))
	k := s.keys(eventing.TaskID(in))
	all := []string{k.task, k.events, k.result}

	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Routed(ctx, eventing.KindReply, reply, nil))
	checkTTLs := func(when string) {
		t.Helper()
		for _, key := range all {
			ttl, err := s.client.PTTL(ctx, key).Result()
			redisTestMust(t, err)
			if ttl <= retention-time.Minute || ttl > retention {
				t.Errorf("%s: %s expires in %v, want about %v", when, key, ttl,
					retention)
			}
		}
	}
	checkTTLs("after the reply")

	for _, key := range all {
		redisTestMust(t, s.client.PExpire(ctx, key, 5*time.Second).Err())
	}
	redisTestMust(t, s.Attempted(ctx, eventing.Attempt{Event: in, Trigger: "t",
		Number: 1, Outcome: eventing.OutcomeDelivered, Code: 200}))
	checkTTLs("after the next update")

	redisTestMust(t, s.Published().Stored(ctx, "ttl-key", "task"))
	ttl, err := s.client.PTTL(ctx, s.prefix+"event:ttl-key").Result()
	redisTestMust(t, err)
	if ttl <= retention-time.Minute || ttl > retention {
		t.Errorf("published-event key expires in %v, want about %v", ttl, retention)
	}
}

func TestRedisStoreForgetsTaskAfterRetention(t *testing.T) {
	s := redisTestStore(t, RedisOptions{Retention: time.Second})
	ctx := context.Background()
	in := redisTestAccepted("forget-1", "dev.ferry.test", "", nil)
	id := eventing.TaskID(in)
	reply := redisTestReply(in, "forget-1-r", "dev.ferry.done", "text/plain",
		[]byte("ok"))
	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Routed(ctx, eventing.KindReply, reply, nil))
	if _, err := s.Result(ctx, id); err != nil {
		t.Fatalf("Result before expiry: %v", err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			break
		}
		redisTestMust(t, err)
		if time.Now().After(deadline) {
			t.Fatal("task still there 10s after a retention of 1s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, err := s.Result(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Result after expiry: %v, want ErrNotFound", err)
	}
	k := s.keys(id)
	n, err := s.client.Exists(ctx, k.task, k.events, k.result).Result()
	redisTestMust(t, err)
	if n != 0 {
		t.Errorf("%d of the task's keys outlived it", n)
	}
}

func TestRedisStoreResultRoundTripsBinaryData(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	pic := redisTestPNG(t)
	if utf8.Valid(pic) || len(pic) <= InlineDataMax {
		t.Fatalf("the test PNG (%d bytes) should be binary and large", len(pic))
	}
	in := redisTestAccepted("png-1", "dev.ferry.thumbnail", "image/png", pic)
	reply := redisTestReply(in, "png-1-r", "dev.ferry.thumbnail.done",
		"image/png", pic)
	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted, in, []string{"t"}))
	redisTestMust(t, s.Routed(ctx, eventing.KindReply, reply, nil))

	res, err := s.Result(ctx, eventing.TaskID(in))
	redisTestMust(t, err)
	if !bytes.Equal(res.Data(), pic) || res.DataContentType() != "image/png" {
		t.Fatalf("Result: %s, %d bytes; want image/png, the %d bytes sent",
			res.DataContentType(), len(res.Data()), len(pic))
	}
	if res.Extensions()[eventing.ExtCausationID] != "png-1" {
		t.Errorf("Result lost its extensions: %v", res.Extensions())
	}
	task := redisTestGet(t, s, eventing.TaskID(in))
	if ev := task.Events[1]; ev.Data != nil || ev.DataSize != len(pic) {
		t.Errorf("recorded reply: %d bytes inline, size %d", len(ev.Data),
			ev.DataSize)
	}
}

func TestRedisStoreUnknownTaskIsNotFound(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	if _, err := s.Get(ctx, "no-such-task"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if _, err := s.Result(ctx, "no-such-task"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Result: %v, want ErrNotFound", err)
	}
}

func TestRedisStorePingFailsAfterClose(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx := context.Background()
	redisTestMust(t, s.Ping(ctx))
	redisTestMust(t, s.Close())
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func TestRedisStoreStopsRetryingWhenContextEnds(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := redisTestAccepted("cancel-1", "dev.ferry.test", "", nil)
	err := s.Routed(ctx, eventing.KindAccepted, in, []string{"t"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Routed with a cancelled context: %v", err)
	}
	_, err = s.Get(context.Background(), eventing.TaskID(in))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after a cancelled Routed: %v, want ErrNotFound", err)
	}
}

func TestOpenRedisErrorNamesURLWithoutPassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	redisTestMust(t, err)
	addr := ln.Addr().String()
	redisTestMust(t, ln.Close()) // nothing listens there now

	cases := map[string]struct {
		url  string
		opts RedisOptions
		want string
	}{
		"unreachable": {url: "redis://ferry:s3cret@" + addr + "/0",
			want: addr},
		"bad scheme": {url: "http://ferry:s3cret@" + addr + "/0",
			want: "invalid URL scheme"},
		"bad database": {url: "redis://ferry:s3cret@" + addr + "/x",
			want: "invalid database"},
		"bad retention": {url: "redis://ferry:s3cret@" + addr + "/0",
			opts: RedisOptions{Retention: time.Microsecond}, want: "retention"},
		"unparsable": {url: "redis://ferry:s3cret@[::1/0",
			want: "unparsable"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(),
				10*time.Second)
			defer cancel()
			s, err := OpenRedis(ctx, c.url, c.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("OpenRedis succeeded")
			}
			if !strings.Contains(err.Error(), c.want) ||
				strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q: want %q in it and no password", err, c.want)
			}
		})
	}
}

// BenchmarkTaskStoreRoutedAttempted measures the reports of one task with
// one delivery (Routed, then Attempted started and delivered), on each
// store; -cpu sets the writers for the parallel runs.
func BenchmarkTaskStoreRoutedAttempted(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "ferry.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	disk, err := NewDiskStore(db)
	if err != nil {
		b.Fatal(err)
	}
	stores := map[string]eventing.Observer{
		"disk":  disk,
		"redis": redisTestStore(b, RedisOptions{}),
	}
	for _, name := range []string{"redis", "disk"} {
		o := stores[name]
		b.Run(name, func(b *testing.B) {
			var n int
			for b.Loop() {
				n++
				redisTestBenchTask(b, o, fmt.Sprintf("bench-%s-%d", name, n))
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			var mu sync.Mutex
			var n int
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					n++
					id := fmt.Sprintf("bench-par-%s-%d", name, n)
					mu.Unlock()
					redisTestBenchTask(b, o, id)
				}
			})
		})
	}
}

func redisTestBenchTask(b *testing.B, o eventing.Observer, id string) {
	ctx := context.Background()
	in := redisTestAccepted(id, "dev.ferry.bench", "application/json",
		[]byte(`{"n":1}`))
	a := eventing.Attempt{Event: in, Trigger: "t", Number: 1,
		Outcome: eventing.OutcomeStarted}
	err := o.Routed(ctx, eventing.KindAccepted, in, []string{"t"})
	if err == nil {
		err = o.Attempted(ctx, a)
	}
	if err == nil {
		a.Outcome, a.Code = eventing.OutcomeDelivered, 200
		err = o.Attempted(ctx, a)
	}
	if err != nil {
		b.Error(err)
	}
}
