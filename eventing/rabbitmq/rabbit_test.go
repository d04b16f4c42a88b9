package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/internal/testservices"
)

// runID marks every exchange, queue and connection of this test process,
// so that TestMain can tell whether the tests cleaned up after themselves.
var runID = func() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "ft" + hex.EncodeToString(b)
}()

const testNamespace = "ferrytest"

var brokerSeq atomic.Int64

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	code := m.Run()
	if code == 0 {
		if left := leftoverQueues(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "queues left behind: %v\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// leftoverQueues lists this run's queues that still exist, when
// rabbitmqctl can tell.
func leftoverQueues() []string {
	out, err := exec.Command("rabbitmqctl", "list_queues", "-q",
		"--no-table-headers", "name").Output()
	if err != nil {
		return nil
	}
	var left []string
	for _, name := range strings.Fields(string(out)) {
		if strings.Contains(name, runID) {
			left = append(left, name)
		}
	}
	return left
}

func amqpURL() string {
	if u := os.Getenv("FERRY_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// unreachable fails the test in CI and skips it elsewhere.
func unreachable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s unreachable in CI: %v", what, err)
	}
	t.Skipf("%s unreachable (%v); set FERRY_AMQP_URL", what, err)
}

var (
	probeOnce sync.Once
	probeErr  error
)

// requireRabbitMQ dials RabbitMQ once per test process, so that when it is
// down every test says so at once instead of waiting for Open to give up.
func requireRabbitMQ(t testing.TB) {
	t.Helper()
	probeOnce.Do(func() {
		conn, err := amqp.DialConfig(amqpURL(), amqp.Config{
			Dial: amqp.DefaultDial(3 * time.Second)})
		if err == nil {
			_ = conn.Close()
		}
		probeErr = err
	})
	if probeErr != nil {
		unreachable(t, "RabbitMQ", probeErr)
	}
}

// admin is a plain connection for inspecting and cleaning up, closed when
// the test ends.
func admin(t testing.TB) *amqp.Channel {
	t.Helper()
	requireRabbitMQ(t)
	conn, err := amqp.Dial(amqpURL())
	if err != nil {
		unreachable(t, "RabbitMQ", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("admin channel: %v", err)
	}
	return ch
}

// rabbitmqctl runs the tool, failing the test in CI when it is missing.
func rabbitmqctl(t testing.TB, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		unreachable(t, "rabbitmqctl", err)
	}
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
	return out
}

func testLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("FERRY_TEST_LOG") != "" {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w,
		&slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newBrokerName is unique to the test process and the test.
func newBrokerName() string {
	return fmt.Sprintf("%s-b%d", runID, brokerSeq.Add(1))
}

// trig builds a Trigger with filter attributes (nil for none) and an
// optional parallelism annotation (0 for none).
func trig(name string, attrs map[string]string, par int) *eventingv1.Trigger {
	t := &eventingv1.Trigger{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace},
	}
	if attrs != nil {
		t.Spec.Filter = &eventingv1.TriggerFilter{Attributes: attrs}
	}
	if par > 0 {
		t.Annotations = map[string]string{
			ParallelismAnnotation: fmt.Sprint(par)}
	}
	return t
}

// testParams fills in what every test Queue needs.
func testParams(p Params) Params {
	if p.URL == "" {
		p.URL = amqpURL()
	}
	if p.Broker == "" {
		p.Broker = newBrokerName()
	}
	if p.Namespace == "" {
		p.Namespace = testNamespace
	}
	if p.ConnectionName == "" {
		p.ConnectionName = "ferry-test " + p.Broker
	}
	p.Logger = testLogger()
	return p
}

// openQueue opens a Queue on the test RabbitMQ and, when the test ends,
// closes it and deletes its exchange and queues.
func openQueue(t testing.TB, p Params) *Queue {
	t.Helper()
	requireRabbitMQ(t)
	p = testParams(p)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := Open(ctx, p)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			unreachable(t, "RabbitMQ", err)
		}
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		_ = q.Close()
		deleteTopology(t, q.top)
	})
	return q
}

// deleteTopology removes a Broker's exchange and queues.
func deleteTopology(t testing.TB, top topology) {
	t.Helper()
	ch := admin(t)
	for _, b := range top.bindings {
		if _, err := ch.QueueDelete(b.queue, false, false, false); err != nil {
			t.Errorf("delete queue %s: %v", b.queue, err)
			return
		}
	}
	if _, err := ch.QueueDelete(top.dead, false, false, false); err != nil {
		t.Errorf("delete queue %s: %v", top.dead, err)
		return
	}
	if err := ch.ExchangeDelete(top.exchange, false, false); err != nil {
		t.Errorf("delete exchange %s: %v", top.exchange, err)
	}
}

// consume starts q's consumers.
func consume(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.StartConsuming(ctx); err != nil {
		t.Fatalf("start consuming: %v", err)
	}
}

// ready counts the messages ready in a queue (not those held unacked).
//
// A consumer's unacked messages go back to the queue a moment after its
// connection closes, so it first waits (up to 5 s) for the queue to have
// no consumers.
func ready(t testing.TB, queue string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := admin(t).QueueDeclarePassive(queue, true, false, false,
			false, nil)
		if err != nil {
			t.Fatalf("inspect queue %s: %v", queue, err)
		}
		if st.Consumers == 0 || time.Now().After(deadline) {
			return st.Messages
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// queueOf names the queue of a Trigger of q.
func queueOf(t testing.TB, q *Queue, trigger string) string {
	t.Helper()
	for _, b := range q.top.bindings {
		if b.trigger == trigger {
			return b.queue
		}
	}
	t.Fatalf("no trigger %s", trigger)
	return ""
}

// claimN claims until n deliveries came or 10 s passed.
func claimN(t testing.TB, q *Queue, n int) []eventing.Delivery {
	t.Helper()
	var got []eventing.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < n && time.Now().Before(deadline) {
		ds, _ := q.Claim(time.Now(), n-len(got))
		got = append(got, ds...)
		if len(got) < n {
			select {
			case <-q.Wake():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if len(got) < n {
		t.Fatalf("claimed %d deliveries, want %d", len(got), n)
	}
	return got
}

// claimNone checks that nothing is handed out for a while.
func claimNone(t testing.TB, q *Queue, wait time.Duration) time.Time {
	t.Helper()
	var next time.Time
	for end := time.Now().Add(wait); time.Now().Before(end); {
		var ds []eventing.Delivery
		ds, next = q.Claim(time.Now(), 10)
		if len(ds) > 0 {
			t.Fatalf("claimed %s, want nothing", ds[0].Event.ID())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return next
}

func newEvent(id, typ string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/ferry/test")
	e.SetType(typ)
	_ = e.SetData("application/json", map[string]string{"id": id})
	return &e
}

func put(t testing.TB, q *Queue, e *event.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := q.Put(ctx, e, []string{"all"}); err != nil {
		t.Fatalf("put %s: %v", e.ID(), err)
	}
}

// closeConnections closes, through rabbitmqctl, the connections whose
// client properties (the connection_name among them) contain part, and
// returns how many. The table listing is used because the JSON one prints
// the process ids in a form close_connection does not take.
func closeConnections(t testing.TB, part string) int {
	t.Helper()
	out := rabbitmqctl(t, "list_connections", "-q", "--no-table-headers",
		"pid", "client_properties")
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.Contains(line, part) {
			continue
		}
		rabbitmqctl(t, "close_connection", fields[0], "ferry test")
		n++
	}
	return n
}

// proxy stands between a test's Queue and RabbitMQ, to stage outages.
type proxy struct{ *testservices.Proxy }

func startProxy(t testing.TB) proxy {
	t.Helper()
	u, err := amqp.ParseURI(amqpURL())
	if err != nil {
		t.Fatalf("parse %s: %v", amqpURL(), err)
	}
	return proxy{testservices.StartProxy(t,
		net.JoinHostPort(u.Host, fmt.Sprint(u.Port)))}
}

// url is the AMQP URL through the proxy.
func (p proxy) url() string {
	u, _ := amqp.ParseURI(amqpURL())
	host, port, _ := net.SplitHostPort(p.Addr())
	u.Host = host
	fmt.Sscan(port, &u.Port)
	return u.String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// heldCount is how many unacked messages q's consumers hold.
func (q *Queue) heldCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held)
}

// lostCount is how many consumer connections q lost.
func (q *Queue) lostCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.session
}
