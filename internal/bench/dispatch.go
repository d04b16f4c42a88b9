package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/ferryfn/ferry/devstack"
)

// prepublishConcurrency is how many publishers fill a dispatch point's
// queue.
const prepublishConcurrency = 64

// settle is how long a dispatch point waits after its last delivery
// before it closes its stack.
const settle = 250 * time.Millisecond

// dispatch pre-publishes Events events through Ferry's Broker into a
// Trigger queue whose Trigger has parallelism p, then starts a
// RoleDispatch stack on RabbitMQ and Redis and times its deliveries to
// the trivial subscriber, from the first to the last.
func (b *bencher) dispatch(ctx context.Context, p int) (Drain, error) {
	s := newScratch(b.run, fmt.Sprintf("dispatch-%d", p))
	n := b.o.Events
	defer b.dropTopology(s)
	defer b.dropTasks(s, int64(n))

	sub := newSubscriber(s, n, false, b.cpu)
	defer sub.Close()
	cfg, err := writeConfig(b.tempDir(s), sub.URL(), p)
	if err != nil {
		return Drain{}, err
	}
	if err := b.prepublish(ctx, s, cfg, n); err != nil {
		return Drain{}, err
	}

	st, err := startStack(ctx, b.o, s, cfg, b.tempDir(s),
		devstack.RoleDispatch, onRabbit)
	if err != nil {
		return Drain{}, err
	}
	waitDrained(ctx, sub, b.o.DrainTimeout)
	// The last deliveries are acked a moment after the subscriber saw
	// them; closing before would have RabbitMQ deliver them again.
	pause(ctx, settle)
	if err := closeStack(st); err != nil {
		return Drain{}, fmt.Errorf("close stack: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Drain{}, err
	}
	return sub.drained(n), nil
}

// prepublish publishes events 1 to n of s through Ferry's Broker, with
// Ferry's stamps and encoding, each task recorded in Redis as the ingress
// records it.
func (b *bencher) prepublish(ctx context.Context, s scratch, c config,
	n int) error {
	pb, err := openPublisherBroker(ctx, b.o, s, c, true)
	if err != nil {
		return err
	}
	err = fanOut(ctx, prepublishConcurrency, n,
		func(ctx context.Context, seq int64) error {
			_, err := pb.Publish(ctx, newEvent(s, seq))
			return err
		})
	if cerr := pb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pre-publish %s: %w", s.ns, err)
	}
	return nil
}
