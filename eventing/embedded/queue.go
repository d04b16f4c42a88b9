// Package embedded is the Broker backend of `ferry dev`: a Queue kept in a
// bbolt file on local disk. Every change is committed (and fsynced) before
// the call that made it returns, so an event that got its 202 survives a
// kill -9; pending deliveries are loaded again at start and made again
// (delivery is at least once).
//
// Layout, under one bucket per Broker ("broker:<name>"):
//
//	events      source + "\x00" + id  -> the event, JSON format
//	deliveries  8-byte id             -> pending delivery (JSON)
//	dead        8-byte id             -> delivery that ended undelivered
//
// Events stay in "events" after delivery so that a resubmitted event is
// recognised as a duplicate. Nothing removes them yet: the file grows with
// every event (see the README's Limitations).
package embedded

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/internal/boltcommit"

	"github.com/ferryfn/ferry/eventing"
)

var (
	bucketEvents     = []byte("events")
	bucketDeliveries = []byte("deliveries")
	bucketDead       = []byte("dead")
)

// Queue is an eventing.Queue in a bbolt database.
type Queue struct {
	db     *bolt.DB
	writes *boltcommit.Writer // commits of db
	// recorder, when set, records each new event and each outcome in the
	// Queue's transactions.
	recorder TaskRecorder
	bucket   []byte
	wake     chan struct{}

	mu      sync.Mutex
	waiting dueHeap            // pending, not claimed, ordered by due time
	claimed map[uint64]bool    // handed out by Claim, not yet ended
	index   map[uint64]*record // every pending delivery by id
}

// record is a pending delivery as stored.
type record struct {
	ID         uint64    `json:"-"`
	Key        string    `json:"key"`
	Trigger    string    `json:"trigger"`
	Attempts   int       `json:"attempts,omitempty"`
	DeadLetter bool      `json:"deadLetter,omitempty"`
	ErrCode    int       `json:"errCode,omitempty"`
	ErrData    []byte    `json:"errData,omitempty"`
	Due        time.Time `json:"due"`
	Reason     string    `json:"reason,omitempty"`
}

// Open returns the Queue of the named Broker in db, with every delivery
// that was pending when the process last stopped due at once.
func Open(db *bolt.DB, broker string) (*Queue, error) {
	q := &Queue{
		db:      db,
		writes:  boltcommit.New(db),
		bucket:  []byte("broker:" + broker),
		wake:    make(chan struct{}, 1),
		claimed: map[uint64]bool{},
		index:   map[uint64]*record{},
	}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(q.bucket)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketEvents, bucketDeliveries, bucketDead} {
			if _, err := b.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return b.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			r := &record{ID: binary.BigEndian.Uint64(k)}
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("delivery %d: %w", r.ID, err)
			}
			q.index[r.ID] = r
			heap.Push(&q.waiting, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("open queue of broker %s: %w", broker, err)
	}
	return q, nil
}

// TaskRecorder records what happens to a task in the transactions of the
// Queue: tasks.DiskStore, in the same database as the Queue.
type TaskRecorder interface {
	DB() *bolt.DB
	// RecordAccepted records a new event in the transaction that stores
	// it.
	RecordAccepted(tx *bolt.Tx, e *event.Event, triggers []string) error
	// RecordOutcome records a delivery's outcome (its reply included) in
	// the transaction that ends it; after runs once that has committed.
	RecordOutcome(tx *bolt.Tx, a eventing.Attempt) (after func(), err error)
}

// RecordTasksWith makes Put record each new event, and DoneRecorded each
// delivery's outcome, with r in the transaction of the Queue's own change,
// so that each waits for one commit instead of two. The Broker then leaves
// those reports to the Queue (see RecordsTasks). r must keep its data in
// the Queue's database. Call it before the first Put.
func (q *Queue) RecordTasksWith(r TaskRecorder) error {
	if r.DB() != q.db {
		return fmt.Errorf("queue of %s: the recorder keeps its data in "+
			"another database", q.bucket)
	}
	q.recorder = r
	return nil
}

// RecordsTasks implements eventing.RecordingQueue.
func (q *Queue) RecordsTasks() bool { return q.recorder != nil }

// Pending returns how many deliveries are waiting or in flight.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.index)
}

// Put implements eventing.Queue.
func (q *Queue) Put(ctx context.Context, e *event.Event, triggers []string) (
	*event.Event, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	key := eventing.EventKey(e)

	var first *event.Event
	var added []*record
	err = q.writes.Write(func(tx *bolt.Tx) error {
		first, added = nil, nil
		b := tx.Bucket(q.bucket)
		if prior := b.Bucket(bucketEvents).Get([]byte(key)); prior != nil {
			first = &event.Event{}
			return json.Unmarshal(prior, first)
		}
		if err := b.Bucket(bucketEvents).Put([]byte(key), raw); err != nil {
			return err
		}
		if added, err = addDeliveries(b, key, triggers); err != nil {
			return err
		}
		if q.recorder != nil {
			return q.recorder.RecordAccepted(tx, e, triggers)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	q.enqueue(added)
	return first, nil
}

// addDeliveries stores one pending delivery of the event with key per
// Trigger, due now.
func addDeliveries(b *bolt.Bucket, key string, triggers []string) (
	[]*record, error) {
	ds := b.Bucket(bucketDeliveries)
	now := time.Now()
	var added []*record
	for _, t := range triggers {
		id, err := ds.NextSequence()
		if err != nil {
			return nil, err
		}
		r := &record{ID: id, Key: key, Trigger: t, Due: now}
		if err := putRecord(ds, r); err != nil {
			return nil, err
		}
		added = append(added, r)
	}
	return added, nil
}

func putRecord(b *bolt.Bucket, r *record) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.Put(idKey(r.ID), v)
}

func idKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, id)
}

// enqueue makes new records visible to Claim and wakes the dispatcher.
func (q *Queue) enqueue(rs []*record) {
	if len(rs) == 0 {
		return
	}
	q.mu.Lock()
	for _, r := range rs {
		q.index[r.ID] = r
		heap.Push(&q.waiting, r)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Claim implements eventing.Queue. A delivery whose event cannot be read
// back is logged into the dead bucket instead of blocking the queue.
func (q *Queue) Claim(now time.Time, max int) ([]eventing.Delivery, time.Time) {
	q.mu.Lock()
	var due []*record
	for len(due) < max && q.waiting.Len() > 0 && !q.waiting[0].Due.After(now) {
		r := heap.Pop(&q.waiting).(*record)
		q.claimed[r.ID] = true
		due = append(due, r)
	}
	var next time.Time
	if q.waiting.Len() > 0 {
		next = q.waiting[0].Due
	}
	q.mu.Unlock()

	if len(due) == 0 {
		return nil, next
	}
	out := make([]eventing.Delivery, 0, len(due))
	_ = q.db.View(func(tx *bolt.Tx) error {
		events := tx.Bucket(q.bucket).Bucket(bucketEvents)
		for _, r := range due {
			d := r.delivery()
			raw := events.Get([]byte(r.Key))
			d.Event = &event.Event{}
			if raw == nil || json.Unmarshal(raw, d.Event) != nil {
				go q.Bury(context.Background(), d, "stored event unreadable")
				continue
			}
			out = append(out, d)
		}
		return nil
	})
	return out, next
}

func (r *record) delivery() eventing.Delivery {
	return eventing.Delivery{
		ID: r.ID, Trigger: r.Trigger, Attempts: r.Attempts,
		DeadLetter: r.DeadLetter, ErrCode: r.ErrCode, ErrData: r.ErrData,
	}
}

// Done implements eventing.Queue.
func (q *Queue) Done(ctx context.Context, d eventing.Delivery,
	reply *event.Event, triggers []string) error {
	err := q.done(d, reply, triggers, nil)
	if err != nil {
		q.release(d.ID)
	}
	return err
}

// DoneRecorded implements eventing.RecordingQueue: Done, with a's outcome
// recorded by the TaskRecorder in the same transaction. When it fails the
// delivery stays claimed, for the caller to try again.
func (q *Queue) DoneRecorded(ctx context.Context, d eventing.Delivery,
	a eventing.Attempt, reply *event.Event, triggers []string) error {
	if q.recorder == nil {
		return fmt.Errorf("complete delivery %d: no task recorder", d.ID)
	}
	return q.done(d, reply, triggers, &a)
}

// done ends d, stores reply with its deliveries and, with a, records the
// outcome, in one transaction.
func (q *Queue) done(d eventing.Delivery, reply *event.Event,
	triggers []string, a *eventing.Attempt) error {
	var raw []byte
	if reply != nil {
		var err error
		if raw, err = json.Marshal(reply); err != nil {
			return fmt.Errorf("encode reply %s: %w", reply.ID(), err)
		}
	}

	var added []*record
	var after func()
	err := q.writes.Write(func(tx *bolt.Tx) error {
		added, after = nil, nil
		if a != nil {
			var err error
			if after, err = q.recorder.RecordOutcome(tx, *a); err != nil {
				return err
			}
		}
		b := tx.Bucket(q.bucket)
		if err := b.Bucket(bucketDeliveries).Delete(idKey(d.ID)); err != nil {
			return err
		}
		if reply == nil {
			return nil
		}
		key := eventing.EventKey(reply)
		events := b.Bucket(bucketEvents)
		if events.Get([]byte(key)) != nil {
			return nil // the same reply was stored before
		}
		if err := events.Put([]byte(key), raw); err != nil {
			return err
		}
		var err error
		added, err = addDeliveries(b, key, triggers)
		return err
	})
	if err != nil {
		return fmt.Errorf("complete delivery %d: %w", d.ID, err)
	}
	if after != nil {
		after()
	}
	q.forget(d.ID)
	q.enqueue(added)
	return nil
}

// Retry implements eventing.Queue.
func (q *Queue) Retry(ctx context.Context, d eventing.Delivery,
	when time.Time) error {
	q.mu.Lock()
	r, ok := q.index[d.ID]
	claimed := q.claimed[d.ID]
	q.mu.Unlock()
	if !ok {
		return fmt.Errorf("retry delivery %d: not pending", d.ID)
	}
	if !claimed {
		// Already waiting: queueing it again would hand it out twice.
		return fmt.Errorf("retry delivery %d: not claimed", d.ID)
	}
	next := *r
	next.Attempts, next.DeadLetter = d.Attempts, d.DeadLetter
	next.ErrCode, next.ErrData, next.Due = d.ErrCode, d.ErrData, when

	err := q.writes.Write(func(tx *bolt.Tx) error {
		return putRecord(tx.Bucket(q.bucket).Bucket(bucketDeliveries), &next)
	})
	if err != nil {
		q.release(d.ID)
		return fmt.Errorf("retry delivery %d: %w", d.ID, err)
	}
	q.mu.Lock()
	*r = next
	delete(q.claimed, d.ID)
	heap.Push(&q.waiting, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Bury implements eventing.Queue.
func (q *Queue) Bury(ctx context.Context, d eventing.Delivery,
	reason string) error {
	q.mu.Lock()
	r, ok := q.index[d.ID]
	q.mu.Unlock()
	if !ok {
		return fmt.Errorf("bury delivery %d: not pending", d.ID)
	}
	dead := *r
	dead.Reason = reason

	err := q.writes.Write(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		if err := b.Bucket(bucketDeliveries).Delete(idKey(d.ID)); err != nil {
			return err
		}
		return putRecord(b.Bucket(bucketDead), &dead)
	})
	if err != nil {
		q.release(d.ID)
		return fmt.Errorf("bury delivery %d: %w", d.ID, err)
	}
	q.forget(d.ID)
	return nil
}

// Wake implements eventing.Queue.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// release makes a claimed delivery due again after a failed update, one
// second from now, so that a passing disk error delays it and loses nothing.
func (q *Queue) release(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r, ok := q.index[id]
	if !ok || !q.claimed[id] {
		return
	}
	delete(q.claimed, id)
	r.Due = time.Now().Add(time.Second)
	heap.Push(&q.waiting, r)
}

func (q *Queue) forget(id uint64) {
	q.mu.Lock()
	delete(q.claimed, id)
	delete(q.index, id)
	q.mu.Unlock()
}

var _ eventing.Queue = (*Queue)(nil)

// dueHeap orders pending deliveries by due time, then id (FIFO).
type dueHeap []*record

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].Due.Equal(h[j].Due) {
		return h[i].ID < h[j].ID
	}
	return h[i].Due.Before(h[j].Due)
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(*record)) }
func (h *dueHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}
