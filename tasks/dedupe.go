package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Published is the record of which events a broker backend has stored, by
// eventing.EventKey, kept in the task store's Redis for Retention. The
// RabbitMQ backend asks it before it publishes (RabbitMQ cannot tell a
// resubmitted event) and tells it once RabbitMQ confirmed the publish; it
// implements that backend's Deduper.
type Published struct{ s *RedisStore }

// Published returns the store's record of published events.
func (s *RedisStore) Published() Published { return Published{s} }

func (p Published) key(eventKey string) string { return p.s.prefix + "event:" + eventKey }

// Seen reports whether an event with key was stored before and, if so, the
// id of the task it started.
func (p Published) Seen(ctx context.Context, key string) (string, bool, error) {
	task, err := p.s.client.Get(ctx, p.key(key)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("seen %q: %w", key, err)
	}
	return task, true, nil
}

// Stored records that the event with key, of task taskID, is stored. The
// first record of a key wins; it expires after Retention.
func (p Published) Stored(ctx context.Context, key, taskID string) error {
	err := p.s.client.SetArgs(ctx, p.key(key), taskID,
		redis.SetArgs{Mode: "NX", TTL: p.s.retention}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("stored %q: %w", key, err)
	}
	return nil
}

// Seen remembers that the event key was first seen as task taskID, for
// Retention, in one step: it answers the task id stored by the first call
// for the key and dup=false to that first call, and that id with dup=true
// to every later one until the key expires (a later call does not extend
// it).
func (s *RedisStore) Seen(ctx context.Context, key, taskID string) (
	firstTaskID string, dup bool, err error) {
	first, err := s.client.SetArgs(ctx, s.prefix+"event:"+key, taskID,
		redis.SetArgs{Mode: "NX", TTL: s.retention, Get: true}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return taskID, false, nil
	case err != nil:
		return "", false, fmt.Errorf("seen %q: %w", key, err)
	}
	return first, true, nil
}

// bucketPublished holds the DiskStore's record of published events.
var bucketPublished = []byte("published-events")

// DiskPublished is Published for a DiskStore: the record lives in the same
// bbolt file and does not expire.
type DiskPublished struct{ s *DiskStore }

// Published returns the store's record of published events.
func (s *DiskStore) Published() DiskPublished { return DiskPublished{s} }

// Seen reports whether an event with key was stored before and, if so, the
// id of the task it started.
func (p DiskPublished) Seen(ctx context.Context, key string) (string, bool, error) {
	var task string
	err := p.s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPublished)
		if b == nil {
			return nil
		}
		task = string(b.Get([]byte(key)))
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("seen %q: %w", key, err)
	}
	return task, task != "", nil
}

// Stored records that the event with key, of task taskID, is stored. The
// first record of a key wins.
func (p DiskPublished) Stored(ctx context.Context, key, taskID string) error {
	err := p.s.db.Batch(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPublished)
		if err != nil || b.Get([]byte(key)) != nil {
			return err
		}
		return b.Put([]byte(key), []byte(taskID))
	})
	if err != nil {
		return fmt.Errorf("stored %q: %w", key, err)
	}
	return nil
}
