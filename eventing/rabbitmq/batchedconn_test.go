package rabbitmq

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// pipeConn is a batchedConn over one end of a net.Pipe, whose writes
// wait until the other end reads them, and that other end.
func pipeConn(t *testing.T) (*batchedConn, net.Conn) {
	t.Helper()
	local, remote := net.Pipe()
	c := newBatchedConn(local)
	t.Cleanup(func() {
		_ = remote.Close()
		_ = c.Close()
	})
	return c, remote
}

// mustWrite writes s to c and fails the test if that fails or does not
// return within a second.
func mustWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := c.Write([]byte(s))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("write %q: %v", s, err)
		}
	case <-time.After(time.Second):
		t.Fatalf("write %q still waits for the socket", s)
	}
}

func TestBatchedConnSendsWritesMadeMeanwhileInOneWrite(t *testing.T) {
	c, remote := pipeConn(t)

	// Nobody reads yet, so the first write holds the socket; the others
	// return all the same.
	var want strings.Builder
	for i := range 10 {
		s := fmt.Sprintf("publish %d;", i)
		mustWrite(t, c, s)
		want.WriteString(s)
	}

	// A read of a pipe returns at most one write: the ten Writes left in
	// at most two socket writes, in their order.
	var got []string
	buf := make([]byte, 4096)
	for len(strings.Join(got, "")) < want.Len() {
		_ = remote.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := remote.Read(buf)
		if err != nil {
			t.Fatalf("read after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if s := strings.Join(got, ""); s != want.String() {
		t.Errorf("the socket got %q, want %q", s, want.String())
	}
	if len(got) > 2 {
		t.Errorf("the socket got %d writes, want at most 2: %q", len(got), got)
	}
}

func TestBatchedConnKeepsTheOrderOfEveryWriter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, _ := ln.Accept()
		accepted <- conn
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newBatchedConn(raw)
	server := <-accepted
	defer server.Close()

	const writers, records = 8, 2000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range records {
				if _, err := fmt.Fprintf(c, "%d %d\n", w, i); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		_ = c.Close() // sends what waits, then the peer reads EOF
	}()

	next := make([]int, writers)
	lines := bufio.NewScanner(server)
	for lines.Scan() {
		var w, i int
		if _, err := fmt.Sscan(lines.Text(), &w, &i); err != nil {
			t.Fatalf("record %q cut or mixed with another", lines.Text())
		}
		if i != next[w] {
			t.Fatalf("writer %d: record %d came where %d was due", w, i, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != records {
			t.Errorf("writer %d: %d records came, want %d", w, n, records)
		}
	}
}

func TestBatchedConnFailsEveryWriteAfterAFailedOne(t *testing.T) {
	c, remote := pipeConn(t)
	_ = remote.Close()

	// The first write may be taken before the socket fails it; the
	// failure then reaches the next Write, and closes the socket, which
	// is what ends the AMQP connection that reads from it.
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write([]byte("frame"))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write on a failed socket: %v, want %v", err, io.ErrClosedPipe)
	}
	if _, err := c.Write([]byte("frame")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("next write: %v, want %v", err, io.ErrClosedPipe)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the socket still reads after a failed write")
	}
}

func TestBatchedConnWriteWaitsWhileTooMuchWaits(t *testing.T) {
	c, remote := pipeConn(t)
	mustWrite(t, c, "first")

	big := bytes.Repeat([]byte("x"), batchedConnMax+1)
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(big)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a write over the limit returned (%v) with nothing read", err)
	case <-time.After(100 * time.Millisecond):
	}

	n, err := io.CopyN(io.Discard, remote, int64(len("first")+len(big)))
	if err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("write over the limit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the write over the limit still waits after the peer read all")
	}
}

func TestBatchedConnCloseSendsWhatWaitsFirst(t *testing.T) {
	c, remote := pipeConn(t)
	mustWrite(t, c, "close-ok;")
	mustWrite(t, c, "last")

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	got, err := io.ReadAll(remote)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != "close-ok;last" {
		t.Errorf("the peer read %q before the close, want %q", got,
			"close-ok;last")
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := c.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v, want %v", err, net.ErrClosed)
	}
}

func TestBatchedConnCloseGivesUpOnAPeerThatDoesNotRead(t *testing.T) {
	c, _ := pipeConn(t)
	mustWrite(t, c, "never read")

	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(batchedConnCloseMax + 5*time.Second):
		t.Fatal("close still waits for a peer that does not read")
	}
}

// watchedSocket is a publishing socket a test can hold and break: it
// counts the writes that reach it, holds them while gate is set (until
// it is closed), and fails them while broken is set.
type watchedSocket struct {
	net.Conn
	s *socketWatch
}

type socketWatch struct {
	mu     sync.Mutex
	writes int
	gate   chan struct{}
	broken bool
}

func (w watchedSocket) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	w.s.writes++
	gate, broken := w.s.gate, w.s.broken
	w.s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if broken {
		return 0, errors.New("socket broken by the test")
	}
	return w.Conn.Write(p)
}

// dial is the Params.dial of a Queue whose sockets s watches.
func (s *socketWatch) dial(network, addr string) (net.Conn, error) {
	conn, err := net.DialTimeout(network, addr, DialTimeout)
	if err != nil {
		return nil, err
	}
	return newBatchedConn(watchedSocket{Conn: conn, s: s}), nil
}

func (s *socketWatch) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func TestConcurrentPutsLeaveInFewWrites(t *testing.T) {
	sock := &socketWatch{}
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}, dial: sock.dial})

	// The first publish holds the socket; the others pile up behind it.
	const puts = 40
	release := make(chan struct{})
	sock.mu.Lock()
	sock.gate = release
	sock.mu.Unlock()
	before := sock.count()
	var wg sync.WaitGroup
	for i := range puts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put(t, q, newEvent(fmt.Sprint("w", i), "dev.ferry.test"))
		}()
	}
	time.Sleep(300 * time.Millisecond)
	sock.mu.Lock()
	sock.gate = nil
	sock.mu.Unlock()
	close(release)
	wg.Wait()

	if got := ready(t, queueOf(t, q, "all")); got != puts {
		t.Errorf("the queue holds %d messages after %d confirmed puts", got, puts)
	}
	// Confirms come on the reading side; the writes of the publishes
	// (a heartbeat may add one) went out together.
	if n := sock.count() - before; n > puts/4 {
		t.Errorf("%d puts took %d socket writes, want at most %d", puts, n,
			puts/4)
	}
}

func TestPutFailsWhenItsFramesCannotBeWritten(t *testing.T) {
	sock := &socketWatch{}
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}, dial: sock.dial})
	put(t, q, newEvent("before", "dev.ferry.test"))

	sock.mu.Lock()
	sock.broken = true
	sock.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := q.Put(ctx, newEvent("lost", "dev.ferry.test"), []string{"all"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put over a broken socket: %v, want %v", err, ErrUnavailable)
	}

	sock.mu.Lock()
	sock.broken = false
	sock.mu.Unlock()
	if err := q.send.wait(ctx); err != nil {
		t.Fatalf("the publishing connection did not come back: %v", err)
	}
	for {
		_, err := q.Put(ctx, newEvent("after", "dev.ferry.test"), []string{"all"})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("put after the socket mended: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := ready(t, queueOf(t, q, "all")); got != 2 {
		t.Errorf("the queue holds %d messages, want the 2 confirmed ones", got)
	}
}
