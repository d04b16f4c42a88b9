package tasks

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/internal/testservices"
)

func TestSilentRedisFailsConcurrentReportsWithinTheTimeouts(t *testing.T) {
	u, err := url.Parse(redisTestURL())
	if err != nil {
		t.Fatal(err)
	}
	px := testservices.StartProxy(t, u.Host)
	through := *u
	through.Host = px.Addr()
	prefix := redisTestPrefix(t)
	s, err := OpenRedis(context.Background(), through.String(),
		RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Close()
		redisTestDeletePrefix(t, prefix)
	})
	ctx := context.Background()
	redisTestMust(t, s.Routed(ctx, eventing.KindAccepted,
		redisTestAccepted("before", "dev.ferry.test", "", nil), []string{"t"}))

	px.Freeze(true) // a split without a reset: nothing passes, nothing closes
	// 32 producers at once, as the ingress's requests would be: each must
	// get its error within the client's timeouts (1 s read, one retry),
	// not queue behind the other commands stuck in the automatic
	// pipeline.
	const producers = 32
	var wg sync.WaitGroup
	took := make([]time.Duration, producers)
	errs := make([]error, producers)
	for i := range producers {
		wg.Go(func() {
			start := time.Now()
			errs[i] = s.Routed(ctx, eventing.KindAccepted, redisTestAccepted(
				fmt.Sprint("silent-", i), "dev.ferry.test", "", nil), []string{"t"})
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	bound := s.commandTimeout + 2*time.Second // scheduling slack
	for i := range producers {
		if errs[i] == nil {
			t.Errorf("producer %d: recorded with Redis silent", i)
		}
		if took[i] > bound {
			t.Errorf("producer %d: failed after %v, want within %v", i,
				took[i], bound)
		}
	}
}
