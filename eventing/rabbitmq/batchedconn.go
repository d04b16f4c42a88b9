package rabbitmq

import (
	"errors"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Bounds of a batchedConn.
const (
	// batchedConnMax is how many bytes may wait for the socket before a
	// Write waits for them to go out, as a plain socket's Write waits
	// when RabbitMQ stops reading (its flow control).
	batchedConnMax = 256 << 10
	// batchedConnSpareMax is the largest buffer a batchedConn keeps for
	// its next batch; a larger one, of a large message, is let go.
	batchedConnSpareMax = 64 << 10
	// batchedConnCloseMax bounds how long Close spends writing what is
	// still waiting (the connection.close-ok of a connection RabbitMQ
	// closed, for one) before it closes the socket.
	batchedConnCloseMax = time.Second
)

// batchedConn is the socket of the publishing connection. amqp091-go
// writes and flushes the frames of each publish at once, under its
// connection's send lock: one write system call per publish here, and
// one read on RabbitMQ's side. A batchedConn copies each Write into a
// buffer and returns; a goroutine of its own writes that buffer out, so
// that the publishes made while one write is under way leave together in
// the next. A lone publish leaves at once, only from another goroutine.
// Bytes leave in the order they were written.
//
// Nothing counts as sent that failed: a failed write is kept and returned
// by every later Write, and it closes the socket, which ends the
// connection and so every publish still waiting for its confirm (their
// channels close, which the publisher reports as ErrUnavailable). A
// confirm comes only from RabbitMQ, for a message it read whole, so a
// publish whose bytes were lost is never confirmed.
//
// Reads and deadlines go straight to the socket.
type batchedConn struct {
	net.Conn

	mu       sync.Mutex
	more     sync.Cond // signalled when pending grows or closing is set
	progress sync.Cond // broadcast after every write to the socket
	pending  []byte    // taken by Write, not yet handed to the socket
	spare    []byte    // the buffer of the last batch, for the next one
	taken    uint64    // bytes taken by Write since the start
	sent     uint64    // of those, bytes handed to the socket
	err      error     // the first failed write; ends the conn
	closing  bool
	done     chan struct{} // closed when the writing goroutine ends
}

// newBatchedConn wraps conn and starts its writing goroutine, which ends
// with Close or the first failed write.
func newBatchedConn(conn net.Conn) *batchedConn {
	c := &batchedConn{Conn: conn, done: make(chan struct{})}
	c.more.L = &c.mu
	c.progress.L = &c.mu
	go c.run()
	return c
}

// dialBatched is amqp.DefaultDial with the socket wrapped in a
// batchedConn.
func dialBatched(timeout time.Duration) func(network, addr string) (
	net.Conn, error) {
	dial := amqp.DefaultDial(timeout)
	return func(network, addr string) (net.Conn, error) {
		conn, err := dial(network, addr)
		if err != nil {
			return nil, err
		}
		return newBatchedConn(conn), nil
	}
}

// Write takes p for the next batch and returns at once, unless more than
// batchedConnMax bytes are waiting: then it returns once the socket took
// enough of them. It fails with the error of an earlier write, or
// net.ErrClosed after Close.
func (c *batchedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.taken += uint64(len(p))
	c.more.Signal()
	for c.err == nil && c.taken-c.sent > batchedConnMax {
		c.progress.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(p), nil
}

// run hands the pending bytes to the socket, one batch per write, until
// Close has had them all written or a write fails.
func (c *batchedConn) run() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closing {
			c.more.Wait()
		}
		if len(c.pending) == 0 {
			return
		}
		batch := c.pending
		c.pending = c.spare[:0]
		c.spare = nil

		c.mu.Unlock()
		_, err := c.Conn.Write(batch)
		c.mu.Lock()

		c.sent += uint64(len(batch))
		if cap(batch) <= batchedConnSpareMax {
			c.spare = batch
		}
		if err != nil {
			// The connection's reader fails on the closed socket, and
			// amqp091-go shuts the connection down.
			c.err = err
			c.pending = nil
			_ = c.Conn.Close()
		}
		c.progress.Broadcast()
		if c.err != nil {
			return
		}
	}
}

// Close writes what is still waiting, for at most batchedConnCloseMax,
// and closes the socket.
func (c *batchedConn) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closing = true
	c.more.Signal()
	c.mu.Unlock()

	_ = c.Conn.SetWriteDeadline(time.Now().Add(batchedConnCloseMax))
	<-c.done
	if err := c.Conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
