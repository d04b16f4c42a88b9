package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// PublisherChannels is how many confirm-mode channels a Queue spreads its
// publishes over. RabbitMQ serves each channel from one process, so a few
// of them let it use more than one core.
const PublisherChannels = 4

// hdrPublishTag pairs a returned (unroutable) message with its publish.
const hdrPublishTag = "x-ferry-publish"

// returnsBuffer bounds the returned messages a channel keeps before its
// publishers collect them. Every publish collects, so it only fills if
// more than this many unroutable publishes race on one channel.
const returnsBuffer = 256

// publisher publishes with confirms over the channels of one connection.
// Every publish is mandatory: a message that reaches no queue counts as
// refused, not as stored.
type publisher struct {
	timeout time.Duration
	log     *slog.Logger
	// optional turns mandatory publishing off (Params.Exchange): a message
	// no binding wants is then dropped by RabbitMQ, not returned.
	optional bool

	tags atomic.Uint64
	turn atomic.Uint64

	mu    sync.RWMutex
	chans []*pubChannel // nil while the connection is down
}

// pubChannel is one channel in confirm mode and the messages RabbitMQ
// returned on it, by publish tag, until their publishers collect them.
type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return

	mu       sync.Mutex
	returned map[string]string // publish tag -> RabbitMQ's reason
}

// setup opens the publishing channels on a new connection.
func (p *publisher) setup(conn *amqp.Connection) error {
	chans := make([]*pubChannel, 0, PublisherChannels)
	for range PublisherChannels {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open publishing channel: %w", err)
		}
		if err := ch.Confirm(false); err != nil {
			return fmt.Errorf("enter confirm mode: %w", err)
		}
		watch(conn, ch, p.log)
		chans = append(chans, &pubChannel{
			ch:       ch,
			returns:  ch.NotifyReturn(make(chan amqp.Return, returnsBuffer)),
			returned: map[string]string{},
		})
	}
	p.mu.Lock()
	p.chans = chans
	p.mu.Unlock()
	return nil
}

// lost forgets the channels of a connection that is gone.
func (p *publisher) lost() {
	p.mu.Lock()
	p.chans = nil
	p.mu.Unlock()
}

// publish sends msg to exchange with routing key and returns once RabbitMQ
// confirmed it, or with an error when it refused or returned it, the
// channel closed, or no confirm came within the publish timeout or before
// ctx ended.
//
// In those last two cases RabbitMQ may still store the message. When late
// is not nil, the error then wraps errSettlesLater, and late gets the
// publish's final outcome (nil once confirmed, else why not) when the
// confirm comes or the channel closes, or errConfirmNeverCame after
// lateConfirmLimit; late is called once, on a goroutine of its own.
func (p *publisher) publish(ctx context.Context, exchange, key string,
	msg amqp.Publishing, late func(error)) error {
	c := p.channel()
	if c == nil {
		return ErrUnavailable
	}
	tag := strconv.FormatUint(p.tags.Add(1), 36)
	if msg.Headers == nil {
		msg.Headers = amqp.Table{}
	}
	msg.Headers[hdrPublishTag] = tag

	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	dc, err := c.ch.PublishWithDeferredConfirmWithContext(tctx, exchange, key,
		!p.optional, false, msg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	select {
	case <-dc.Done():
		return c.outcome(dc, tag)
	case <-tctx.Done():
	}
	err = ctx.Err()
	if err == nil {
		err = fmt.Errorf("%w after %s", ErrConfirmTimeout, p.timeout)
	}
	if late == nil {
		c.collect(tag)
		return err
	}
	go func() {
		t := time.NewTimer(lateConfirmLimit)
		defer t.Stop()
		select {
		case <-dc.Done():
			late(c.outcome(dc, tag))
		case <-t.C:
			c.collect(tag)
			late(errConfirmNeverCame)
		}
	}()
	return fmt.Errorf("%w (%w)", err, errSettlesLater)
}

// outcome is what became of the confirmed (settled) publish dc of tag.
func (c *pubChannel) outcome(dc *amqp.DeferredConfirmation, tag string) error {
	reason, returned := c.collect(tag)
	switch {
	case !dc.Acked() && c.ch.IsClosed():
		return fmt.Errorf("%w: channel closed before the confirm",
			ErrUnavailable)
	case !dc.Acked():
		return ErrNacked
	case returned:
		return fmt.Errorf("%w: %s", ErrUnroutable, reason)
	}
	return nil
}

// errSettlesLater marks a publish error whose outcome publish's late
// function will tell: RabbitMQ may yet store the message.
var errSettlesLater = errors.New("its outcome is awaited")

// errConfirmNeverCame is the late outcome of a publish that RabbitMQ
// neither confirmed nor refused within lateConfirmLimit, on a channel
// that stayed open: whether it is stored stays unknown.
var errConfirmNeverCame = errors.New("no confirm came")

// lateConfirmLimit bounds the wait for a confirm after publish returned:
// as long as a claim lasts (see Deduper).
const lateConfirmLimit = ClaimTTL

// channel picks the next channel in turn; nil while down.
func (p *publisher) channel() *pubChannel {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if len(p.chans) == 0 {
		return nil
	}
	return p.chans[p.turn.Add(1)%uint64(len(p.chans))]
}

// collect moves the returns that arrived into the map and takes the one
// of tag, if any. RabbitMQ sends a basic.return before the confirm of the
// same message and the client queues it before it settles the confirm,
// so once a publish is confirmed its return, if any, is here.
func (c *pubChannel) collect(tag string) (reason string, returned bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for drained := false; !drained; {
		select {
		case r, ok := <-c.returns:
			if !ok {
				drained = true
				break
			}
			if t, _ := r.Headers[hdrPublishTag].(string); t != "" {
				c.returned[t] = r.ReplyText
			}
		default:
			drained = true
		}
	}
	reason, returned = c.returned[tag]
	delete(c.returned, tag)
	return reason, returned
}
