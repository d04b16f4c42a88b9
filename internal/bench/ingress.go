package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferryfn/ferry/devstack"
)

// requestTimeout bounds one HTTP request of the load.
const requestTimeout = 30 * time.Second

// newClient is an HTTP client that keeps a connection per worker alive.
func newClient(workers int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			MaxIdleConns:        2 * workers,
			MaxIdleConnsPerHost: 2 * workers,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// post sends the seq-th event of s to the ingress at base and wants 202.
func post(ctx context.Context, client *http.Client, base string, s scratch,
	seq int64) error {
	req, err := newRequest(ctx, base, s, seq)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post event %d: %w", seq, err)
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("post event %d: read answer: %w", seq, err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("post event %d: %s: %s", seq, resp.Status, answer)
	}
	return nil
}

// ingress measures the ingress at concurrency c on be: a RoleIngress stack
// on RabbitMQ and Redis (no consumer runs; events pile up in the Trigger
// queue), or on the embedded store a RoleAll stack, `ferry dev` as it
// runs, whose dispatcher delivers to a trivial subscriber meanwhile.
func (b *bencher) ingress(ctx context.Context, be backend, c int) (
	Throughput, error) {
	phase := fmt.Sprintf("ingress-%d", c)
	role := devstack.RoleIngress
	if be == embedded {
		phase, role = "embedded-"+phase, devstack.RoleAll
	}
	s := newScratch(b.run, phase)
	sub := newSubscriber(s, 0, false, nil)
	defer sub.Close()
	cfg, err := writeConfig(b.tempDir(s), sub.URL(), 0)
	if err != nil {
		return Throughput{}, err
	}
	st, err := startStack(ctx, b.o, s, cfg, b.tempDir(s), role, be)
	if err != nil {
		return Throughput{}, err
	}

	client := newClient(c)
	t, err := drive(ctx, c, b.o.Warmup, b.o.Duration, b.cpu,
		func(ctx context.Context, seq int64) error {
			return post(ctx, client, st.URL(), s, seq)
		})
	client.CloseIdleConnections()
	if cerr := closeStack(st); err == nil && cerr != nil {
		err = fmt.Errorf("close stack: %w", cerr)
	}
	if be == onRabbit {
		b.dropTopology(s)
		b.dropTasks(s, t.Issued)
	}
	return t, err
}
