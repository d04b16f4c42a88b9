package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/internal/boltcommit"

	"github.com/ferryfn/ferry/eventing"
)

var (
	bucketTasks   = []byte("tasks")
	bucketEvents  = []byte("task-events")
	bucketResults = []byte("task-results")
)

// DiskStore keeps tasks in a bbolt database, the one the embedded Broker
// uses, so that `ferry dev` needs a single data directory. Layout:
//
//	tasks         task id                     -> Task (JSON)
//	task-events   task id + "\x00" + event key -> the whole event (JSON)
//	task-results  task id                     -> event key of the result
type DiskStore struct {
	db       *bolt.DB
	writes   *boltcommit.Writer // commits of db
	now      func() time.Time
	finished finishWaiters
}

// NewDiskStore returns a store in db, creating its buckets if needed.
func NewDiskStore(db *bolt.DB) (*DiskStore, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTasks, bucketEvents, bucketResults} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open task store: %w", err)
	}
	return &DiskStore{db: db, writes: boltcommit.New(db), now: time.Now}, nil
}

// Get implements Reader.
func (s *DiskStore) Get(ctx context.Context, id string) (*Task, error) {
	var t *Task
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		t, err = loadTask(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return t, nil
}

// Result implements Reader.
func (s *DiskStore) Result(ctx context.Context, id string) (*event.Event, error) {
	var e *event.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketTasks).Get([]byte(id)) == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		key := tx.Bucket(bucketResults).Get([]byte(id))
		if key == nil {
			return fmt.Errorf("%w: %s", ErrNoResult, id)
		}
		raw := tx.Bucket(bucketEvents).Get(eventRowKey(id, string(key)))
		if raw == nil {
			return fmt.Errorf("result of task %s: event missing", id)
		}
		e = &event.Event{}
		return json.Unmarshal(raw, e)
	})
	return e, err
}

// Routed implements eventing.Observer: it records e as an event of its task
// and a pending delivery per Trigger.
func (s *DiskStore) Routed(ctx context.Context, kind eventing.EventKind,
	e *event.Event, triggers []string) error {
	var finished bool
	err := s.writes.Write(func(tx *bolt.Tx) (err error) {
		finished, err = s.routedIn(tx, kind, e, triggers)
		return err
	})
	if err != nil {
		return err
	}
	if finished {
		s.finished.wake(eventing.TaskID(e))
	}
	return nil
}

// routedIn applies a Routed report within tx and reports whether the task
// is finished.
func (s *DiskStore) routedIn(tx *bolt.Tx, kind eventing.EventKind,
	e *event.Event, triggers []string) (finished bool, err error) {
	id := eventing.TaskID(e)
	raw, err := e.MarshalJSON()
	if err != nil {
		return false, fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	now := s.now()
	finished, err = updateIn(tx, id, e, now, func(tx *bolt.Tx, t *Task) error {
		c, err := applyRouted(t, kind, e, triggers, raw, now)
		if err != nil {
			return err
		}
		return keepChange(tx, id, c)
	})
	if err != nil {
		return false, fmt.Errorf("update task %s: %w", id, err)
	}
	return finished, nil
}

// Attempted implements eventing.Observer: it records the progress of one
// delivery.
func (s *DiskStore) Attempted(ctx context.Context, a eventing.Attempt) error {
	var after func()
	err := s.writes.Write(func(tx *bolt.Tx) (err error) {
		after, err = s.RecordOutcome(tx, a)
		return err
	})
	if err != nil {
		return err
	}
	after()
	return nil
}

// updateIn runs fn on task id (created from e if the store has not seen it)
// within tx, then derives the task's state and saves it; it reports
// whether the task is finished.
func updateIn(tx *bolt.Tx, id string, e *event.Event, now time.Time,
	fn func(*bolt.Tx, *Task) error) (finished bool, err error) {
	t, err := loadTask(tx, id)
	if err != nil {
		return false, err
	}
	if t == nil {
		t = newTask(id, e, now)
	}
	if err := fn(tx, t); err != nil {
		return false, err
	}
	t.derive(now)
	return t.State.Finished(), saveTask(tx, t)
}

// RecordOutcome records an Attempted report, a delivery's outcome, as
// Attempted does, but in tx: the transaction in which the embedded Broker
// ends the delivery (see embedded.Queue.RecordTasksWith). after wakes the
// long polls of the task if it finished; call it once tx has committed.
func (s *DiskStore) RecordOutcome(tx *bolt.Tx, a eventing.Attempt) (
	after func(), err error) {
	id := eventing.TaskID(a.Event)
	now := a.At
	if now.IsZero() {
		now = s.now()
	}
	reply, err := replyJSON(a)
	if err != nil {
		return nil, err
	}
	finished, err := updateIn(tx, id, a.Event, now, func(tx *bolt.Tx, t *Task) error {
		c, err := applyOutcome(t, a, reply, now)
		if err != nil {
			return err
		}
		return keepChange(tx, id, c)
	})
	if err != nil {
		return nil, fmt.Errorf("update task %s: %w", id, err)
	}
	return func() {
		if finished {
			s.finished.wake(id)
		}
	}, nil
}

// DB is the database the store keeps its tasks in.
func (s *DiskStore) DB() *bolt.DB { return s.db }

// RecordAccepted records e as an accepted event with a pending delivery per
// Trigger, as Routed does, but in tx: the transaction in which the embedded
// Broker stores e, so that the event and its task are committed together
// (see embedded.Queue.RecordTasksWith). Nothing is finished by it, so
// no long poll needs waking.
func (s *DiskStore) RecordAccepted(tx *bolt.Tx, e *event.Event,
	triggers []string) error {
	_, err := s.routedIn(tx, eventing.KindAccepted, e, triggers)
	return err
}

// WaitFinished implements Notifier, for the updates of this process.
func (s *DiskStore) WaitFinished(id string) (<-chan struct{}, func()) {
	return s.finished.wait(id)
}

// stored is a Task as kept on disk: the public view plus what the store
// needs to derive it.
type stored struct {
	Task
	Failure string `json:"failure,omitempty"`
}

func loadTask(tx *bolt.Tx, id string) (*Task, error) {
	raw := tx.Bucket(bucketTasks).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	var st stored
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decode task %s: %w", id, err)
	}
	st.Task.failure = st.Failure
	return &st.Task, nil
}

func saveTask(tx *bolt.Tx, t *Task) error {
	raw, err := encodeTask(t)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).Put([]byte(t.ID), raw)
}

// keepChange stores what a report adds beside task id: whole events for
// Result and the result pointer.
func keepChange(tx *bolt.Tx, id string, c change) error {
	for _, k := range c.kept {
		err := tx.Bucket(bucketEvents).Put(eventRowKey(id, k.key), k.raw)
		if err != nil {
			return err
		}
	}
	if c.result == "" {
		return nil
	}
	return tx.Bucket(bucketResults).Put([]byte(id), []byte(c.result))
}

func eventRowKey(taskID, eventKey string) []byte {
	return []byte(taskID + "\x00" + eventKey)
}

var _ eventing.Observer = (*DiskStore)(nil)
var _ Reader = (*DiskStore)(nil)
