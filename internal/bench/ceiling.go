package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferryfn/ferry/eventing/rabbitmq"
)

// errNacked is a publish RabbitMQ refused, or whose channel closed before
// the confirm.
var errNacked = errors.New("publish not confirmed")

// rawPublisher publishes with amqp091-go alone the way Ferry's publisher
// does: one connection, rabbitmq.PublisherChannels channels in confirm
// mode taken in turn, mandatory persistent publishes to the Broker's
// exchange, each caller waiting for its own confirm.
type rawPublisher struct {
	conn     *amqp.Connection
	chans    []*amqp.Channel
	exchange string
	tmpl     amqp.Publishing
	turn     atomic.Uint64
	tags     atomic.Uint64
}

func openRawPublisher(amqpURL, exchange string, tmpl amqp.Publishing) (
	*rawPublisher, error) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return nil, fmt.Errorf("raw publisher: %w", err)
	}
	p := &rawPublisher{conn: conn, exchange: exchange, tmpl: tmpl}
	for range rabbitmq.PublisherChannels {
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("raw publisher channel: %w", err)
		}
		p.chans = append(p.chans, ch)
	}
	return p, nil
}

// publish sends message seq, the template with its own id, and waits for
// its confirm.
func (p *rawPublisher) publish(ctx context.Context, seq int64) error {
	msg := p.tmpl
	id := strconv.FormatInt(seq, 10)
	h := make(amqp.Table, len(msg.Headers)+1)
	for k, v := range msg.Headers {
		h[k] = v
	}
	h["id"] = id
	h[hdrPublishTag] = strconv.FormatUint(p.tags.Add(1), 36)
	msg.Headers, msg.MessageId = h, id

	ch := p.chans[p.turn.Add(1)%uint64(len(p.chans))]
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, "",
		true, false, msg)
	if err != nil {
		return fmt.Errorf("raw publish: %w", err)
	}
	select {
	case <-dc.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if !dc.Acked() {
		return errNacked
	}
	return nil
}

func (p *rawPublisher) Close() error { return p.conn.Close() }

// Ceiling is RabbitMQ's raw performance with Ferry's messages.
type Ceiling struct {
	// Publish holds one Throughput per concurrency of Concurrencies.
	Publish map[int]Throughput
	// Consume is consume-and-ack of Events messages.
	Consume Drain
	// MessageBytes is the body and headers of one message.
	MessageBytes int
}

// rawPublish measures raw publishes at concurrency c into a namespace of
// its own.
func (b *bencher) rawPublish(ctx context.Context, c int) (Throughput, error) {
	s := newScratch(b.run, fmt.Sprintf("raw-publish-%d", c))
	defer b.dropTopology(s)
	p, err := b.openRaw(ctx, s)
	if err != nil {
		return Throughput{}, err
	}
	defer p.Close()
	return drive(ctx, c, b.o.Warmup, b.o.Duration, b.cpu, p.publish)
}

// rawParallelism is the Trigger parallelism of the raw ceiling's queue:
// above 1, so that the queue is not single-active-consumer (which takes
// no basic.get, and would differ from the dispatch points above 1).
const rawParallelism = 100

// openRaw declares s's topology (by publishing the sample message through
// Ferry) and opens a raw publisher of that message into it.
func (b *bencher) openRaw(ctx context.Context, s scratch) (*rawPublisher,
	error) {
	c, err := writeConfig(b.tempDir(s), "http://127.0.0.1:9/", rawParallelism)
	if err != nil {
		return nil, err
	}
	tmpl, err := messageTemplate(ctx, b.o, s, c)
	if err != nil {
		return nil, err
	}
	b.report.Ceiling.MessageBytes = messageSize(tmpl)
	return openRawPublisher(b.o.AMQPURL, s.exchange(), tmpl)
}

// Drain is the draining of a queue of pre-published events.
type Drain struct {
	// Events were pre-published; Distinct of them came out, Repeats more
	// than once.
	Events   int
	Distinct int
	Repeats  int
	// Span is from the first event out to the last.
	Span time.Duration
	// CPU is what the processes used during Span; zero when not every
	// event came out.
	CPU CPU
}

// Rate is events per second from the first to the last: Distinct-1
// intervals over Span.
func (d Drain) Rate() float64 {
	if d.Span <= 0 || d.Distinct < 2 {
		return 0
	}
	return float64(d.Distinct-1) / d.Span.Seconds()
}

// Complete reports whether every event came out.
func (d Drain) Complete() bool { return d.Distinct == d.Events }

// consumeFactor is how many times Options.Events the raw consume drains:
// it goes about ten times as fast as a dispatch, and a longer span is a
// steadier figure.
const consumeFactor = 4

// rawConsume pre-publishes consumeFactor × Events messages with the raw
// publisher at the highest concurrency, then consumes and acks them one by
// one on one channel with prefetch ConsumePrefetch, as a Trigger's
// consumer does.
func (b *bencher) rawConsume(ctx context.Context) (Drain, error) {
	s := newScratch(b.run, "raw-consume")
	defer b.dropTopology(s)
	p, err := b.openRaw(ctx, s)
	if err != nil {
		return Drain{}, err
	}
	n := consumeFactor * b.o.Events
	err = fanOut(ctx, Concurrencies[len(Concurrencies)-1], n, p.publish)
	p.Close()
	if err != nil {
		return Drain{}, fmt.Errorf("pre-publish: %w", err)
	}

	conn, err := amqp.Dial(b.o.AMQPURL)
	if err != nil {
		return Drain{}, fmt.Errorf("raw consumer: %w", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(ConsumePrefetch, 0, false)
	}
	if err != nil {
		return Drain{}, fmt.Errorf("raw consumer: %w", err)
	}
	deliveries, err := ch.Consume(s.queue(), "", false, false, false, false,
		nil)
	if err != nil {
		return Drain{}, fmt.Errorf("raw consumer: %w", err)
	}
	return consumeAll(ctx, deliveries, n, b.o.DrainTimeout, b.cpu)
}

// consumeAll acks deliveries until n came or timeout passed; meter (nil for
// none) reads the CPU time at the first and the last.
func consumeAll(ctx context.Context, deliveries <-chan amqp.Delivery, n int,
	timeout time.Duration, meter *cpuMeter) (Drain, error) {
	d := Drain{Events: n}
	seen := make(map[string]bool, n)
	var first, last time.Time
	var cpuFirst CPU
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for d.Distinct < n {
		select {
		case m, ok := <-deliveries:
			if !ok {
				return d, fmt.Errorf("raw consumer: channel closed after %d",
					d.Distinct)
			}
			last = time.Now()
			if first.IsZero() {
				first, cpuFirst = last, meter.read()
			}
			if seen[m.MessageId] {
				d.Repeats++
			} else {
				seen[m.MessageId] = true
				d.Distinct++
			}
			if err := m.Ack(false); err != nil {
				return d, fmt.Errorf("raw consumer: ack: %w", err)
			}
		case <-deadline.C:
			d.Span = last.Sub(first)
			return d, nil
		case <-ctx.Done():
			return d, ctx.Err()
		}
	}
	d.Span, d.CPU = last.Sub(first), meter.read().Sub(cpuFirst)
	return d, nil
}
