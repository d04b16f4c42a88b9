package tasks

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// BenchmarkRedisAccept is the task store's share of one accepted event on
// RabbitMQ: claim the event key, mark it stored, record the task, as the
// ingress does for every 202, from 64 goroutines (the bench's
// concurrency). It needs the Redis of FERRY_REDIS_URL.
func BenchmarkRedisAccept(b *testing.B) {
	s := redisTestStore(b, RedisOptions{})
	p := s.Published()
	data := []byte(`{"n":"` + strings.Repeat("x", 1000) + `"}`)
	var seq atomic.Int64
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			e := redisTestAccepted(fmt.Sprint("acc-", n), "bench.accept",
				"application/json", data)
			key, task := eventing.EventKey(e), eventing.TaskID(e)
			if _, dup, _, err := p.Claim(ctx, key, task, task, time.Now().Add(ClaimTTL)); err != nil || dup {
				b.Fatalf("claim %d: dup %v, %v", n, dup, err)
			}
			if err := p.Stored(ctx, key, task); err != nil {
				b.Fatal(err)
			}
			if err := s.Routed(ctx, eventing.KindAccepted, e,
				[]string{"t"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
