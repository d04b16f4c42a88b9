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
// implements the RabbitMQ backend's Deduper: a key holds
// "p:<task>:<token>" while the publish of the claim with that token is
// under way (for ClaimTTL at most) and "s:<task>" once RabbitMQ confirmed
// it.
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

// claimValue is what a key holds while the claim for taskID made as
// token is under way.
func claimValue(taskID, token string) string {
	return claimMark + taskID + ":" + token
}

// Claim implements the Deduper: SET NX of a claim, or the earlier value.
// The claim expires at expires, a time and not a duration, so that a SET
// that reaches Redis late holds the key no longer (or not at all).
func (p Published) Claim(ctx context.Context, key, taskID, token string,
	expires time.Time) (string, bool, bool, error) {
	var prior string
	mine := claimValue(taskID, token)
	err := p.s.do(ctx, func(ctx context.Context, r redis.Cmdable) (err error) {
		prior, err = r.SetArgs(ctx, p.key(key), mine, redis.SetArgs{
			Mode: "NX", ExpireAt: expires.Truncate(time.Millisecond),
			Get: true}).Result()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil), err == nil && prior == mine:
		return "", false, false, nil
	case err != nil:
		return "", false, false, fmt.Errorf("claim %q: %w", key, err)
	}
	first, pending := readMark(prior)
	return first, true, pending, nil
}

// readMark splits a stored value into its task and whether it is a claim.
// A value without a mark (an older store) is a stored event; a claim
// without a token (an older ingress) is all task.
func readMark(v string) (task string, pending bool) {
	if t, ok := strings.CutPrefix(v, claimMark); ok {
		if i := strings.LastIndexByte(t, ':'); i >= 0 {
			t = t[:i]
		}
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

// Release implements the Deduper: the key is deleted if it holds the
// claim of taskID made as token.
func (p Published) Release(ctx context.Context, key, taskID,
	token string) error {
	err := p.s.do(ctx, func(ctx context.Context, r redis.Cmdable) error {
		return releaseScript.Run(ctx, r, []string{p.key(key)},
			claimValue(taskID, token)).Err()
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
// "p:<task>:<token>:<unix nanoseconds>" and counts for ClaimTTL.
type DiskPublished struct{ s *DiskStore }

// Published returns the store's record of published events.
func (s *DiskStore) Published() DiskPublished { return DiskPublished{s} }

// Claim implements the RabbitMQ backend's Deduper. The claim counts for
// ClaimTTL by the store's own clock; expires is not needed, as a write to
// the local file cannot land late.
func (p DiskPublished) Claim(ctx context.Context, key, taskID, token string,
	_ time.Time) (first string, dup, pending bool, err error) {
	now := p.s.now()
	err = p.s.writes.Write(func(tx *bolt.Tx) error {
		first, dup, pending = "", false, false
		b, err := tx.CreateBucketIfNotExists(bucketPublished)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(key)); v != nil {
			m := readDiskMark(string(v))
			if m.claimed && m.token == token && m.task == taskID {
				return nil
			}
			if !m.claimed || now.Sub(m.at) < ClaimTTL {
				first, dup, pending = m.task, true, m.claimed
				return nil
			}
		}
		mark := fmt.Sprintf("%s:%d", claimValue(taskID, token), now.UnixNano())
		return b.Put([]byte(key), []byte(mark))
	})
	if err != nil {
		return "", false, false, fmt.Errorf("claim %q: %w", key, err)
	}
	return first, dup, pending, nil
}

// diskMark is a DiskPublished value read: the task of a stored event, or
// the task, token and time of a claim.
type diskMark struct {
	task, token string
	claimed     bool
	at          time.Time
}

// readDiskMark reads a DiskPublished value.
func readDiskMark(v string) diskMark {
	rest, ok := strings.CutPrefix(v, claimMark)
	if !ok {
		return diskMark{task: strings.TrimPrefix(v, storedMark)}
	}
	m := diskMark{claimed: true}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		ns, _ := strconv.ParseInt(rest[i+1:], 10, 64)
		m.at, rest = time.Unix(0, ns), rest[:i]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		m.token, rest = rest[i+1:], rest[:i]
	}
	m.task = rest
	return m
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
func (p DiskPublished) Release(ctx context.Context, key, taskID,
	token string) error {
	err := p.s.writes.Write(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPublished)
		if b == nil {
			return nil
		}
		m := readDiskMark(string(b.Get([]byte(key))))
		if m.claimed && m.task == taskID && m.token == token {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release %q: %w", key, err)
	}
	return nil
}
