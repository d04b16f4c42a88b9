package embedded

import (
	"errors"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
)

// taskRecorder records accepted events in a bucket of its own, in Put's
// transaction, and fails when told to, as a full disk would.
type taskRecorder struct {
	db   *bolt.DB
	fail bool
}

var bucketRecorded = []byte("recorded")

func (r *taskRecorder) DB() *bolt.DB { return r.db }

func (r *taskRecorder) RecordAccepted(tx *bolt.Tx, e *event.Event,
	triggers []string) error {
	if r.fail {
		return errors.New("no space left on device")
	}
	b, err := tx.CreateBucketIfNotExists(bucketRecorded)
	if err != nil {
		return err
	}
	return b.Put([]byte(eventing.EventKey(e)), []byte(e.Type()))
}

var bucketOutcomes = []byte("outcomes")

func (r *taskRecorder) RecordOutcome(tx *bolt.Tx, a eventing.Attempt) (
	func(), error) {
	if r.fail {
		return nil, errors.New("no space left on device")
	}
	b, err := tx.CreateBucketIfNotExists(bucketOutcomes)
	if err != nil {
		return nil, err
	}
	err = b.Put([]byte(eventing.EventKey(a.Event)+"/"+a.Trigger),
		[]byte(a.Outcome))
	return func() {}, err
}

func (f *file) outcome(e *event.Event, trigger string) string {
	var out string
	_ = f.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketOutcomes); b != nil {
			out = string(b.Get([]byte(eventing.EventKey(e) + "/" + trigger)))
		}
		return nil
	})
	return out
}

func (f *file) recorded(e *event.Event) bool {
	var found bool
	_ = f.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketRecorded); b != nil {
			found = b.Get([]byte(eventing.EventKey(e))) != nil
		}
		return nil
	})
	return found
}

func TestPutRecordsTheTaskInItsOwnCommit(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	rec := &taskRecorder{db: f.db}
	if err := q.RecordTasksWith(rec); err != nil {
		t.Fatal(err)
	}
	if !q.RecordsTasks() {
		t.Error("RecordsTasks = false after RecordTasksWith")
	}

	ok := newEvent("/shop", "order-1", "order.created", `{}`)
	put(t, q, ok, "invoice")
	if !f.recorded(ok) {
		t.Error("the stored event's task is not recorded")
	}

	// The task cannot be recorded: the event is not stored either, so
	// the producer's 503 is true and its repost starts afresh.
	rec.fail = true
	lost := newEvent("/shop", "order-2", "order.created", `{}`)
	if _, err := q.Put(ctx, lost, []string{"invoice"}); err == nil {
		t.Fatal("Put succeeded although the task could not be recorded")
	}
	f.reopen()
	q = f.queue("default")
	if ds, _ := q.Claim(time.Now(), 10); len(ds) != 1 || ds[0].Event.ID() != "order-1" {
		t.Errorf("after a restart the queue holds %v, want order-1 only", ds)
	}
	rec = &taskRecorder{db: f.db}
	if err := q.RecordTasksWith(rec); err != nil {
		t.Fatal(err)
	}
	first, err := q.Put(ctx, lost, []string{"invoice"})
	if err != nil || first != nil {
		t.Fatalf("repost: %v, %v; want stored as new", first, err)
	}
	if !f.recorded(lost) {
		t.Error("the repost's task is not recorded")
	}
}

func TestRecorderOfAnotherDatabaseIsRefused(t *testing.T) {
	q := newFile(t).queue("default")
	other := newFile(t)
	if err := q.RecordTasksWith(&taskRecorder{db: other.db}); err == nil {
		t.Error("a recorder of another file was taken")
	}
	if q.RecordsTasks() {
		t.Error("RecordsTasks = true without a recorder")
	}
}

func TestDoneRecordedEndsDeliveryAndRecordsOutcomeTogether(t *testing.T) {
	f := newFile(t)
	q := f.queue("default")
	rec := &taskRecorder{db: f.db}
	if err := q.RecordTasksWith(rec); err != nil {
		t.Fatal(err)
	}
	in := newEvent("/shop", "order-3", "order.created", `{}`)
	put(t, q, in, "invoice", "audit")
	reply := newEvent("/fn/invoice", "inv-3", "invoice.created", `{}`)
	ds, _ := q.Claim(time.Now(), 10)
	if len(ds) != 2 {
		t.Fatalf("claimed %d, want 2", len(ds))
	}
	d := ds[0]
	a := eventing.Attempt{Event: d.Event, Trigger: d.Trigger, Number: 1,
		Outcome: eventing.OutcomeDelivered, Code: 200}

	// The recorder fails: nothing changes, and the delivery stays
	// claimed (not offered again) for the caller to try again.
	rec.fail = true
	if err := q.DoneRecorded(ctx, d, a, reply, []string{"notify"}); err == nil {
		t.Fatal("DoneRecorded succeeded although the outcome was not recorded")
	}
	if again, _ := q.Claim(time.Now().Add(time.Hour), 10); len(again) != 0 {
		t.Errorf("after a failed DoneRecorded, %d deliveries offered again, "+
			"want none (the delivery stays claimed)", len(again))
	}
	if q.Pending() != 2 || f.outcome(in, d.Trigger) != "" {
		t.Errorf("after a failed DoneRecorded: %d pending, outcome %q; want "+
			"2 and none", q.Pending(), f.outcome(in, d.Trigger))
	}

	rec.fail = false
	if err := q.DoneRecorded(ctx, d, a, reply, []string{"notify"}); err != nil {
		t.Fatal(err)
	}
	if got := f.outcome(in, d.Trigger); got != string(eventing.OutcomeDelivered) {
		t.Errorf("outcome %q, want delivered", got)
	}
	// The other delivery and the reply's are pending; the done one is not.
	f.reopen()
	q = f.queue("default")
	left, _ := q.Claim(time.Now(), 10)
	sameNames(t, "left after a restart", left, "order-3/"+ds[1].Trigger,
		"inv-3/notify")
}
