package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The floors measure the least an HTTP service in front of RabbitMQ
// costs on this machine, with none of Ferry in it: the same HTTP load
// generator, subscriber and raw amqp091-go calls as the other points, Go's
// net/http at both ends (Ferry's gin ingress runs on it), and nothing
// else. An ingress or dispatcher built on net/http does more per event
// than a floor, so a floor's ratio to the raw ceiling bounds the ratio
// that (b) and (c) can reach in this bench on the machine.

// floorIngress serves POST with a bare net/http handler that reads the
// body, publishes the raw ceiling's message with the posted event's id
// through the raw publisher (persistent, mandatory, waiting for its
// confirm), and answers 202; the load is (b)'s, at concurrency c. There
// is no CloudEvent decoding, no task store and no claim.
func (b *bencher) floorIngress(ctx context.Context, c int) (Throughput,
	error) {
	s := newScratch(b.run, fmt.Sprintf("floor-ingress-%d", c))
	defer b.dropTopology(s)
	p, err := b.openRaw(ctx, s)
	if err != nil {
		return Throughput{}, err
	}
	defer p.Close()
	srv := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			seq, err := strconv.ParseInt(r.Header.Get("Ce-Id"), 10, 64)
			if err != nil {
				http.Error(w, "Ce-Id is not a number", http.StatusBadRequest)
				return
			}
			if err := p.publish(r.Context(), seq); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}))
	defer srv.Close()

	client := newClient(c)
	defer client.CloseIdleConnections()
	return drive(ctx, c, b.o.Warmup, b.o.Duration, b.cpu,
		func(ctx context.Context, seq int64) error {
			return post(ctx, client, srv.URL, s, seq)
		})
}

// floorDispatch pre-publishes Events raw messages and drains them with
// amqp091-go alone: one consumer with prefetch max(ConsumePrefetch, p),
// p workers that each POST a message to the trivial subscriber as a
// binary-mode CloudEvent (its string headers as Ce- headers, its body as
// the body) and ack it once the answer is 2xx. There is no task store,
// no retry and no filter.
func (b *bencher) floorDispatch(ctx context.Context, p int) (Drain, error) {
	s := newScratch(b.run, fmt.Sprintf("floor-dispatch-%d", p))
	defer b.dropTopology(s)
	n := b.o.Events
	pub, err := b.openRaw(ctx, s)
	if err != nil {
		return Drain{}, err
	}
	err = fanOut(ctx, prepublishConcurrency, n, pub.publish)
	pub.Close()
	if err != nil {
		return Drain{}, fmt.Errorf("pre-publish: %w", err)
	}

	sub := newSubscriber(s, n, false, b.cpu)
	defer sub.Close()
	conn, err := amqp.Dial(b.o.AMQPURL)
	if err != nil {
		return Drain{}, fmt.Errorf("floor consumer: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(max(ConsumePrefetch, p), 0, false)
	}
	if err != nil {
		return Drain{}, fmt.Errorf("floor consumer: %w", err)
	}
	deliveries, err := ch.Consume(s.queue(), "", false, false, false, false,
		nil)
	if err != nil {
		return Drain{}, fmt.Errorf("floor consumer: %w", err)
	}

	client := newClient(p)
	defer client.CloseIdleConnections()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range p {
		wg.Add(1)
		go func() {
			defer wg.Done()
			forward(wctx, client, sub.URL(), deliveries)
		}()
	}
	drained := waitDrained(ctx, sub, b.o.DrainTimeout)
	stop()
	wg.Wait()
	if !drained {
		if err := ctx.Err(); err != nil {
			return Drain{}, err
		}
	}
	return sub.drained(n), nil
}

// forward POSTs each delivery to url and acks it on a 2xx answer, or
// requeues it, until ctx ends or deliveries close.
func forward(ctx context.Context, client *http.Client, url string,
	deliveries <-chan amqp.Delivery) {
	for {
		var m amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return
		case m, ok = <-deliveries:
			if !ok {
				return
			}
		}
		if deliver(ctx, client, url, m) {
			_ = m.Ack(false)
		} else {
			_ = m.Nack(false, true)
		}
	}
}

// deliver sends m to url as a binary-mode CloudEvent and reports a 2xx.
func deliver(ctx context.Context, client *http.Client, url string,
	m amqp.Delivery) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url,
		bytes.NewReader(m.Body))
	if err != nil {
		return false
	}
	for k, v := range m.Headers {
		sv, ok := v.(string)
		if ok && k != "content-type" && !strings.HasPrefix(k, "x-") {
			req.Header.Set("Ce-"+k, sv)
		}
	}
	req.Header.Set("Content-Type", m.ContentType)
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// waitDrained waits until sub has every event, timeout passes or ctx
// ends, and reports the first.
func waitDrained(ctx context.Context, sub *subscriber,
	timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-sub.all:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
