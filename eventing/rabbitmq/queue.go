package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferryfn/ferry/eventing"
)

// ReleaseDelay is how long a delivery whose Done, Retry or Bury failed
// waits before it is offered again, as in the embedded backend.
const ReleaseDelay = time.Second

// closeGrace is how long Close waits for publishes in flight beyond the
// publish timeout.
const closeGrace = time.Second

// Queue is an eventing.Queue on RabbitMQ. Open connects it for publishing;
// StartConsuming adds the Triggers' consumers, which only a dispatcher
// needs.
type Queue struct {
	p    Params
	top  topology
	log  *slog.Logger
	pub  *publisher
	send *link // the publishing connection
	wake chan struct{}

	flight  sync.Mutex
	closed  bool
	flying  int           // publishes in progress
	landed  chan struct{} // closed when the last one ends after Close
	stop    chan struct{} // closed by Close: background retries end
	consume *link         // the consuming connection, once started

	// releaser releases claims of unknown outcome (with Params.Dedupe).
	releaser *releaser

	mu      sync.Mutex
	lanes   []*lane
	held    map[uint64]*message // by Delivery.ID
	seq     uint64
	turn    int
	session uint64 // counts consumer connections lost
}

var _ eventing.Queue = (*Queue)(nil)

// Open connects to RabbitMQ, declares the Broker's topology and returns a
// Queue ready to publish. It waits for RabbitMQ, redialing with a backoff,
// until ctx ends; a topology that exists with other arguments (another
// queue type) fails it at once.
func Open(ctx context.Context, p Params) (*Queue, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	top, err := newTopology(p)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		p:    p,
		top:  top,
		log:  p.Logger.With("component", "rabbitmq", "broker", p.Broker),
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		held: map[uint64]*message{},
	}
	q.pub = &publisher{timeout: p.PublishTimeout, log: q.log,
		optional: p.Exchange != ""}
	if p.Dedupe != nil {
		q.releaser = newReleaser(p.Dedupe, p.PublishTimeout, q.log, q.stop)
	}
	for i, tr := range p.Triggers {
		n, err := parallelism(tr, p.Parallelism)
		if err != nil {
			return nil, err
		}
		l := &lane{
			trigger: tr.Name, queue: top.bindings[i].queue,
			parallelism: n, prefetch: max(p.Prefetch, n),
		}
		// Up to half the messages the parallelism leaves of the
		// prefetch wait to be acked together (see acks); the other
		// half keeps the lane's deliveries supplied meanwhile.
		l.acks.holdMax = (l.prefetch - l.parallelism) / 2
		l.acks.onError = func(err error) {
			// RabbitMQ delivers those messages again.
			q.log.Warn("ack finished messages", "trigger", tr.Name,
				"err", err)
		}
		q.lanes = append(q.lanes, l)
	}

	q.send = newLink(p.URL, p.ConnectionName+" publish", q.log,
		q.setupPublisher, q.pub.lost)
	// Concurrent publishes leave in one write (see batchedConn).
	q.send.dial = p.dial
	q.send.start()
	if err := q.send.wait(ctx); err != nil {
		q.send.close()
		return nil, fmt.Errorf("open rabbitmq queue of broker %s: %w",
			p.Broker, err)
	}
	return q, nil
}

func (q *Queue) setupPublisher(conn *amqp.Connection) error {
	if err := q.declare(conn); err != nil {
		return err
	}
	return q.pub.setup(conn)
}

// declare declares the topology on a channel of its own. With
// Params.Exchange it only checks that the exchange exists.
func (q *Queue) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if q.p.Exchange != "" {
		err := ch.ExchangeDeclarePassive(q.p.Exchange, amqp.ExchangeHeaders,
			true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("%w: exchange %s: %v", ErrNoExchange, q.p.Exchange, err)
		}
		return ch.Close()
	}
	if err := q.top.declare(ch); err != nil {
		return err
	}
	return ch.Close()
}

// Parallelism returns the sum of the Triggers' parallelism: the Broker's
// Params.Parallelism should be at least this for every Trigger to reach
// its own.
func (q *Queue) Parallelism() int {
	n := 0
	for _, l := range q.lanes {
		n += l.parallelism
	}
	return n
}

// Ready returns nil when the Queue can publish (and, once consuming,
// consume), for a readiness probe; else why not.
func (q *Queue) Ready(ctx context.Context) error {
	q.flight.Lock()
	closed, consume := q.closed, q.consume
	q.flight.Unlock()
	if closed {
		return ErrClosed
	}
	if err := q.send.ready(); err != nil {
		return err
	}
	if consume != nil {
		return consume.ready()
	}
	return nil
}

// Put implements eventing.Queue: it publishes e once to the Broker's
// exchange, whose bindings route it, and returns after RabbitMQ's confirm.
// It publishes nothing when triggers is empty (no Trigger wants e).
func (q *Queue) Put(ctx context.Context, e *event.Event, triggers []string) (
	*event.Event, error) {
	if err := q.enter(); err != nil {
		return nil, err
	}
	defer q.leave()

	// Another broker's exchange routes by its own bindings, which this
	// process does not know: every event goes there.
	first, err := q.publishEvent(ctx, e, len(triggers) > 0 || q.p.Exchange != "")
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", e.ID(), err)
	}
	return first, nil
}

// publishEvent publishes e (when publish is set) unless Dedupe knows it,
// and then returns a stand-in of the first event.
func (q *Queue) publishEvent(ctx context.Context, e *event.Event,
	publish bool) (*event.Event, error) {
	var c claim
	if q.p.Dedupe != nil {
		c = newClaim(eventing.EventKey(e), eventing.TaskID(e))
		first, dup, err := q.claim(ctx, e, c)
		if err != nil {
			return nil, err
		}
		if dup {
			return firstEvent(e, first), nil
		}
	}
	if publish {
		var late func(error)
		if q.p.Dedupe != nil {
			q.hold()
			late = q.settleLate(ctx, e, c)
		}
		err := q.pub.publish(ctx, q.top.exchange, "", publishing(e), late)
		if late != nil && !errors.Is(err, errSettlesLater) {
			q.leave() // late will not be called
		}
		switch {
		case errors.Is(err, errSettlesLater):
			// RabbitMQ may yet store e: the claim stays until late knows.
			return nil, err
		case err != nil:
			if q.p.Dedupe != nil {
				q.releaseClaim(ctx, e, c)
			}
			return nil, err
		}
	}
	if q.p.Dedupe != nil {
		q.markStored(ctx, e, c)
	}
	return nil, nil
}

// markStored tells Dedupe that e, claimed as c, is stored. The producer's
// 202 does not wait for it. Until it lands a copy of e finds the claim and
// waits for it, as for a publish under way; if it never lands (Redis down
// for longer than the claim lasts, the process killed), the claim expires
// and a copy is published again, which the task store absorbs by id.
func (q *Queue) markStored(ctx context.Context, e *event.Event, c claim) {
	q.retryLater(ctx, e, "record published event",
		func(ctx context.Context) error {
			return q.p.Dedupe.Stored(ctx, c.key, c.task)
		})
}

// settleLate is the late function of e's publish under claim c: a publish
// whose confirm did not come before Put returned (the producer got an
// error) may still be stored by RabbitMQ, and a repost must then find e
// stored rather than publish it again; else the claim is released. It
// counts as in flight until then (the caller holds it), so that Close
// waits for it.
func (q *Queue) settleLate(ctx context.Context, e *event.Event,
	c claim) func(error) {
	return func(err error) {
		defer q.leave()
		switch {
		case err == nil:
			q.log.Info("publish confirmed after its producer was answered",
				"id", e.ID())
			q.markStored(ctx, e, c)
		case errors.Is(err, errConfirmNeverCame):
			q.log.Warn("publish never confirmed: whether RabbitMQ stored "+
				"it is unknown; its claim expires", "id", e.ID())
		default:
			q.releaseClaim(ctx, e, c)
		}
	}
}

// releaseClaim drops c as soon as e's publish failed, so that the
// producer's retry publishes at once; should the store not answer, it is
// tried again in the background.
func (q *Queue) releaseClaim(ctx context.Context, e *event.Event, c claim) {
	ctx = context.WithoutCancel(ctx)
	rctx, cancel := context.WithTimeout(ctx, q.p.PublishTimeout)
	err := q.p.Dedupe.Release(rctx, c.key, c.task, c.token)
	cancel()
	if err != nil {
		q.retryLater(ctx, e, "release claim", func(ctx context.Context) error {
			return q.p.Dedupe.Release(ctx, c.key, c.task, c.token)
		})
	}
}

// retryLater runs f, a write of e's record in Dedupe, in the background,
// and tries it again, with pauses that grow from backgroundRetryMin to
// backgroundRetryMax, until it succeeds, the Queue closes or ClaimTTL
// passes (by then the claim f is about has expired); then it logs what
// failed. The caller is inside enter and leave, so Close waits for it.
func (q *Queue) retryLater(ctx context.Context, e *event.Event, what string,
	f func(context.Context) error) {
	q.hold()
	go func() {
		defer q.leave()
		ctx := context.WithoutCancel(ctx)
		try := func() error {
			fctx, cancel := context.WithTimeout(ctx, q.p.PublishTimeout)
			defer cancel()
			return f(fctx)
		}
		deadline := time.Now().Add(ClaimTTL)
		for wait := backgroundRetryMin; ; wait = min(2*wait, backgroundRetryMax) {
			err := try()
			if err == nil {
				return
			}
			if q.isClosed() || time.Now().Add(wait).After(deadline) {
				q.log.Warn(what, "id", e.ID(), "err", err)
				return
			}
			if !q.pause(wait) {
				// Closing: one last try while the store is still open.
				if err := try(); err != nil {
					q.log.Warn(what, "id", e.ID(), "err", err)
				}
				return
			}
		}
	}()
}

// backgroundRetryMin and backgroundRetryMax bound the pause between two
// tries of retryLater.
const (
	backgroundRetryMin = 100 * time.Millisecond
	backgroundRetryMax = 2 * time.Second
)

// isClosed reports whether Close was called.
func (q *Queue) isClosed() bool {
	q.flight.Lock()
	defer q.flight.Unlock()
	return q.closed
}

// claim takes c for e, waiting while another publish of the same event
// holds its key, as long as ctx leaves time for a publish after it. dup
// reports an event published before, of task first.
func (q *Queue) claim(ctx context.Context, e *event.Event, c claim) (
	first string, dup bool, err error) {
	for wait := claimPollMin; ; {
		c.expires = time.Now().Add(ClaimTTL)
		first, dup, pending, err := q.p.Dedupe.Claim(ctx, c.key, c.task,
			c.token, c.expires)
		switch {
		case err != nil:
			// The claim may have reached the store with its answer lost.
			q.releaser.add(c, e.ID())
			return "", false, fmt.Errorf("dedupe: %w", err)
		case !dup:
			return "", false, nil
		case !pending:
			return first, true, nil
		}
		// A claim taken with less time left than a publish may take
		// would publish into a confirm that comes after the answer.
		d, ok := ctx.Deadline()
		if ok && time.Until(d) < wait+q.p.PublishTimeout {
			return "", false, fmt.Errorf("%w: the same event is being "+
				"published by another process", ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return "", false, fmt.Errorf("%w: the same event is being "+
				"published by another process: %v", ErrUnavailable, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, claimPollMax)
	}
}

// firstEvent stands for the event that was published first with e's
// source and id, for the Broker's receipt: TaskID of it is task.
func firstEvent(e *event.Event, task string) *event.Event {
	first := event.New(e.SpecVersion())
	first.SetID(e.ID())
	first.SetSource(e.Source())
	first.SetType(e.Type())
	if task != "" {
		first.SetExtension(eventing.ExtCorrelationID, task)
	}
	return &first
}

// Claim implements eventing.Queue. It takes one delivery per Trigger in
// turn, so that a busy Trigger does not starve the others.
func (q *Queue) Claim(now time.Time, max int) ([]eventing.Delivery,
	time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []eventing.Delivery
	var next time.Time
	n := len(q.lanes)
	q.turn++
	for progress := true; progress; {
		progress, next = false, time.Time{}
		for i := range n {
			before := len(out)
			var due time.Time
			out, due = q.lanes[(q.turn+i)%n].claim(now,
				min(max, len(out)+1), out)
			next = earliest(next, due)
			progress = progress || len(out) > before
		}
	}
	return out, next
}

// Done implements eventing.Queue: the reply, if any and if a Trigger wants
// it, is published and confirmed before d is acked. triggers only decides
// whether to publish: RabbitMQ routes by bindings.
func (q *Queue) Done(ctx context.Context, d eventing.Delivery,
	reply *event.Event, triggers []string) error {
	m, err := q.lookup(d.ID)
	if err != nil {
		return fmt.Errorf("complete delivery %d: %w", d.ID, err)
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()

	if reply != nil && len(triggers) > 0 {
		if _, err := q.publishEvent(ctx, reply, true); err != nil {
			q.release(m)
			return fmt.Errorf("complete delivery %d: reply %s: %w", d.ID,
				reply.ID(), err)
		}
	}
	return q.ack(m)
}

// Retry implements eventing.Queue: the message stays unacked in this
// process and is offered again at when.
func (q *Queue) Retry(ctx context.Context, d eventing.Delivery,
	when time.Time) error {
	q.mu.Lock()
	m, ok := q.held[d.ID]
	if ok {
		m.state.Attempts, m.state.DeadLetter = d.Attempts, d.DeadLetter
		m.state.ErrCode, m.state.ErrData = d.ErrCode, d.ErrData
		m.lane.unclaim(m, when)
	}
	q.mu.Unlock()
	if !ok {
		return fmt.Errorf("retry delivery %d: %w", d.ID, ErrDeliveryGone)
	}
	q.signal()
	return nil
}

// Bury implements eventing.Queue: d's event goes to the dead queue, with
// the Trigger, the reason and the attempts, and only once RabbitMQ
// confirmed it there is d acked.
func (q *Queue) Bury(ctx context.Context, d eventing.Delivery,
	reason string) error {
	m, err := q.lookup(d.ID)
	if err != nil {
		return fmt.Errorf("bury delivery %d: %w", d.ID, err)
	}
	if err := q.enter(); err != nil {
		return err
	}
	defer q.leave()

	msg := buried(publishing(m.event), m.lane.trigger, reason, d.Attempts)
	if err := q.pub.publish(ctx, "", q.top.dead, msg, nil); err != nil {
		q.release(m)
		return fmt.Errorf("bury delivery %d: %w", d.ID, err)
	}
	q.log.Warn("delivery buried", "trigger", m.lane.trigger,
		"id", m.event.ID(), "queue", q.top.dead, "reason", reason)
	return q.ack(m)
}

// Wake implements eventing.Queue.
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Close stops consuming (RabbitMQ requeues what was not acked), waits for
// the publishes in flight, at most the publish timeout and a second, and
// closes the connections. Call it after the Broker's Run has returned, so
// that no delivery is still being completed.
func (q *Queue) Close() error {
	q.flight.Lock()
	if q.closed {
		q.flight.Unlock()
		return nil
	}
	q.closed = true
	close(q.stop)
	landed := make(chan struct{})
	if q.flying == 0 {
		close(landed)
	} else {
		q.landed = landed
	}
	consume := q.consume
	q.flight.Unlock()

	select {
	case <-landed:
	case <-time.After(q.p.PublishTimeout + closeGrace):
		q.log.Warn("closing with publishes still unconfirmed")
	}
	if consume != nil {
		// Acks held back (see acks) go before the channels do: else
		// RabbitMQ would deliver those messages again.
		for _, l := range q.lanes {
			if err := l.acks.flush(); err != nil {
				q.log.Warn("ack finished messages at close",
					"trigger", l.trigger, "err", err)
			}
		}
		consume.close()
	}
	q.send.close()
	// Publishes whose confirm had not come learn now that it never will
	// and release their claims: while the store is still open.
	select {
	case <-landed:
	case <-time.After(closeGrace):
	}
	return nil
}

// pause waits d, or reports false at once when Close is called.
func (q *Queue) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.stop:
		return false
	}
}

// enter counts a publish in flight, unless the Queue is closed.
func (q *Queue) enter() error {
	q.flight.Lock()
	defer q.flight.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.flying++
	return nil
}

// hold counts work that Close must wait for, started by a caller that is
// inside enter and leave.
func (q *Queue) hold() {
	q.flight.Lock()
	q.flying++
	q.flight.Unlock()
}

func (q *Queue) leave() {
	q.flight.Lock()
	defer q.flight.Unlock()
	q.flying--
	if q.flying == 0 && q.landed != nil {
		close(q.landed)
		q.landed = nil
	}
}

func (q *Queue) lookup(id uint64) (*message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	m, ok := q.held[id]
	if !ok {
		return nil, ErrDeliveryGone
	}
	return m, nil
}

// ack acks m, now or together with others (see acks), and forgets it. A
// failed ack means the channel is gone, and RabbitMQ will deliver the
// message again.
func (q *Queue) ack(m *message) error {
	err := m.lane.acks.ack(m.session, m.raw)
	q.forget(m)
	if err != nil {
		return fmt.Errorf("ack delivery %d: %w: %v", m.id, ErrDeliveryGone,
			err)
	}
	return nil
}

func (q *Queue) forget(m *message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held[m.id] == m {
		delete(q.held, m.id)
		m.lane.remove(m)
	}
}

// release offers m again after ReleaseDelay, when a step that would have
// ended it failed: the message stays unacked.
func (q *Queue) release(m *message) {
	q.mu.Lock()
	if q.held[m.id] == m {
		m.lane.unclaim(m, time.Now().Add(ReleaseDelay))
	}
	q.mu.Unlock()
	q.signal()
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
