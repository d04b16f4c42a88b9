package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
)

var ctx = context.Background()

// file is a bbolt file in a test's temporary folder that can be closed and
// opened again, as by a process that stops and starts.
type file struct {
	t    testing.TB
	path string
	db   *bolt.DB
}

func newFile(t testing.TB) *file {
	f := &file{t: t, path: filepath.Join(t.TempDir(), "ferry.db")}
	f.open()
	t.Cleanup(func() { _ = f.db.Close() })
	return f
}

func (f *file) open() {
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		f.t.Fatalf("open %s: %v", f.path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	f.db = db
}

// reopen closes the file and opens it again: what a restart (or a kill -9
// after the last commit) leaves is what the next process sees.
func (f *file) reopen() {
	if err := f.db.Close(); err != nil {
		f.t.Fatalf("close: %v", err)
	}
	f.open()
}

func (f *file) queue(broker string) *Queue {
	q, err := Open(f.db, broker)
	if err != nil {
		f.t.Fatalf("open queue %s: %v", broker, err)
	}
	return q
}

// dead returns the buried deliveries of broker, by id.
func (f *file) dead(broker string) map[uint64]record {
	out := map[uint64]record{}
	err := f.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("broker:" + broker)).Bucket(bucketDead).ForEach(
			func(k, v []byte) error {
				var r record
				if err := json.Unmarshal(v, &r); err != nil {
					return err
				}
				out[idFromKey(k)] = r
				return nil
			})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func idFromKey(k []byte) uint64 {
	var id uint64
	for _, b := range k {
		id = id<<8 | uint64(b)
	}
	return id
}

func newEvent(source, id, typ string, data string) *event.Event {
	e := event.New()
	e.SetSource(source)
	e.SetID(id)
	e.SetType(typ)
	if data != "" {
		_ = e.SetData(event.ApplicationJSON, []byte(data))
	}
	return &e
}

func put(t testing.TB, q *Queue, e *event.Event, triggers ...string) {
	t.Helper()
	first, err := q.Put(ctx, e, triggers)
	if err != nil {
		t.Fatalf("put %s: %v", e.ID(), err)
	}
	if first != nil {
		t.Fatalf("put %s: seen before", e.ID())
	}
}

// claimAll claims what is due an hour from now, so that due times in the
// next minutes count as due.
func claimAll(q *Queue) []eventing.Delivery {
	ds, _ := q.Claim(time.Now().Add(time.Hour), 1000)
	return ds
}

// names lists deliveries as "event id/trigger", in order.
func names(ds []eventing.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Event.ID() + "/" + d.Trigger
	}
	return out
}

func sameNames(t *testing.T, what string, ds []eventing.Delivery, want ...string) {
	t.Helper()
	got := names(ds)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

func TestPutStoresEventAndOneDeliveryPerTrigger(t *testing.T) {
	q := newFile(t).queue("default")
	e := newEvent("/shop", "order-17", "order.created", `{"total":42}`)
	e.SetExtension("correlationid", "task-1")
	put(t, q, e, "invoice", "audit")

	if q.Pending() != 2 {
		t.Errorf("Pending = %d, want 2", q.Pending())
	}
	ds, next := q.Claim(time.Now(), 10)
	sameNames(t, "claimed", ds, "order-17/invoice", "order-17/audit")
	if !next.IsZero() {
		t.Errorf("next due = %v, want zero (nothing else waiting)", next)
	}
	for _, d := range ds {
		if d.Attempts != 0 || d.DeadLetter || d.ID == 0 {
			t.Errorf("delivery %+v, want a fresh one", d)
		}
		if d.Event.Type() != "order.created" || string(d.Event.Data()) != `{"total":42}` ||
			d.Event.Extensions()["correlationid"] != "task-1" {
			t.Errorf("event read back = %s", d.Event)
		}
	}
	if ds[0].ID == ds[1].ID {
		t.Errorf("both deliveries have id %d", ds[0].ID)
	}
}

func TestPutWithoutTriggersStoresTheEventOnly(t *testing.T) {
	q := newFile(t).queue("default")
	put(t, q, newEvent("/shop", "1", "nobody.cares", ""))
	if q.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", q.Pending())
	}
	// Still known: a resubmission is a duplicate.
	first, err := q.Put(ctx, newEvent("/shop", "1", "nobody.cares", ""), []string{"x"})
	if err != nil || first == nil {
		t.Errorf("second put: first %v err %v, want the stored event", first, err)
	}
	if q.Pending() != 0 {
		t.Errorf("Pending after duplicate = %d, want 0", q.Pending())
	}
}

func TestDuplicatePutReturnsTheFirstEvent(t *testing.T) {
	q := newFile(t).queue("default")
	put(t, q, newEvent("/shop", "order-17", "order.created", `{"n":1}`), "invoice")

	again := newEvent("/shop", "order-17", "order.updated", `{"n":2}`)
	first, err := q.Put(ctx, again, []string{"invoice", "audit"})
	if err != nil {
		t.Fatal(err)
	}
	if first == nil || first.Type() != "order.created" || string(first.Data()) != `{"n":1}` {
		t.Fatalf("first = %v, want the event stored first", first)
	}
	if q.Pending() != 1 {
		t.Errorf("Pending = %d, want 1 (nothing added)", q.Pending())
	}
	// Same id from another source is another event.
	put(t, q, newEvent("/billing", "order-17", "order.created", ""), "audit")
	if q.Pending() != 2 {
		t.Errorf("Pending = %d, want 2", q.Pending())
	}
}

func TestClaimRespectsMaxAndDueTimes(t *testing.T) {
	q := newFile(t).queue("default")
	for i := 1; i <= 3; i++ {
		put(t, q, newEvent("/s", fmt.Sprint(i), "job", ""), "fn")
	}

	ds, next := q.Claim(time.Now(), 2)
	sameNames(t, "first claim", ds, "1/fn", "2/fn")
	if next.IsZero() || next.After(time.Now()) {
		t.Errorf("next = %v, want the third delivery's due time (already past)", next)
	}
	// Claimed deliveries are not handed out again.
	ds2, next := q.Claim(time.Now(), 10)
	sameNames(t, "second claim", ds2, "3/fn")
	if !next.IsZero() {
		t.Errorf("next = %v, want zero", next)
	}
	if more, _ := q.Claim(time.Now(), 10); len(more) != 0 {
		t.Errorf("third claim: %v, want nothing", names(more))
	}
	if ds0, _ := q.Claim(time.Now(), 0); len(ds0) != 0 {
		t.Errorf("claim of 0: %v", names(ds0))
	}

	// A retry in a minute is not due now, and Claim says when it is.
	when := time.Now().Add(time.Minute)
	d := ds[0]
	d.Attempts = 1
	if err := q.Retry(ctx, d, when); err != nil {
		t.Fatal(err)
	}
	got, next := q.Claim(time.Now(), 10)
	if len(got) != 0 || !next.Equal(when) {
		t.Errorf("claim now: %v next %v; want nothing, next %v", names(got), next, when)
	}
	got, _ = q.Claim(when, 10)
	sameNames(t, "claim at its due time", got, "1/fn")
	if got[0].Attempts != 1 {
		t.Errorf("attempts = %d, want 1", got[0].Attempts)
	}
	if q.Pending() != 3 {
		t.Errorf("Pending = %d, want 3 (claimed ones count)", q.Pending())
	}
}

func TestDoneEndsDeliveryAndStoresReply(t *testing.T) {
	q := newFile(t).queue("default")
	put(t, q, newEvent("/uploads", "img-1", "image.uploaded", ""), "resize")
	d := claimAll(q)[0]

	reply := newEvent("/fn/resize", "resized-1", "image.resized", `{"w":320}`)
	if err := q.Done(ctx, d, reply, []string{"notify", "audit"}); err != nil {
		t.Fatal(err)
	}
	ds := claimAll(q)
	sameNames(t, "after done", ds, "resized-1/notify", "resized-1/audit")
	if string(ds[0].Event.Data()) != `{"w":320}` {
		t.Errorf("reply data = %s", ds[0].Event.Data())
	}
	for _, d := range ds {
		if err := q.Done(ctx, d, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if q.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", q.Pending())
	}
}

func TestDoneWithAReplySeenBeforeAddsNothing(t *testing.T) {
	q := newFile(t).queue("default")
	put(t, q, newEvent("/s", "1", "job", ""), "a", "b")
	ds := claimAll(q)
	reply := newEvent("/fn", "r-1", "job.done", "")
	if err := q.Done(ctx, ds[0], reply, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	// The same reply again (b answered with an event of the same source
	// and id, or a delivery was made twice): stored once.
	if err := q.Done(ctx, ds[1], reply, []string{"c"}); err != nil {
		t.Fatal(err)
	}
	sameNames(t, "pending", claimAll(q), "r-1/c")
}

func TestBuryKeepsDeliveryAndReason(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	put(t, q, newEvent("/s", "1", "job", ""), "fn")
	d := claimAll(q)[0]
	d.Attempts = 3
	if err := q.Bury(ctx, d, "subscriber answered 400 Bad Request"); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 {
		t.Errorf("Pending = %d, want 0", q.Pending())
	}
	dead := f.dead("default")
	r, ok := dead[d.ID]
	if !ok || r.Trigger != "fn" || r.Reason != "subscriber answered 400 Bad Request" ||
		r.Key != "/s\x001" {
		t.Errorf("dead = %+v, want delivery %d with its reason", dead, d.ID)
	}
}

func TestRetryAndBuryOfUnknownDeliveryFail(t *testing.T) {
	q := newFile(t).queue("default")
	d := eventing.Delivery{ID: 99, Event: newEvent("/s", "1", "job", ""), Trigger: "fn"}
	if err := q.Retry(ctx, d, time.Now()); err == nil {
		t.Error("Retry of an unknown delivery succeeded")
	}
	if err := q.Bury(ctx, d, "why"); err == nil {
		t.Error("Bury of an unknown delivery succeeded")
	}
}

func TestWakeSignalsPutAndRetry(t *testing.T) {
	q := newFile(t).queue("default")
	drain := func() bool {
		select {
		case <-q.Wake():
			return true
		default:
			return false
		}
	}
	put(t, q, newEvent("/s", "1", "job", ""), "fn")
	if !drain() {
		t.Error("no wake after Put")
	}
	put(t, q, newEvent("/s", "2", "job", "")) // no delivery, nothing to do
	if drain() {
		t.Error("wake after a Put without deliveries")
	}
	d := claimAll(q)[0]
	if err := q.Retry(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !drain() {
		t.Error("no wake after Retry")
	}
	// Wake never blocks the sender: many puts, one pending signal.
	for i := 3; i < 10; i++ {
		put(t, q, newEvent("/s", fmt.Sprint(i), "job", ""), "fn")
	}
	if !drain() || drain() {
		t.Error("want exactly one pending wake after many puts")
	}
}

func TestReopenBringsBackPendingDeliveries(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	put(t, q, newEvent("/s", "done", "job", ""), "fn")
	put(t, q, newEvent("/s", "buried", "job", ""), "fn")
	put(t, q, newEvent("/s", "in-flight", "job", ""), "fn")
	put(t, q, newEvent("/s", "retrying", "job", ""), "fn")
	put(t, q, newEvent("/s", "waiting", "job", ""), "fn")

	ds, _ := q.Claim(time.Now(), 4)
	byID := map[string]eventing.Delivery{}
	for _, d := range ds {
		byID[d.Event.ID()] = d
	}
	if err := q.Done(ctx, byID["done"], nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := q.Bury(ctx, byID["buried"], "400"); err != nil {
		t.Fatal(err)
	}
	r := byID["retrying"]
	r.Attempts, r.DeadLetter = 2, true
	r.ErrCode, r.ErrData = 503, []byte("sink restarting")
	due := time.Now().Add(30 * time.Second).Round(0)
	if err := q.Retry(ctx, r, due); err != nil {
		t.Fatal(err)
	}
	// "in-flight" stays claimed: the process dies while delivering it.

	f.reopen()
	q = f.queue("default")
	if q.Pending() != 3 {
		t.Errorf("Pending after reopen = %d, want 3", q.Pending())
	}
	now, next := q.Claim(time.Now(), 10)
	sameNames(t, "due at once after reopen", now, "in-flight/fn", "waiting/fn")
	if !next.Equal(due) {
		t.Errorf("next = %v, want the retry's due time %v", next, due)
	}
	later, _ := q.Claim(due, 10)
	sameNames(t, "due later", later, "retrying/fn")
	got := later[0]
	if got.Attempts != 2 || !got.DeadLetter || got.ErrCode != 503 ||
		string(got.ErrData) != "sink restarting" || got.ID != r.ID {
		t.Errorf("retried delivery after reopen = %+v, want attempts 2, dead "+
			"letter, 503, its error data, id %d", got, r.ID)
	}
	// The ended deliveries' events are still known: duplicates.
	for _, id := range []string{"done", "buried"} {
		first, err := q.Put(ctx, newEvent("/s", id, "job", ""), []string{"fn"})
		if err != nil || first == nil {
			t.Errorf("put %s after reopen: first %v err %v, want a duplicate",
				id, first, err)
		}
	}
	if len(f.dead("default")) != 1 {
		t.Errorf("dead = %v, want the buried one", f.dead("default"))
	}
	// New ids do not collide with the old ones.
	put(t, q, newEvent("/s", "new", "job", ""), "fn")
	fresh, _ := q.Claim(time.Now(), 10)
	if len(fresh) != 1 || fresh[0].ID <= r.ID {
		t.Errorf("new delivery %v, want one with an id above %d", fresh, r.ID)
	}
}

func TestEqualDueTimesAreFIFO(t *testing.T) {
	q := newFile(t).queue("default")
	for i := range 20 {
		put(t, q, newEvent("/s", fmt.Sprintf("%02d", i), "job", ""), "fn")
	}
	ds := claimAll(q)
	// Retried in reverse order, all due at the same instant: they come
	// back in the order they were first stored.
	when := time.Now().Add(time.Second)
	for i := len(ds) - 1; i >= 0; i-- {
		if err := q.Retry(ctx, ds[i], when); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := q.Claim(when, 100)
	for i, d := range got {
		if want := fmt.Sprintf("%02d", i); d.Event.ID() != want {
			t.Fatalf("position %d: %s, want %s (order %v)", i, d.Event.ID(),
				want, names(got))
		}
	}
	if len(got) != 20 {
		t.Errorf("claimed %d, want 20", len(got))
	}
}

func TestConcurrentPutsStoreEachEventOnce(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	const events = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := map[string]int{}
	// Each event is put by two goroutines at once, as two ingresses would
	// take a producer's retry.
	for i := range events * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("e-%03d", i%events)
			first, err := q.Put(ctx, newEvent("/s", id, "job", ""), []string{"fn"})
			if err != nil {
				t.Errorf("put %s: %v", id, err)
				return
			}
			if first == nil {
				mu.Lock()
				stored[id]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	if len(stored) != events {
		t.Errorf("%d events stored, want %d", len(stored), events)
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if q.Pending() != events {
		t.Errorf("Pending = %d, want %d", q.Pending(), events)
	}
	// What memory says is what the file says.
	f.reopen()
	q = f.queue("default")
	ds := claimAll(q)
	ids := map[string]bool{}
	seq := map[uint64]bool{}
	for _, d := range ds {
		ids[d.Event.ID()] = true
		seq[d.ID] = true
	}
	if len(ds) != events || len(ids) != events || len(seq) != events {
		t.Errorf("after reopen: %d deliveries, %d events, %d ids; want %d each",
			len(ds), len(ids), len(seq), events)
	}
}

func TestBrokersInOneFileAreSeparate(t *testing.T) {
	f := newFile(t)
	orders, images := f.queue("orders"), f.queue("images")
	put(t, orders, newEvent("/s", "1", "job", ""), "fn")
	put(t, images, newEvent("/s", "1", "job", ""), "fn") // same key, other Broker
	if orders.Pending() != 1 || images.Pending() != 1 {
		t.Errorf("pending %d and %d, want 1 and 1", orders.Pending(), images.Pending())
	}
	f.reopen()
	if n := f.queue("orders").Pending(); n != 1 {
		t.Errorf("orders pending after reopen = %d, want 1", n)
	}
}

func TestUnreadableStoredEventIsBuried(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	put(t, q, newEvent("/s", "bad", "job", ""), "fn")
	put(t, q, newEvent("/s", "good", "job", ""), "fn")
	err := f.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("broker:default")).Bucket(bucketEvents).
			Put([]byte("/s\x00bad"), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	ds := claimAll(q)
	sameNames(t, "claimed", ds, "good/fn")
	deadline := time.Now().Add(5 * time.Second)
	for q.Pending() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var reasons []string
	for _, r := range f.dead("default") {
		reasons = append(reasons, r.Reason)
	}
	sort.Strings(reasons)
	if fmt.Sprint(reasons) != "[stored event unreadable]" {
		t.Errorf("dead reasons = %v", reasons)
	}
}

// BenchmarkQueuePut is the cost of one durable Put (bbolt commit with
// fsync): serially, and from many goroutines whose commits bbolt groups.
func BenchmarkQueuePut(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		q := newFile(b).queue("default")
		i := 0
		for b.Loop() {
			i++
			if _, err := q.Put(ctx, newEvent("/b", fmt.Sprint(i), "job", `{}`),
				[]string{"fn"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		q := newFile(b).queue("default")
		var mu sync.Mutex
		i := 0
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i++
				id := fmt.Sprint(i)
				mu.Unlock()
				if _, err := q.Put(ctx, newEvent("/b", id, "job", `{}`),
					[]string{"fn"}); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

func TestRetryOfWaitingDeliveryDoesNotHandItOutTwice(t *testing.T) {
	q := newFile(t).queue("default")
	put(t, q, newEvent("/s", "1", "job", ""), "fn")
	d := claimAll(q)[0]
	if err := q.Retry(ctx, d, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A second Retry of the same, no longer claimed, delivery (a caller's
	// mistake) must not put it in line twice.
	if err := q.Retry(ctx, d, time.Now()); err == nil {
		t.Error("Retry of a delivery that is not claimed succeeded")
	}
	ds := claimAll(q)
	if len(ds) != 1 {
		t.Errorf("claimed %v, want the delivery once", names(ds))
	}
}
