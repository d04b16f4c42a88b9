package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Timing of a link.
const (
	// RedialDelayMin and RedialDelayMax bound the wait between two dials:
	// it starts at the minimum and doubles after each failure.
	RedialDelayMin = 100 * time.Millisecond
	RedialDelayMax = 5 * time.Second
	// DialTimeout bounds the TCP connect and AMQP handshake of one dial.
	DialTimeout = 5 * time.Second
	// Heartbeat is the AMQP heartbeat interval: a silent peer is taken for
	// gone after about three of them.
	Heartbeat = 5 * time.Second
)

// link is one AMQP connection that redials itself with a backoff, from
// start until close. setup runs on every new connection (declaring the
// topology, opening channels) before the link counts as up; lost runs once
// each connection is gone (also one whose setup failed part way, which
// may have started consumers), before the next dial.
type link struct {
	url   string
	name  string
	log   *slog.Logger
	setup func(*amqp.Connection) error
	lost  func()
	// dial opens the socket of each connection; amqp.DefaultDial when
	// nil.
	dial func(network, addr string) (net.Conn, error)

	blocked atomic.Bool
	stop    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	conn    *amqp.Connection // nil while down
	lastErr error
	changed chan struct{} // closed and replaced on every change of state
}

func newLink(url, name string, log *slog.Logger,
	setup func(*amqp.Connection) error, lost func()) *link {
	return &link{
		url: url, name: name, setup: setup, lost: lost,
		log:     log.With("connection", name),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
}

// start dials in the background.
func (l *link) start() { go l.run() }

// close ends the link: the connection is closed (RabbitMQ requeues what
// its channels had not acked) and no dial follows.
func (l *link) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// up reports whether the link has a connection.
func (l *link) up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conn != nil
}

// ready returns nil when the link is up and not blocked by RabbitMQ.
func (l *link) ready() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.conn == nil && l.lastErr != nil:
		return fmt.Errorf("%s: %w: %v", l.name, ErrUnavailable, l.lastErr)
	case l.conn == nil:
		return fmt.Errorf("%s: %w", l.name, ErrUnavailable)
	case l.blocked.Load():
		return fmt.Errorf("%s: %w", l.name, ErrBlocked)
	}
	return nil
}

// wait returns once the link is up, or with an error when ctx ends first
// or a dial failed in a way no retry can mend (see permanent).
func (l *link) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		up, err, changed := l.conn != nil, l.lastErr, l.changed
		l.mu.Unlock()
		if up {
			return nil
		}
		if permanent(err) {
			return err
		}
		select {
		case <-changed:
		case <-l.done:
			return ErrClosed
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%s: %w: %v", l.name, ErrUnavailable, err)
		}
	}
}

func (l *link) run() {
	defer close(l.done)
	delay := RedialDelayMin
	for attempt := 1; ; attempt++ {
		conn, err := l.connect()
		if err != nil {
			l.setState(nil, err)
			l.log.Warn("rabbitmq connection failed, will redial",
				"attempt", attempt, "backoff", delay, "err", err)
			select {
			case <-l.stop:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, RedialDelayMax)
			continue
		}

		l.log.Info("rabbitmq connected", "attempt", attempt)
		since := time.Now()
		stopped := l.hold(conn)
		l.setState(nil, nil)
		l.lost()
		if stopped {
			return
		}

		// A connection that RabbitMQ keeps closing at once is redialed
		// with a growing backoff, not in a tight loop.
		attempt = 0
		if time.Since(since) > RedialDelayMax {
			delay = RedialDelayMin
		}
		select {
		case <-l.stop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, RedialDelayMax)
	}
}

// connect dials and runs setup.
func (l *link) connect() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(l.name)
	dial := l.dial
	if dial == nil {
		dial = amqp.DefaultDial(DialTimeout)
	}
	conn, err := amqp.DialConfig(l.url, amqp.Config{
		Properties: props,
		Heartbeat:  Heartbeat,
		Locale:     "en_US",
		Dial:       dial,
	})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := l.setup(conn); err != nil {
		_ = conn.Close()
		// setup may have started consumers before it failed: what they
		// hold belongs to a connection that is gone.
		l.lost()
		return nil, err
	}
	return conn, nil
}

// hold keeps conn as the link's connection until it closes or the link is
// stopped, which it reports.
func (l *link) hold(conn *amqp.Connection) (stopped bool) {
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	blocked := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	go func() {
		for b := range blocked {
			l.blocked.Store(b.Active)
			l.log.Warn("rabbitmq flow control", "blocked", b.Active,
				"reason", b.Reason)
		}
	}()
	l.setState(conn, nil)

	select {
	case <-l.stop:
		if err := conn.Close(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			l.log.Warn("close rabbitmq connection", "err", err)
		}
		return true
	case err := <-closed:
		l.blocked.Store(false)
		l.log.Warn("rabbitmq connection lost, will redial", "err", err)
		return false
	}
}

func (l *link) setState(conn *amqp.Connection, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn = conn
	if conn != nil || err != nil {
		l.lastErr = err
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// permanent reports whether err is one that redialing cannot mend: the
// topology exists with other arguments (PRECONDITION_FAILED).
func permanent(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed
}

// watch closes conn when ch fails (a channel exception such as a deleted
// queue), so that the link redials and sets every channel up afresh.
func watch(conn *amqp.Connection, ch *amqp.Channel, log *slog.Logger) {
	errs := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		err, ok := <-errs
		if !ok || err == nil || conn.IsClosed() {
			return
		}
		log.Warn("rabbitmq channel failed, reconnecting", "err", err)
		_ = conn.Close()
	}()
}
