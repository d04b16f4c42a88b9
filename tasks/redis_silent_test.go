package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// silentProxy forwards TCP to a Redis until silence is called; from then
// on it keeps every connection open but passes nothing either way, as a
// network split without a reset does.
type silentProxy struct {
	ln     net.Listener
	target string
	quiet  atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startSilentProxy(t *testing.T, target string) *silentProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &silentProxy{ln: ln, target: target}
	t.Cleanup(p.close)
	go p.serve()
	return p
}

func (p *silentProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

// pipe copies from src to dst while the proxy is not quiet; once quiet it
// reads and drops.
func (p *silentProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.quiet.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				_ = dst.Close()
			}
			return
		}
	}
}

func (p *silentProxy) silence() { p.quiet.Store(true) }

func (p *silentProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

func (p *silentProxy) url(t *testing.T) string {
	u, err := url.Parse(redisTestURL())
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	u.Host = p.ln.Addr().String()
	if target != p.target {
		t.Fatalf("proxy of %s for URL host %s", p.target, target)
	}
	return u.String()
}

func TestSilentRedisFailsConcurrentReportsWithinTheTimeouts(t *testing.T) {
	u, err := url.Parse(redisTestURL())
	if err != nil {
		t.Fatal(err)
	}
	px := startSilentProxy(t, u.Host)
	prefix := redisTestPrefix(t)
	s, err := OpenRedis(context.Background(), px.url(t), RedisOptions{Prefix: prefix})
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

	px.silence()
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
