package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
)

func TestPutRoutesByFilterHeaders(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("thumbs", map[string]string{"type": "dev.ferry.thumbnail"}, 0),
		trig("csv", map[string]string{"type": "dev.ferry.csvstats"}, 0),
		trig("camera", map[string]string{"type": "dev.ferry.thumbnail",
			"source": "/camera"}, 0),
		trig("all", nil, 0),
	}})

	put(t, q, newEvent("p1", "dev.ferry.thumbnail"))
	e := newEvent("p2", "dev.ferry.thumbnail")
	e.SetSource("/camera")
	put(t, q, e)

	want := map[string]int{"thumbs": 2, "csv": 0, "camera": 1, "all": 2}
	for tr, n := range want {
		if got := ready(t, queueOf(t, q, tr)); got != n {
			t.Errorf("queue of %s holds %d messages, want %d", tr, got, n)
		}
	}
}

func TestPutIsStoredWhenItReturns(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	queue := queueOf(t, q, "all")
	for i := range 20 {
		put(t, q, newEvent(fmt.Sprint("s", i), "dev.ferry.test"))
		if got := ready(t, queue); got != i+1 {
			t.Fatalf("after %d confirmed puts the queue holds %d", i+1, got)
		}
	}
}

func TestPutFailsWhenRabbitMQRefuses(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	// A second queue on the exchange that takes nothing: RabbitMQ nacks
	// every message routed to it.
	ch := admin(t)
	full := q.top.exchange + ".full"
	_, err := ch.QueueDeclare(full, true, false, false, false, amqp.Table{
		"x-max-length": int32(0), "x-overflow": "reject-publish"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin(t).QueueDelete(full, false, false, false) })
	if err := ch.QueueBind(full, "", q.top.exchange, false,
		amqp.Table{"x-match": "all"}); err != nil {
		t.Fatal(err)
	}

	_, err = q.Put(context.Background(), newEvent("n1", "dev.ferry.test"),
		[]string{"all"})
	if !errors.Is(err, ErrNacked) {
		t.Errorf("err = %v, want ErrNacked", err)
	}
}

func TestPutFailsWhenNoQueueTakesTheEvent(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("csv", map[string]string{"type": "dev.ferry.csvstats"}, 0)}})
	// The Broker says a Trigger wants it, RabbitMQ has no queue for it:
	// a 202 would lose it.
	_, err := q.Put(context.Background(), newEvent("u1", "dev.ferry.other"),
		[]string{"csv"})
	if !errors.Is(err, ErrUnroutable) {
		t.Errorf("err = %v, want ErrUnroutable", err)
	}
}

func TestPutWithoutTriggersPublishesNothing(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	first, err := q.Put(context.Background(), newEvent("none", "t"), nil)
	if err != nil || first != nil {
		t.Fatalf("put = %v, %v", first, err)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 0 {
		t.Errorf("queue holds %d messages, want 0", n)
	}
}

// memoryDeduper is a Deduper in a map that can be made to fail. A claim
// holds "<task> <token>".
type memoryDeduper struct {
	mu      sync.Mutex
	stored  map[string]string
	claimed map[string]string
	err     error
	// loseAnswers makes that many claims land and then fail, as when the
	// store's answer is lost on the way back; with landLate they fail at
	// once and land that much later, as a command held up on its way.
	loseAnswers int
	landLate    time.Duration
	// releaseTakes is how long a Release takes, as a store's round trip.
	releaseTakes time.Duration
}

func (d *memoryDeduper) Claim(_ context.Context, key, task, token string,
	_ time.Time) (string, bool, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return "", false, false, d.err
	}
	if first, ok := d.stored[key]; ok {
		return first, true, false, nil
	}
	if d.claimed == nil {
		d.claimed = map[string]string{}
	}
	mine := task + " " + token
	if held, ok := d.claimed[key]; ok && held != mine {
		first, _, _ := strings.Cut(held, " ")
		return first, true, true, nil
	}
	if d.loseAnswers > 0 {
		d.loseAnswers--
		land := func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if _, ok := d.claimed[key]; !ok {
				d.claimed[key] = mine
			}
		}
		if d.landLate > 0 {
			time.AfterFunc(d.landLate, land)
		} else {
			d.claimed[key] = mine
		}
		return "", false, false, errors.New("connection reset: answer lost")
	}
	d.claimed[key] = mine
	return "", false, false, nil
}

func (d *memoryDeduper) Stored(_ context.Context, key, task string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.claimed, key)
	d.stored[key] = task
	return nil
}

func (d *memoryDeduper) Release(_ context.Context, key, task,
	token string) error {
	time.Sleep(d.releaseTakes)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.claimed[key] == task+" "+token {
		delete(d.claimed, key)
	}
	return nil
}

func (d *memoryDeduper) setErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

func (d *memoryDeduper) isStored(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.stored[key]
	return ok
}

func TestPutWithDeduperAnswersTheFirstTask(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}}
	q := openQueue(t, Params{Dedupe: dd, Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	e := newEvent("d1", "dev.ferry.test")
	e.SetExtension(eventing.ExtCorrelationID, "task-d1")

	first, err := q.Put(context.Background(), e, []string{"all"})
	if err != nil || first != nil {
		t.Fatalf("first put = %v, %v", first, err)
	}
	again := newEvent("d1", "dev.ferry.test")
	first, err = q.Put(context.Background(), again, []string{"all"})
	if err != nil || first == nil {
		t.Fatalf("second put = %v, %v; want the first event", first, err)
	}
	if first.ID() != "d1" || first.Source() != e.Source() ||
		eventing.TaskID(first) != "task-d1" {
		t.Errorf("first event %v, want id d1 of task task-d1", first)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 1 {
		t.Errorf("queue holds %d messages, want 1 (the duplicate is not "+
			"published)", n)
	}

	dd.err = errors.New("redis down")
	if _, err := q.Put(context.Background(), newEvent("d2", "t"),
		[]string{"all"}); err == nil {
		t.Error("put succeeded while the deduper failed")
	}
}

func TestPutWithDeduperMarksOnlyConfirmedEvents(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}}
	q := openQueue(t, Params{Dedupe: dd, Triggers: []*eventingv1.Trigger{
		trig("csv", map[string]string{"type": "dev.ferry.csvstats"}, 0)}})
	e := newEvent("m1", "dev.ferry.other") // unroutable: refused
	if _, err := q.Put(context.Background(), e, []string{"csv"}); err == nil {
		t.Fatal("put of an unroutable event succeeded")
	}
	if dd.isStored(eventing.EventKey(e)) {
		t.Error("a refused event was marked as stored: its retry would be " +
			"answered as a duplicate and lost")
	}
	// Its claim is released: the retry is published.
	if _, _, pending, _ := dd.Claim(context.Background(), eventing.EventKey(e),
		"other", "retry", time.Now().Add(ClaimTTL)); pending {
		t.Error("the refused event's claim was kept: its retry would wait for it")
	}
}

// A claim that reached the store but whose answer was lost fails the
// post (the producer gets 503) and is then released: the producer's
// repost publishes at once instead of waiting for the claim to expire.
func TestPutReleasesAClaimWhoseAnswerWasLost(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}, loseAnswers: 1}
	q := openQueue(t, Params{Dedupe: dd, PublishTimeout: time.Second,
		Triggers: []*eventingv1.Trigger{trig("all", nil, 0)}})
	if _, err := q.Put(context.Background(), newEvent("lost", "t"),
		[]string{"all"}); err == nil {
		t.Fatal("put succeeded although its claim's answer was lost")
	}
	// Well within ClaimTTL (30 s): a claim left behind fails this.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := q.Put(ctx, newEvent("lost", "t"), []string{"all"})
	if err != nil || first != nil {
		t.Fatalf("repost = %v, %v; want it published", first, err)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 1 {
		t.Errorf("queue holds %d messages, want 1", n)
	}
}

// A claim command held up on its way lands after the first release of
// it: the release is sent again until the claim would have expired, so
// the repost still goes through in a few seconds, not after 30.
func TestPutReleasesAClaimThatLandsAfterItsRelease(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}, loseAnswers: 1,
		landLate: 250 * time.Millisecond}
	q := openQueue(t, Params{Dedupe: dd, PublishTimeout: time.Second,
		Triggers: []*eventingv1.Trigger{trig("all", nil, 0)}})
	if _, err := q.Put(context.Background(), newEvent("late", "t"),
		[]string{"all"}); err == nil {
		t.Fatal("put succeeded although its claim failed")
	}
	time.Sleep(2 * dd.landLate) // the claim has landed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := q.Put(ctx, newEvent("late", "t"), []string{"all"})
	if err != nil || first != nil {
		t.Fatalf("repost = %v, %v; want it published", first, err)
	}
}

// A publish whose confirm comes after Put gave up (the producer got an
// error) was stored by RabbitMQ: the claim waits for the confirm and then
// marks the event stored, so the producer's repost is answered as a
// duplicate instead of publishing the event a second time.
func TestPutConfirmedLateIsNotPublishedAgain(t *testing.T) {
	px := startProxy(t)
	dd := &memoryDeduper{stored: map[string]string{}}
	q := openQueue(t, Params{URL: px.url(), Dedupe: dd,
		PublishTimeout: 300 * time.Millisecond,
		Triggers:       []*eventingv1.Trigger{trig("all", nil, 0)}})
	put(t, q, newEvent("before", "dev.ferry.test"))

	e := newEvent("slow", "dev.ferry.test")
	px.Freeze(true)
	_, err := q.Put(context.Background(), e, []string{"all"})
	if !errors.Is(err, ErrConfirmTimeout) {
		t.Fatalf("put while RabbitMQ is silent: %v, want ErrConfirmTimeout",
			err)
	}
	px.Freeze(false)
	eventually(t, "the late confirm marks the event stored", func() error {
		if !dd.isStored(eventing.EventKey(e)) {
			return errors.New("not stored")
		}
		return nil
	})
	first, err := q.Put(context.Background(), newEvent("slow",
		"dev.ferry.test"), []string{"all"})
	if err != nil || first == nil {
		t.Fatalf("repost = %v, %v; want the first event", first, err)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 2 {
		t.Errorf("queue holds %d messages, want 2 (before, slow once)", n)
	}
}

// During a long store outage every post's claim fails, and most of those
// claims never reach the store; when it comes back some land a moment
// late. Every claim is released, those that landed too, without a
// goroutine each, and Close ends the releases at once.
func TestClaimsOfUnknownOutcomeAreAllReleased(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}}
	q := openQueue(t, Params{Dedupe: dd, PublishTimeout: time.Second,
		Triggers: []*eventingv1.Trigger{trig("all", nil, 0)}})
	putAll := func(ctx context.Context, prefix string, n int) (failed int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := q.Put(ctx, newEvent(fmt.Sprint(prefix, i), "t"),
					[]string{"all"})
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return failed
	}

	dd.setErr(errors.New("redis: i/o timeout")) // the outage
	if n := putAll(context.Background(), "never", 1500); n != 1500 {
		t.Fatalf("%d of 1500 puts failed during the outage", n)
	}
	before := runtime.NumGoroutine()
	dd.mu.Lock()
	dd.err, dd.loseAnswers, dd.landLate = nil, 300, time.Second
	dd.mu.Unlock()
	if n := putAll(context.Background(), "late", 300); n != 300 {
		t.Fatalf("%d of 300 puts failed as their answers were lost", n)
	}
	if n := q.releaser.size(); n != 1800 {
		t.Errorf("%d claims to release, want 1800", n)
	}
	if g := runtime.NumGoroutine(); g > before+50 {
		t.Errorf("%d goroutines more for 300 claims to release", g-before)
	}

	time.Sleep(1500 * time.Millisecond) // the late claims have landed
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n := putAll(ctx, "late", 300); n != 0 {
		t.Errorf("%d of 300 reposts failed: claims that landed late were "+
			"not released", n)
	}

	start := time.Now()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with releases to come", d)
	}
}

// A publish still waiting for its confirm when the Queue closes learns
// that it failed when the channel closes, and releases its claim before
// Close returns: the store, closed after the Queue, would refuse it.
func TestCloseReleasesClaimsOfUnconfirmedPublishes(t *testing.T) {
	px := startProxy(t)
	dd := &memoryDeduper{stored: map[string]string{},
		releaseTakes: 100 * time.Millisecond}
	q := openQueue(t, Params{URL: px.url(), Dedupe: dd,
		PublishTimeout: 200 * time.Millisecond,
		Triggers:       []*eventingv1.Trigger{trig("all", nil, 0)}})
	e := newEvent("closing", "dev.ferry.test")
	px.Freeze(true)
	if _, err := q.Put(context.Background(), e,
		[]string{"all"}); !errors.Is(err, errSettlesLater) {
		t.Fatalf("put while RabbitMQ is silent: %v, want its outcome later",
			err)
	}
	go func() {
		// After Close's wait for publishes in flight (200 ms + 1 s): the
		// close handshake gets no answer meanwhile either.
		time.Sleep(1500 * time.Millisecond)
		px.Down()
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, pending, _ := dd.Claim(context.Background(),
		eventing.EventKey(e), "repost", "r", time.Now()); pending {
		t.Error("the claim of a publish that was never confirmed outlived " +
			"Close")
	}
}

func TestConcurrentCopiesOfAnEventArePublishedOnce(t *testing.T) {
	dd := &memoryDeduper{stored: map[string]string{}}
	q := openQueue(t, Params{Dedupe: dd, Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	var wg sync.WaitGroup
	dups := make(chan bool, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, err := q.Put(context.Background(), newEvent("same", "t"), []string{"all"})
			if err != nil {
				t.Errorf("put: %v", err)
			}
			dups <- first != nil
		}()
	}
	wg.Wait()
	close(dups)
	published := 0
	for dup := range dups {
		if !dup {
			published++
		}
	}
	if published != 1 {
		t.Errorf("%d copies published, want 1", published)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 1 {
		t.Errorf("queue holds %d messages, want 1", n)
	}
}

func TestClaimDoneAcks(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("c1", "dev.ferry.test"))

	ds := claimN(t, q, 1)
	if ds[0].Event.ID() != "c1" || ds[0].Trigger != "all" ||
		ds[0].Attempts != 0 {
		t.Fatalf("claimed %+v", ds[0])
	}
	if err := q.Done(context.Background(), ds[0], nil, nil); err != nil {
		t.Fatalf("done: %v", err)
	}
	if err := q.Done(context.Background(), ds[0], nil, nil); !errors.Is(err,
		ErrDeliveryGone) {
		t.Errorf("second done: %v, want ErrDeliveryGone", err)
	}
	queue := queueOf(t, q, "all")
	q.Close() // what is not acked goes back to the queue
	if n := ready(t, queue); n != 0 {
		t.Errorf("queue holds %d messages after Done, want 0", n)
	}
}

func TestUnackedMessagesReturnToTheQueueOnClose(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("r1", "dev.ferry.test"))
	claimN(t, q, 1)
	queue := queueOf(t, q, "all")
	q.Close()
	if n := ready(t, queue); n != 1 {
		t.Errorf("queue holds %d messages after Close, want 1", n)
	}
}

func TestRetryOffersAgainAtItsTime(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("t1", "dev.ferry.test"))
	d := claimN(t, q, 1)[0]

	d.Attempts = 1
	when := time.Now().Add(400 * time.Millisecond)
	if err := q.Retry(context.Background(), d, when); err != nil {
		t.Fatalf("retry: %v", err)
	}
	ds, next := q.Claim(time.Now(), 10)
	if len(ds) != 0 || !next.Equal(when) {
		t.Fatalf("claim before due: %d deliveries, next %v; want none, %v",
			len(ds), next, when)
	}
	ds, _ = q.Claim(when, 10)
	if len(ds) != 1 || ds[0].ID != d.ID || ds[0].Attempts != 1 {
		t.Fatalf("claim at due time: %+v", ds)
	}
	if err := q.Done(context.Background(), ds[0], nil, nil); err != nil {
		t.Fatalf("done: %v", err)
	}
}

func TestBuryMovesToDeadQueueThenAcks(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("b1", "dev.ferry.test"))
	d := claimN(t, q, 1)[0]
	d.Attempts = 3

	if err := q.Bury(context.Background(), d, "answered 400"); err != nil {
		t.Fatalf("bury: %v", err)
	}
	msg, ok, err := admin(t).Get(q.top.dead, true)
	if err != nil || !ok {
		t.Fatalf("dead queue: %v, %v", ok, err)
	}
	if msg.Headers["id"] != "b1" || msg.Headers[hdrBuriedReason] !=
		"answered 400" || msg.Headers[hdrBuriedTrigger] != "all" ||
		msg.Headers[hdrBuriedAttempts] != int32(3) ||
		msg.DeliveryMode != amqp.Persistent {
		t.Errorf("dead message headers %v mode %d", msg.Headers,
			msg.DeliveryMode)
	}
	queue := queueOf(t, q, "all")
	q.Close()
	if n := ready(t, queue); n != 0 {
		t.Errorf("trigger queue holds %d messages after Bury, want 0", n)
	}
}

func TestBuryKeepsMessageWhileDeadQueueIsMissing(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("k1", "dev.ferry.test"))
	d := claimN(t, q, 1)[0]
	if _, err := admin(t).QueueDelete(q.top.dead, false, false,
		false); err != nil {
		t.Fatal(err)
	}

	err := q.Bury(context.Background(), d, "answered 400")
	if !errors.Is(err, ErrUnroutable) {
		t.Fatalf("bury without a dead queue: %v, want ErrUnroutable", err)
	}
	again := claimN(t, q, 1)[0] // offered again after ReleaseDelay
	if again.ID != d.ID {
		t.Errorf("claimed %d, want %d again", again.ID, d.ID)
	}
	queue := queueOf(t, q, "all")
	q.Close()
	if n := ready(t, queue); n != 1 {
		t.Errorf("trigger queue holds %d messages, want 1: the message "+
			"was dropped", n)
	}
}

func TestDonePublishesReplyBeforeAck(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("in", map[string]string{"type": "dev.ferry.in"}, 0),
		trig("out", map[string]string{"type": "dev.ferry.out"}, 0),
	}})
	consume(t, q)
	put(t, q, newEvent("in1", "dev.ferry.in"))
	ds := claimN(t, q, 1)

	// A reply RabbitMQ cannot route is refused, and the delivery it
	// answers is not acked.
	lost := newEvent("reply-lost", "dev.ferry.nowhere")
	err := q.Done(context.Background(), ds[0], lost, []string{"x"})
	if !errors.Is(err, ErrUnroutable) {
		t.Fatalf("done with an unroutable reply: %v", err)
	}
	ds = claimN(t, q, 1)
	if ds[0].Event.ID() != "in1" {
		t.Fatalf("claimed %s, want in1 again", ds[0].Event.ID())
	}

	reply := newEvent("reply-1", "dev.ferry.out")
	if err := q.Done(context.Background(), ds[0], reply,
		[]string{"out"}); err != nil {
		t.Fatalf("done: %v", err)
	}
	got := claimN(t, q, 1)[0]
	if got.Event.ID() != "reply-1" || got.Trigger != "out" {
		t.Errorf("claimed %s for %s, want the reply for out",
			got.Event.ID(), got.Trigger)
	}
	if err := q.Done(context.Background(), got, nil, nil); err != nil {
		t.Fatal(err)
	}
	in, out := queueOf(t, q, "in"), queueOf(t, q, "out")
	q.Close()
	if a, b := ready(t, in), ready(t, out); a != 0 || b != 0 {
		t.Errorf("queues hold %d and %d messages, want 0 and 0", a, b)
	}
}

func TestParallelismOneKeepsOrder(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("fifo", nil, 0)}})
	const n = 6
	for i := range n {
		put(t, q, newEvent(fmt.Sprint("f", i), "dev.ferry.test"))
	}
	consume(t, q)

	for i := range n {
		d := claimN(t, q, 1)[0]
		if want := fmt.Sprint("f", i); d.Event.ID() != want {
			t.Fatalf("claimed %s, want %s", d.Event.ID(), want)
		}
		claimNone(t, q, 50*time.Millisecond) // one at a time
		if i == 0 {
			// A retry keeps the Trigger's turn: nothing else goes
			// until it is due.
			d.Attempts = 1
			when := time.Now().Add(300 * time.Millisecond)
			if err := q.Retry(context.Background(), d, when); err != nil {
				t.Fatal(err)
			}
			if next := claimNone(t, q, 100*time.Millisecond); !next.Equal(
				when) {
				t.Errorf("next = %v, want the retry's %v", next, when)
			}
			d = claimN(t, q, 1)[0]
			if d.Event.ID() != "f0" || d.Attempts != 1 {
				t.Fatalf("claimed %s attempt %d, want f0 again",
					d.Event.ID(), d.Attempts)
			}
		}
		if err := q.Done(context.Background(), d, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParallelismLetsRetriesStepAside(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("wide", nil, 3)}})
	if q.Parallelism() != 3 {
		t.Fatalf("parallelism %d, want 3 from the annotation",
			q.Parallelism())
	}
	for i := range 5 {
		put(t, q, newEvent(fmt.Sprint("w", i), "dev.ferry.test"))
	}
	consume(t, q)

	ds := claimN(t, q, 3)
	claimNone(t, q, 50*time.Millisecond) // 3 at a time
	if err := q.Retry(context.Background(), ds[0],
		time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	more := claimN(t, q, 1) // the retry does not hold a slot
	if more[0].Event.ID() != "w3" {
		t.Errorf("claimed %s, want w3", more[0].Event.ID())
	}
}

func TestClaimTakesTriggersInTurn(t *testing.T) {
	q := openQueue(t, Params{Parallelism: 10, Triggers: []*eventingv1.Trigger{
		trig("one", nil, 0), trig("two", nil, 0)}})
	for i := range 10 {
		put(t, q, newEvent(fmt.Sprint("e", i), "dev.ferry.test"))
	}
	consume(t, q)
	deadline := time.Now().Add(5 * time.Second)
	for q.heldCount() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	seen := map[string]int{}
	for range 5 {
		ds, _ := q.Claim(time.Now(), 2)
		for _, d := range ds {
			seen[d.Trigger]++
		}
	}
	if seen["one"] != 5 || seen["two"] != 5 {
		t.Errorf("claims per Trigger %v, want 5 and 5", seen)
	}
}
