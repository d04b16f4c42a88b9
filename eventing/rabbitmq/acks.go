package rabbitmq

import (
	"fmt"
	"slices"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ackDelay is the longest an ack of a finished message is held back in the
// hope of acking it with others in one frame; see acks.
const ackDelay = 3 * time.Millisecond

// acks sends the acks of one consumer channel. Acking every message on its
// own costs a frame, a write and RabbitMQ's handling of it per message, a
// good part of a delivery's cost when the subscriber is quick. With
// parallelism above 1, messages finish a little out of order, so acks
// keeps the channel's unsettled delivery tags in order and acks, with
// multiple set, the oldest ones as soon as all of them are finished.
//
// A message that finishes while an older one is still out (being
// delivered, waiting to retry, or not yet settled by buryRaw) is held back
// at most ackDelay, then acked on its own: the older one may take minutes,
// and the held message's prefetch credit is needed for other messages.
// Only finished messages are ever acked: a multiple ack never covers a
// tag that is not finished, since every unsettled tag of the channel is
// in open. Acks of one channel are sent in order under mu, so that a
// multiple ack never names a tag that was acked already (RabbitMQ would
// close the channel).
//
// The oldest is held back too, at most ackDelay, while no more than
// holdMax messages are finished: when the prefetch exceeds the
// parallelism, the lane has messages to spare, and one frame then acks
// the run of messages that finished meanwhile instead of one frame each.
// That matters most at low parallelism, where messages finish one at a
// time, in order: at parallelism 1 every message was acked by a frame of
// its own, and each frame also costs RabbitMQ a quorum queue command and
// a delivery of one message to refill the prefetch.
type acks struct {
	mu      sync.Mutex
	session uint64 // the consumer connection whose tags open holds
	ch      amqp.Acknowledger
	open    []openTag // unsettled tags of the channel, oldest first
	held    int       // finished tags in open
	// holdMax is how many finished tags may wait for the timer when the
	// oldest is among them; 0 acks the oldest at once. See Open.
	holdMax int
	timer   *time.Timer
	onError func(error) // for acks that fail after their caller left
}

type openTag struct {
	tag      uint64
	finished bool
}

// reset forgets the tags of a lost connection: RabbitMQ delivers their
// messages again. The tags of session come next.
func (a *acks) reset(session uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.session, a.ch, a.open, a.held = session, nil, nil, 0
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
}

// received adds the tag of a message of session just received on ch.
// Messages must be added in the order they came.
//
// A message of another channel than the open tags' (a reconnect whose
// set-up failed half way does not renew the session) starts afresh: the
// held acks go to their own channel now (if it is gone, RabbitMQ delivers
// their messages again), and the old channel's other tags are acked, or
// settled, on that channel alone, one by one. Delivery tags count per
// channel: an old tag acked on the new channel would settle another
// message there, one never delivered.
func (a *acks) received(session uint64, ch amqp.Acknowledger, tag uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if session != a.session {
		return // of a lost connection; it will fail to ack anyway
	}
	if a.ch != nil && a.ch != ch {
		if err := a.sendHeld(); err != nil && a.onError != nil {
			a.onError(err)
		}
		a.open, a.held = nil, 0
		if a.timer != nil {
			a.timer.Stop()
			a.timer = nil
		}
	}
	a.ch = ch
	a.open = append(a.open, openTag{tag: tag})
}

// ack acks the message d of session, now finished: at once, with every
// older finished one, when the oldest unsettled is finished and more than
// holdMax are; else after ackDelay at most. It returns the error
// of an ack sent now; a held one's error goes to onError.
func (a *acks) ack(session uint64, d amqp.Delivery) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.index(session, d)
	if !ok {
		// Of a lost connection, or not added: acked as it came.
		return d.Ack(false)
	}
	a.open[i].finished = true
	a.held++
	if a.open[0].finished && a.held > a.holdMax {
		return a.sendOldest()
	}
	if a.timer == nil {
		a.timer = time.AfterFunc(ackDelay, a.flushHeld)
	}
	return nil
}

// settle settles the unfinished message d of session with fn (a nack, or
// an ack after buryRaw moved it elsewhere), in order with the channel's
// other acks.
func (a *acks) settle(session uint64, d amqp.Delivery, fn func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.index(session, d)
	if !ok {
		return fn()
	}
	err := fn()
	a.open = slices.Delete(a.open, i, i+1)
	if i == 0 && len(a.open) > 0 && a.open[0].finished {
		if serr := a.sendOldest(); err == nil {
			err = serr
		}
	}
	return err
}

// flush sends every held ack now: at Close, before the channel goes.
func (a *acks) flush() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sendHeld()
}

func (a *acks) flushHeld() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.timer = nil
	if err := a.sendHeld(); err != nil && a.onError != nil {
		a.onError(err)
	}
}

// index finds d's tag among the open tags of session, if d came on the
// channel they are of.
func (a *acks) index(session uint64, d amqp.Delivery) (int, bool) {
	if session != a.session || a.ch == nil || d.Acknowledger != a.ch {
		return 0, false
	}
	tag := d.DeliveryTag
	return slices.BinarySearchFunc(a.open, tag, func(o openTag, t uint64) int {
		switch {
		case o.tag < t:
			return -1
		case o.tag > t:
			return 1
		}
		return 0
	})
}

// sendOldest acks the run of finished tags at the front of open, in one
// frame.
func (a *acks) sendOldest() error {
	n := 0
	for n < len(a.open) && a.open[n].finished {
		n++
	}
	if n == 0 {
		return nil
	}
	last := a.open[n-1].tag
	a.open = a.open[n:]
	a.held -= n
	if err := a.ch.Ack(last, n > 1); err != nil {
		return fmt.Errorf("ack up to delivery tag %d: %w", last, err)
	}
	return nil
}

// sendHeld acks every finished tag: the run at the front in one frame,
// the others one by one.
func (a *acks) sendHeld() error {
	err := a.sendOldest()
	if a.held == 0 {
		return err
	}
	kept := a.open[:0]
	for _, o := range a.open {
		if !o.finished {
			kept = append(kept, o)
			continue
		}
		if aerr := a.ch.Ack(o.tag, false); aerr != nil && err == nil {
			err = fmt.Errorf("ack delivery tag %d: %w", o.tag, aerr)
		}
	}
	a.open, a.held = kept, 0
	return err
}
