package tasks

import (
	"context"
	"testing"
	"time"
)

// deduper is the RabbitMQ backend's Deduper, as both stores implement it.
type deduper interface {
	Claim(ctx context.Context, key, taskID, token string,
		expires time.Time) (string, bool, bool, error)
	Stored(ctx context.Context, key, taskID string) error
	Release(ctx context.Context, key, taskID, token string) error
}

// checkClaims drives a Deduper through a claim, a concurrent copy, a
// release after a failed publish, and a store. Task names double as
// tokens, except where two attempts at one task are the point.
func checkClaims(t *testing.T, d deduper) {
	ctx := context.Background()
	claimAs := func(key, task, token string) (string, bool, bool) {
		t.Helper()
		first, dup, pending, err := d.Claim(ctx, key, task, token,
			time.Now().Add(ClaimTTL))
		if err != nil {
			t.Fatal(err)
		}
		return first, dup, pending
	}
	claim := func(key, task string) (string, bool, bool) {
		t.Helper()
		return claimAs(key, task, task)
	}

	if _, dup, _ := claim("k1", "task-1"); dup {
		t.Fatal("first claim reported a duplicate")
	}
	if first, dup, pending := claim("k1", "task-2"); !dup || !pending || first != "task-1" {
		t.Errorf("copy during the publish: %q dup %v pending %v; want task-1, true, true",
			first, dup, pending)
	}
	// A claim command tried again after its first try landed finds its
	// own claim: not a duplicate of itself.
	if _, dup, _ := claim("k1", "task-1"); dup {
		t.Error("a retried claim took itself for a duplicate")
	}
	if err := d.Release(ctx, "k1", "task-2", "task-2"); err != nil {
		t.Fatal(err)
	}
	if _, _, pending := claim("k1", "task-3"); !pending {
		t.Error("another task's release dropped the claim")
	}
	// Another attempt at the same task (a repost whose claim answer was
	// lost) must not drop the claim of the attempt that is publishing.
	if err := d.Release(ctx, "k1", "task-1", "other-attempt"); err != nil {
		t.Fatal(err)
	}
	if _, _, pending := claimAs("k1", "task-1", "third-attempt"); !pending {
		t.Error("another attempt's release dropped the claim")
	}
	if err := d.Release(ctx, "k1", "task-1", "task-1"); err != nil {
		t.Fatal(err)
	}
	if _, dup, _ := claim("k1", "task-4"); dup {
		t.Error("after the release the key is still taken")
	}
	if err := d.Stored(ctx, "k1", "task-4"); err != nil {
		t.Fatal(err)
	}
	if first, dup, pending := claim("k1", "task-5"); !dup || pending || first != "task-4" {
		t.Errorf("after Stored: %q dup %v pending %v; want task-4, true, false",
			first, dup, pending)
	}
}

func TestRedisPublishedClaimsEachEventOnce(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	checkClaims(t, s.Published())
	if ttl := s.client.PTTL(context.Background(), s.prefix+"event:k1").Val(); ttl <= ClaimTTL {
		t.Errorf("stored record TTL %v, want the retention", ttl)
	}
}

// A claim lasts until the time it was given, not a duration from when
// Redis got it: a claim command held up past that time holds nothing.
func TestRedisClaimExpiresAtItsTime(t *testing.T) {
	s := redisTestStore(t, RedisOptions{})
	p := s.Published()
	ctx := context.Background()
	at := time.Now().Add(1500 * time.Millisecond)
	if _, dup, _, err := p.Claim(ctx, "k3", "task", "t", at); err != nil || dup {
		t.Fatalf("claim = dup %v, %v", dup, err)
	}
	ttl := s.client.PTTL(ctx, s.prefix+"event:k3").Val()
	if ttl <= 0 || ttl > 1500*time.Millisecond {
		t.Errorf("claim lasts %v, want at most 1.5 s", ttl)
	}
	late := time.Now().Add(-time.Second)
	if _, dup, _, err := p.Claim(ctx, "k4", "task", "t", late); err != nil || dup {
		t.Fatalf("late claim = dup %v, %v", dup, err)
	}
	if n := s.client.Exists(ctx, s.prefix+"event:k4").Val(); n != 0 {
		t.Error("a claim that came after its expiry holds the key")
	}
}

func TestDiskPublishedClaimsEachEventOnce(t *testing.T) {
	f := newDiskFixture(t)
	checkClaims(t, f.store.Published())

	// A claim left by a process that died counts for ClaimTTL only.
	p := f.store.Published()
	if _, dup, _, _ := p.Claim(context.Background(), "k2", "dead", "t1", time.Time{}); dup {
		t.Fatal("fresh key taken")
	}
	f.clock = f.clock.Add(ClaimTTL + time.Second)
	if _, dup, _, _ := p.Claim(context.Background(), "k2", "alive", "t2", time.Time{}); dup {
		t.Error("an expired claim still holds the key")
	}
}
