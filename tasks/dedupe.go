package tasks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// Published is the record of which events a broker backend has stored, by
// eventing.EventKey, kept in the task store's Redis for Retention. It
// implements the RabbitMQ backend's Deduper: a key holds "p:<task>" while
// its publish is under way (for ClaimTTL at most) and "s:<task>" once
// RabbitMQ confirmed it.
type Published struct{ s *RedisStore }

// Published returns the store's record of published events.
func (s *RedisStore) Published() Published { return Published{s} }

// ClaimTTL bounds a claim that is neither stored nor released (its process
// died): 30 s, longer than any publish may take.
const ClaimTTL = 30 * time.Second

const (
	claimMark  = "p:"
	storedMark = "s:"
)

func (p Published) key(eventKey string) string { return p.s.prefix + "event:" + eventKey }

// Claim implements the Deduper: SET NX of a claim, or the earlier value.
func (p Published) Claim(ctx context.Context, key, taskID string) (
	string, bool, bool, error) {
	var prior string
	err := p.s.do(ctx, func(ctx context.Context, c redis.Cmdable) (err error) {
		prior, err = c.SetArgs(ctx, p.key(key), claimMark+taskID,
			redis.SetArgs{Mode: "NX", TTL: ClaimTTL, Get: true}).Result()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, false, nil
	case err != nil:
		return "", false, false, fmt.Errorf("claim %q: %w", key, err)
	}
	first, pending := readMark(prior)
	return first, true, pending, nil
}

// readMark splits a stored value into its task and whether it is a claim.
// A value without a mark (an older store) is a stored event.
func readMark(v string) (task string, pending bool) {
	if t, ok := strings.CutPrefix(v, claimMark); ok {
		return t, true
	}
	return strings.TrimPrefix(v, storedMark), false
}

// Stored implements the Deduper: the key now names a stored event, kept
// for Retention.
func (p Published) Stored(ctx context.Context, key, taskID string) error {
	err := p.s.do(ctx, func(ctx context.Context, c redis.Cmdable) error {
		return c.Set(ctx, p.key(key), storedMark+taskID, p.s.retention).Err()
	})
	if err != nil {
		return fmt.Errorf("stored %q: %w", key, err)
	}
	return nil
}

// releaseScript deletes KEYS[1] if it still holds the claim ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)

// Release implements the Deduper: the claim of taskID on key is dropped.
func (p Published) Release(ctx context.Context, key, taskID string) error {
	err := p.s.do(ctx, func(ctx context.Context, c redis.Cmdable) error {
		return releaseScript.Run(ctx, c, []string{p.key(key)},
			claimMark+taskID).Err()
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("release %q: %w", key, err)
	}
	return nil
}

// bucketPublished holds the DiskStore's record of published events.
var bucketPublished = []byte("published-events")

// DiskPublished is Published for a DiskStore: the record lives in the same
// bbolt file and a stored event's record does not expire. A claim holds
// "p:<task>:<unix nanoseconds>" and counts for ClaimTTL.
type DiskPublished struct{ s *DiskStore }

// Published returns the store's record of published events.
func (s *DiskStore) Published() DiskPublished { return DiskPublished{s} }

// Claim implements the RabbitMQ backend's Deduper.
func (p DiskPublished) Claim(ctx context.Context, key, taskID string) (
	first string, dup, pending bool, err error) {
	now := p.s.now()
	err = p.s.writes.Write(func(tx *bolt.Tx) error {
		first, dup, pending = "", false, false
		b, err := tx.CreateBucketIfNotExists(bucketPublished)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); v != nil {
			task, claimed, at := readDiskMark(string(v))
			if !claimed || now.Sub(at) < ClaimTTL {
				first, dup, pending = task, true, claimed
				return nil
			}
		}
		mark := fmt.Sprintf("%s%s:%d", claimMark, taskID, now.UnixNano())
		return b.Put([]byte(key), []byte(mark))
	})
	if err != nil {
		return "", false, false, fmt.Errorf("claim %q: %w", key, err)
	}
	return first, dup, pending, nil
}

// readDiskMark reads a DiskPublished value.
func readDiskMark(v string) (task string, claimed bool, at time.Time) {
	rest, ok := strings.CutPrefix(v, claimMark)
	if !ok {
		return strings.TrimPrefix(v, storedMark), false, time.Time{}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return rest, true, time.Time{}
	}
	ns, _ := strconv.ParseInt(rest[i+1:], 10, 64)
	return rest[:i], true, time.Unix(0, ns)
}

// Stored implements the Deduper.
func (p DiskPublished) Stored(ctx context.Context, key, taskID string) error {
	err := p.s.writes.Write(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPublished)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte(storedMark+taskID))
	})
	if err != nil {
		return fmt.Errorf("stored %q: %w", key, err)
	}
	return nil
}

// Release implements the Deduper.
func (p DiskPublished) Release(ctx context.Context, key, taskID string) error {
	err := p.s.writes.Write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPublished)
		if b == nil {
			return nil
		}
		if task, claimed, _ := readDiskMark(string(b.Get([]byte(key)))); claimed &&
			task == taskID {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release %q: %w", key, err)
	}
	return nil
}
