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
	if err := q.RecordAcceptedWith(rec); err != nil {
		t.Fatal(err)
	}
	if !q.RecordsAccepted() {
		t.Error("RecordsAccepted = false after RecordAcceptedWith")
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
	if err := q.RecordAcceptedWith(rec); err != nil {
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
	if err := q.RecordAcceptedWith(&taskRecorder{db: other.db}); err == nil {
		t.Error("a recorder of another file was taken")
	}
	if q.RecordsAccepted() {
		t.Error("RecordsAccepted = true without a recorder")
	}
}
