package rabbitmq

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// StartConsuming opens the consuming connection, with one channel and
// consumer per Trigger queue, and returns once they consume or ctx ends.
// From then on the Queue's Claim hands out what they receive. The
// consumers redial and consume again by themselves after a connection
// loss, until Close; if ctx ends first they keep trying in the background.
func (q *Queue) StartConsuming(ctx context.Context) error {
	if q.p.Exchange != "" {
		return fmt.Errorf("consume from %s: %w", q.p.Exchange, ErrNotOwner)
	}
	q.flight.Lock()
	if q.closed {
		q.flight.Unlock()
		return ErrClosed
	}
	started := q.consume != nil
	if !started {
		q.consume = newLink(q.p.URL, q.p.ConnectionName+" consume", q.log,
			q.setupConsumers, q.consumersLost)
	}
	l := q.consume
	q.flight.Unlock()

	if !started {
		l.start()
	}
	if err := l.wait(ctx); err != nil {
		return fmt.Errorf("start consuming broker %s: %w", q.p.Broker, err)
	}
	return nil
}

// setupConsumers declares the topology and starts a consumer per Trigger
// on a new connection.
func (q *Queue) setupConsumers(conn *amqp.Connection) error {
	if err := q.declare(conn); err != nil {
		return err
	}
	q.mu.Lock()
	session := q.session
	q.mu.Unlock()

	for _, l := range q.lanes {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open channel for %s: %w", l.queue, err)
		}
		if err := ch.Qos(l.prefetch, 0, false); err != nil {
			return fmt.Errorf("set prefetch of %s: %w", l.queue, err)
		}
		deliveries, err := ch.Consume(l.queue, "", false, false, false,
			false, nil)
		if err != nil {
			return fmt.Errorf("consume %s: %w", l.queue, err)
		}
		watch(conn, ch, q.log)
		go q.receive(conn, l, session, deliveries)
		q.log.Debug("consuming", "trigger", l.trigger, "queue", l.queue,
			"prefetch", l.prefetch, "parallelism", l.parallelism)
	}
	return nil
}

// consumersLost forgets every message of the lost connection: their acks
// would fail, and RabbitMQ delivers them again.
func (q *Queue) consumersLost() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.session++
	dropped := len(q.held)
	for _, l := range q.lanes {
		l.msgs, l.busy = nil, 0
		l.acks.reset(q.session)
	}
	clear(q.held)
	if dropped > 0 {
		q.log.Warn("consumer connection lost; unacked messages return to "+
			"their queues", "messages", dropped)
	}
}

// receive hands the messages of one consumer to its lane until the
// channel closes. When its consumer ends while the connection lives
// (RabbitMQ cancels it when its queue is deleted), it closes the
// connection: the link dials again and declares the topology again,
// queue included, before consuming, as after any channel failure.
func (q *Queue) receive(conn *amqp.Connection, l *lane, session uint64,
	deliveries <-chan amqp.Delivery) {
	defer func() {
		q.flight.Lock()
		closing := q.closed
		q.flight.Unlock()
		if closing || conn.IsClosed() {
			return
		}
		q.log.Warn("consumer cancelled by RabbitMQ (queue deleted?); "+
			"reconnecting to declare it again", "trigger", l.trigger,
			"queue", l.queue)
		_ = conn.Close()
	}()
	for d := range deliveries {
		l.acks.received(session, d.Acknowledger, d.DeliveryTag)
		e, err := eventOf(d.Headers, d.ContentType, d.Body)
		if err != nil {
			q.buryRaw(l, session, d, err)
			continue
		}
		q.mu.Lock()
		if session != q.session {
			// Lost already; RabbitMQ delivers the message again.
			q.mu.Unlock()
			continue
		}
		q.seq++
		m := &message{id: q.seq, lane: l, raw: d, session: session, event: e}
		l.msgs = append(l.msgs, m)
		q.held[m.id] = m
		q.mu.Unlock()
		q.signal()
	}
}

// buryRaw moves a message that is not a CloudEvent to the dead queue, as
// it came. If that fails it is requeued after ReleaseDelay, never dropped.
func (q *Queue) buryRaw(l *lane, session uint64, d amqp.Delivery,
	cause error) {
	if err := q.enter(); err != nil {
		return // closing: the message returns to its queue
	}
	defer q.leave()

	msg := buried(amqp.Publishing{
		Headers: d.Headers, ContentType: d.ContentType,
		MessageId: d.MessageId, Body: d.Body,
	}, l.trigger, cause.Error(), 0)
	err := q.pub.publish(context.Background(), "", q.top.dead, msg, nil)
	if err == nil {
		err = l.acks.settle(session, d, func() error { return d.Ack(false) })
	}
	if err != nil {
		q.log.Error("bury unreadable message", "trigger", l.trigger,
			"message", d.MessageId, "err", err)
		time.AfterFunc(ReleaseDelay, func() {
			_ = l.acks.settle(session, d, func() error {
				return d.Nack(false, true)
			})
		})
		return
	}
	q.log.Warn("unreadable message buried", "trigger", l.trigger,
		"message", d.MessageId, "queue", q.top.dead, "err", cause)
}
