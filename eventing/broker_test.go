package eventing_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	bolt "go.etcd.io/bbolt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/embedded"
	"github.com/ferryfn/ferry/tasks"
)

// The tests here run a Broker over the embedded Queue on a bbolt file in a
// temporary folder, with the task store as its Observer, and real HTTP
// subscribers on 127.0.0.1 that speak CloudEvents.

// batchDelay is the bbolt commit grouping delay `ferry dev` uses.
const batchDelay = 2 * time.Millisecond

// namespace is the Broker's namespace, sent as Kn-Namespace.
const namespace = "shop"

func openDB(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return db
}

// resolver maps the host of a Destination's URI ("resize.fn") to the
// httptest server that plays it.
type resolver struct {
	mu    sync.Mutex
	hosts map[string]*url.URL
}

func (r *resolver) add(host string, srv *httptest.Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, _ := url.Parse(srv.URL)
	r.hosts[host] = u
}

func (r *resolver) Resolve(d duckv1.Destination) (eventing.Subscriber, error) {
	if d.URI == nil {
		return eventing.Subscriber{}, errors.New("destination has no uri")
	}
	r.mu.Lock()
	target, ok := r.hosts[d.URI.Host]
	r.mu.Unlock()
	if !ok {
		return eventing.Subscriber{}, fmt.Errorf("no server for %s", d.URI.Host)
	}
	u := url.URL(*d.URI)
	u.Scheme, u.Host = target.Scheme, target.Host
	return eventing.Subscriber{URL: &u, Transport: http.DefaultTransport}, nil
}

// received is one request a subscriber got.
type received struct {
	Event  *event.Event
	Header http.Header
	At     time.Time
}

// subscriber is an HTTP server that reads CloudEvents and answers with what
// respond returns for the n-th request (n counts from 1).
type subscriber struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, e *event.Event, w http.ResponseWriter)
}

func newSubscriber(t testing.TB, respond func(n int, e *event.Event,
	w http.ResponseWriter)) *subscriber {
	s := &subscriber{respond: respond}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) serve(w http.ResponseWriter, r *http.Request) {
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.got = append(s.got, received{Event: e, Header: r.Header.Clone(),
		At: time.Now()})
	n := len(s.got)
	s.mu.Unlock()
	if s.respond == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s.respond(n, e, w)
}

func (s *subscriber) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *subscriber) count() int { return len(s.received()) }

// reply answers with e in binary mode.
func reply(w http.ResponseWriter, e event.Event) {
	err := cehttp.WriteResponseWriter(context.Background(),
		binding.ToMessage(&e), http.StatusOK, w)
	if err != nil {
		panic(err)
	}
}

// status answers code with a plain text body.
func status(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// recorder is the task store as Observer, noting each call on the way.
type recorder struct {
	store *tasks.DiskStore

	mu       sync.Mutex
	routed   []routedCall
	attempts []eventing.Attempt
}

type routedCall struct {
	Kind     eventing.EventKind
	ID, Type string
	Triggers []string
}

func (r *recorder) Routed(ctx context.Context, kind eventing.EventKind,
	e *event.Event, triggers []string) error {
	r.mu.Lock()
	r.routed = append(r.routed, routedCall{kind, e.ID(), e.Type(),
		append([]string(nil), triggers...)})
	r.mu.Unlock()
	return r.store.Routed(ctx, kind, e, triggers)
}

// Attempted notes a reply the attempt carries as a routed reply too: the
// Broker reports replies that way.
func (r *recorder) Attempted(ctx context.Context, a eventing.Attempt) error {
	r.mu.Lock()
	r.attempts = append(r.attempts, a)
	if a.Reply != nil {
		r.routed = append(r.routed, routedCall{eventing.KindReply,
			a.Reply.ID(), a.Reply.Type(),
			append([]string(nil), a.ReplyTriggers...)})
	}
	r.mu.Unlock()
	return r.store.Attempted(ctx, a)
}

func (r *recorder) attemptsOf(trigger string) []eventing.Attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []eventing.Attempt
	for _, a := range r.attempts {
		if a.Trigger == trigger {
			out = append(out, a)
		}
	}
	return out
}

func (r *recorder) routedCalls() []routedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]routedCall(nil), r.routed...)
}

// stack is a Broker with its Queue, task store and subscribers.
type stack struct {
	t        *testing.T
	path     string
	db       *bolt.DB
	queue    *embedded.Queue
	store    *tasks.DiskStore
	abrupt   bool // halt cuts deliveries short instead of waiting
	rec      *recorder
	resolver *resolver
	broker   *eventing.Broker
	triggers []*eventingv1.Trigger
	delivery *eventingduckv1.DeliverySpec

	stop func()
}

func newStack(t *testing.T, delivery *eventingduckv1.DeliverySpec,
	triggers ...*eventingv1.Trigger) *stack {
	s := &stack{t: t, path: filepath.Join(t.TempDir(), "ferry.db"),
		resolver: &resolver{hosts: map[string]*url.URL{}},
		triggers: triggers, delivery: delivery}
	s.open()
	t.Cleanup(func() {
		s.halt()
		_ = s.db.Close()
	})
	return s
}

// open opens the bbolt file and builds the Queue, store and Broker on it.
func (s *stack) open() {
	t := s.t
	s.db = openDB(t, s.path)
	q, err := embedded.Open(s.db, "default")
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	store, err := tasks.NewDiskStore(s.db)
	if err != nil {
		t.Fatalf("open task store: %v", err)
	}
	s.queue, s.store = q, store
	s.rec = &recorder{store: store}
	s.broker, err = eventing.NewBroker(eventing.Params{
		Name:      "default",
		Namespace: namespace,
		Delivery:  s.delivery,
		Triggers:  s.triggers,
		Queue:     q,
		Resolver:  s.resolver,
		Observer:  s.rec,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("new broker: %v", err)
	}
}

// serve makes host a name for a new subscriber.
func (s *stack) serve(host string, respond func(n int, e *event.Event,
	w http.ResponseWriter)) *subscriber {
	sub := newSubscriber(s.t, respond)
	s.resolver.add(host, sub.srv)
	return sub
}

// start runs the Broker's dispatcher until the test ends or halt.
func (s *stack) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.broker.Run(ctx) }()
	s.stop = func() {
		cancel()
		if s.abrupt {
			s.broker.Abort()
		}
		if err := <-done; err != nil {
			s.t.Errorf("Run: %v", err)
		}
	}
}

// halt stops the dispatcher and waits for the deliveries in flight.
func (s *stack) halt() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// restart stops everything, deliveries in flight cut short, closes the
// bbolt file and opens it again, as a new process after a crash would.
func (s *stack) restart() {
	s.abrupt = true
	s.halt()
	s.abrupt = false
	if err := s.db.Close(); err != nil {
		s.t.Fatalf("close db: %v", err)
	}
	s.open()
	s.start()
}

func (s *stack) publish(e *event.Event) eventing.Receipt {
	s.t.Helper()
	r, err := s.broker.Publish(context.Background(), e)
	if err != nil {
		s.t.Fatalf("publish %s: %v", e.ID(), err)
	}
	return r
}

func (s *stack) task(id string) *tasks.Task {
	s.t.Helper()
	tk, err := s.store.Get(context.Background(), id)
	if err != nil {
		s.t.Fatalf("get task %s: %v", id, err)
	}
	return tk
}

// waitTask waits until task id is in state want and nothing is pending in
// the queue any more.
func (s *stack) waitTask(id string, want tasks.State) *tasks.Task {
	s.t.Helper()
	var tk *tasks.Task
	eventually(s.t, fmt.Sprintf("task %s %s", id, want), func() bool {
		var err error
		tk, err = s.store.Get(context.Background(), id)
		return err == nil && tk.State == want && s.queue.Pending() == 0
	})
	return tk
}

func (s *stack) waitIdle() {
	s.t.Helper()
	eventually(s.t, "queue empty", func() bool { return s.queue.Pending() == 0 })
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func trigger(name, host string, filter map[string]string) *eventingv1.Trigger {
	t := &eventingv1.Trigger{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: eventingv1.TriggerSpec{
			Broker:     "default",
			Subscriber: duckv1.Destination{URI: apis.HTTP(host)},
		},
	}
	t.Spec.Subscriber.URI.Path = "/"
	if filter != nil {
		t.Spec.Filter = &eventingv1.TriggerFilter{
			Attributes: eventingv1.TriggerFilterAttributes(filter)}
	}
	return t
}

// retries is a delivery spec with linear backoff of 0.1 s, the smallest
// step ISO-8601 durations have in Knative's parser.
func retries(n int32) *eventingduckv1.DeliverySpec {
	linear := eventingduckv1.BackoffPolicyLinear
	delay := "PT0.1S"
	return &eventingduckv1.DeliverySpec{Retry: &n, BackoffPolicy: &linear,
		BackoffDelay: &delay}
}

func withSink(d *eventingduckv1.DeliverySpec, host string) *eventingduckv1.DeliverySpec {
	d.DeadLetterSink = &duckv1.Destination{URI: apis.HTTP(host)}
	d.DeadLetterSink.URI.Path = "/"
	return d
}

func newEvent(source, id, typ string, data any) *event.Event {
	e := event.New()
	e.SetSource(source)
	e.SetID(id)
	e.SetType(typ)
	if data != nil {
		if err := e.SetData(event.ApplicationJSON, data); err != nil {
			panic(err)
		}
	}
	return &e
}

func TestBrokerDeliversToMatchingTriggerOnly(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil,
		trigger("invoice", "invoice.fn", map[string]string{"type": "order.created"}),
		trigger("refund", "refund.fn", map[string]string{"type": "order.cancelled"}))
	invoice := s.serve("invoice.fn", nil)
	refund := s.serve("refund.fn", nil)
	s.start()

	r := s.publish(newEvent("/shop/orders", "order-17", "order.created",
		map[string]any{"total": 42}))
	tk := s.waitTask(r.TaskID, tasks.Succeeded)

	if n := invoice.count(); n != 1 {
		t.Errorf("invoice got %d requests, want 1", n)
	}
	if n := refund.count(); n != 0 {
		t.Errorf("refund got %d requests, want 0", n)
	}
	if len(tk.Deliveries) != 1 || tk.Deliveries[0].Trigger != "invoice" ||
		tk.Deliveries[0].State != "delivered" || tk.Deliveries[0].Code != 202 {
		t.Errorf("deliveries = %+v, want one to invoice, delivered, 202",
			tk.Deliveries)
	}
	if tk.Attempts != 1 || tk.EventID != "order-17" || tk.Type != "order.created" {
		t.Errorf("task = %+v", tk)
	}
	if _, err := s.store.Result(context.Background(), r.TaskID); !errors.Is(err, tasks.ErrNoResult) {
		t.Errorf("Result after an empty answer: %v, want ErrNoResult", err)
	}
}

func TestBrokerSendsBinaryModeWithKnativeHeaders(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("invoice", "invoice.fn", nil))
	invoice := s.serve("invoice.fn", nil)
	s.start()

	e := newEvent("/shop/orders", "order-17", "order.created",
		map[string]any{"total": 42})
	e.SetExtension("tenant", "acme")
	r := s.publish(e)
	s.waitTask(r.TaskID, tasks.Succeeded)

	got := invoice.received()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	h := got[0].Header
	want := map[string]string{
		"Kn-Namespace":        namespace,
		"Prefer":              "reply",
		"Content-Type":        "application/json",
		"Ce-Specversion":      "1.0",
		"Ce-Id":               "order-17",
		"Ce-Source":           "/shop/orders",
		"Ce-Type":             "order.created",
		"Ce-Tenant":           "acme",
		"Ce-Correlationid":    r.TaskID,
		"Ce-Knativebrokerttl": "255",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	if string(got[0].Event.Data()) != `{"total":42}` {
		t.Errorf("data = %s", got[0].Event.Data())
	}
}

func TestBrokerRoutesReplyToNextTrigger(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil,
		trigger("resize", "resize.fn", map[string]string{"type": "image.uploaded"}),
		trigger("notify", "notify.fn", map[string]string{"type": "image.resized"}))
	resize := s.serve("resize.fn", func(n int, in *event.Event, w http.ResponseWriter) {
		out := newEvent("/fn/resize", "resized-"+in.ID(), "image.resized",
			map[string]any{"width": 320})
		reply(w, *out)
	})
	notify := s.serve("notify.fn", nil)
	s.start()

	r := s.publish(newEvent("/uploads", "img-1", "image.uploaded",
		map[string]any{"path": "cat.jpg"}))
	tk := s.waitTask(r.TaskID, tasks.Succeeded)

	if n := resize.count(); n != 1 {
		t.Errorf("resize got %d requests, want 1", n)
	}
	got := notify.received()
	if len(got) != 1 {
		t.Fatalf("notify got %d requests, want 1", len(got))
	}
	e := got[0].Event
	checks := map[string][2]string{
		"id":               {e.ID(), "resized-img-1"},
		"type":             {e.Type(), "image.resized"},
		"correlationid":    {ext(e, "correlationid"), r.TaskID},
		"causationid":      {ext(e, "causationid"), "img-1"},
		"knativebrokerttl": {ext(e, "knativebrokerttl"), "254"},
		"data":             {string(e.Data()), `{"width":320}`},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("reply %s = %q, want %q", name, c[0], c[1])
		}
	}

	if len(tk.Deliveries) != 2 {
		t.Fatalf("deliveries = %+v, want resize and notify", tk.Deliveries)
	}
	for _, d := range tk.Deliveries {
		if d.State != "delivered" {
			t.Errorf("delivery %s of %s: %s, want delivered", d.Trigger,
				d.EventID, d.State)
		}
	}
	if len(tk.Events) != 2 || tk.Events[0].Kind != "accepted" ||
		tk.Events[1].Kind != "reply" {
		t.Errorf("events = %+v, want accepted then reply", tk.Events)
	}
	res, err := s.store.Result(context.Background(), r.TaskID)
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if res.ID() != "resized-img-1" || string(res.Data()) != `{"width":320}` ||
		res.DataContentType() != "application/json" {
		t.Errorf("result = %s %s %s", res.ID(), res.DataContentType(), res.Data())
	}

	// The reply is recorded before the delivery that produced it is done.
	calls := s.rec.routedCalls()
	if len(calls) != 2 || calls[1].Kind != eventing.KindReply ||
		len(calls[1].Triggers) != 1 || calls[1].Triggers[0] != "notify" {
		t.Errorf("Routed calls = %+v", calls)
	}
	// A fast attempt is reported once, with its outcome.
	as := s.rec.attemptsOf("resize")
	if len(as) != 1 || as[0].Outcome != eventing.OutcomeDelivered ||
		as[0].Reply == nil || as[0].Reply.ID() != "resized-img-1" {
		t.Errorf("resize attempts = %+v", as)
	}
}

func ext(e *event.Event, name string) string {
	v, ok := e.Extensions()[name]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

func TestBrokerReportsSlowAttemptStartedBeforeItsOutcome(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	s.serve("fn.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		time.Sleep(3 * eventing.StartedReportDelay)
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	s.waitTask(r.TaskID, tasks.Succeeded)

	as := s.rec.attemptsOf("fn")
	if len(as) != 2 || as[0].Outcome != eventing.OutcomeStarted ||
		as[1].Outcome != eventing.OutcomeDelivered || as[1].Number != 1 {
		t.Fatalf("attempts = %+v, want started then delivered, #1", as)
	}
	if gap := as[1].At.Sub(as[0].At); gap < eventing.StartedReportDelay {
		t.Errorf("started reported %v before the outcome, want at least %v",
			gap, eventing.StartedReportDelay)
	}
}

func TestBrokerRetriesNonEventAnswer(t *testing.T) {
	t.Parallel()
	s := newStack(t, retries(2), trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		if n == 1 {
			status(w, http.StatusOK, "done!") // 2xx, but not an event
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	tk := s.waitTask(r.TaskID, tasks.Succeeded)

	if n := fn.count(); n != 2 {
		t.Errorf("fn got %d requests, want 2", n)
	}
	as := s.rec.attemptsOf("fn")
	if len(as) != 2 {
		t.Fatalf("attempts = %+v, want retrying, delivered", as)
	}
	if as[0].Outcome != eventing.OutcomeRetrying || as[0].Code != 502 {
		t.Errorf("first outcome %s %d, want retrying 502", as[0].Outcome,
			as[0].Code)
	}
	if as[1].Outcome != eventing.OutcomeDelivered || as[1].Code != 204 ||
		as[1].Number != 2 {
		t.Errorf("last outcome %s %d #%d, want delivered 204 #2",
			as[1].Outcome, as[1].Code, as[1].Number)
	}
	if tk.Attempts != 2 {
		t.Errorf("task attempts = %d, want 2", tk.Attempts)
	}
}

func TestBrokerRetriesServerErrorsWithBackoff(t *testing.T) {
	t.Parallel()
	s := newStack(t, retries(3), trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		if n <= 2 {
			status(w, http.StatusInternalServerError, "database is down")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	tk := s.waitTask(r.TaskID, tasks.Succeeded)

	got := fn.received()
	if len(got) != 3 {
		t.Fatalf("fn got %d requests, want 3", len(got))
	}
	// Linear backoff of 0.1 s: 0.1 s before retry 1, 0.2 s before retry 2.
	for i, want := range []time.Duration{100 * time.Millisecond,
		200 * time.Millisecond} {
		if gap := got[i+1].At.Sub(got[i].At); gap < want {
			t.Errorf("gap before retry %d = %v, want at least %v", i+1, gap, want)
		}
	}
	var retrying []eventing.Attempt
	for _, a := range s.rec.attemptsOf("fn") {
		if a.Outcome == eventing.OutcomeRetrying {
			retrying = append(retrying, a)
		}
	}
	if len(retrying) != 2 {
		t.Fatalf("retrying reports = %+v, want 2", retrying)
	}
	for i, a := range retrying {
		want := time.Duration(i+1) * 100 * time.Millisecond
		if a.Number != i+1 || a.Code != 500 || a.NextAttempt.Sub(a.At) != want {
			t.Errorf("retry %d: #%d code %d wait %v; want #%d 500 %v", i+1,
				a.Number, a.Code, a.NextAttempt.Sub(a.At), i+1, want)
		}
		if a.Reason != "subscriber answered 500 Internal Server Error: "+
			"database is down" {
			t.Errorf("retry %d: reason %q", i+1, a.Reason)
		}
	}
	if tk.Attempts != 3 || tk.Deliveries[0].Attempts != 3 {
		t.Errorf("attempts = %d (delivery %d), want 3", tk.Attempts,
			tk.Deliveries[0].Attempts)
	}
}

func TestBrokerDoesNotRetryBadRequest(t *testing.T) {
	t.Parallel()
	s := newStack(t, retries(5), trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
		status(w, http.StatusBadRequest, "missing field size")
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	tk := s.waitTask(r.TaskID, tasks.Failed)

	if n := fn.count(); n != 1 {
		t.Errorf("fn got %d requests, want 1 (400 is final)", n)
	}
	if tk.Code != 400 || tk.Reason != "subscriber answered 400 Bad Request: "+
		"missing field size" {
		t.Errorf("task code %d reason %q", tk.Code, tk.Reason)
	}
	as := s.rec.attemptsOf("fn")
	if last := as[len(as)-1]; last.Outcome != eventing.OutcomeDeadLettered {
		t.Errorf("last outcome %s, want deadlettered", last.Outcome)
	}
	if n := len(tk.Events); n != 2 || tk.Events[1].Kind != "deadletter" {
		t.Errorf("events = %+v, want accepted and deadletter", tk.Events)
	}
}

func TestDeadLetterSinkGetsEventWithErrorExtensions(t *testing.T) {
	t.Parallel()
	s := newStack(t, withSink(retries(1), "dead.fn"), trigger("fn", "fn.fn", nil))
	body := make([]byte, 5000)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	fn := s.serve("fn.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(body)
	})
	dead := s.serve("dead.fn", nil)
	s.start()

	e := newEvent("/shop/orders", "order-17", "order.created",
		map[string]any{"total": 42})
	r := s.publish(e)
	tk := s.waitTask(r.TaskID, tasks.Failed)

	if n := fn.count(); n != 2 {
		t.Errorf("fn got %d requests, want 2 (1 retry)", n)
	}
	got := dead.received()
	if len(got) != 1 {
		t.Fatalf("dead letter sink got %d requests, want 1", len(got))
	}
	dl := got[0].Event
	if h := got[0].Header; h.Get("Kn-Namespace") != namespace || h.Get("Ce-Id") != "order-17" {
		t.Errorf("dead letter headers: Kn-Namespace %q Ce-Id %q",
			h.Get("Kn-Namespace"), h.Get("Ce-Id"))
	}
	if dl.ID() != "order-17" || dl.Source() != "/shop/orders" ||
		dl.Type() != "order.created" || string(dl.Data()) != `{"total":42}` {
		t.Errorf("dead letter is not the original event: %s", dl)
	}
	if ext(dl, "correlationid") != r.TaskID {
		t.Errorf("dead letter correlationid %q, want %q",
			ext(dl, "correlationid"), r.TaskID)
	}
	// knativeerrordest is the destination that failed, as in Knative.
	if got, want := ext(dl, "knativeerrordest"), fn.srv.URL+"/"; got != want {
		t.Errorf("knativeerrordest = %q, want the subscriber %q", got, want)
	}
	if got := ext(dl, "knativeerrorcode"); got != "500" {
		t.Errorf("knativeerrorcode = %q, want 500", got)
	}
	data := ext(dl, "knativeerrordata")
	if len(data) != 1024 {
		t.Errorf("knativeerrordata has %d characters, want 1024", len(data))
	}
	if want := b64(body[:768]); data != want {
		t.Errorf("knativeerrordata = %.40s..., want base64 of the body's "+
			"first 768 bytes %.40s...", data, want)
	}
	if tk.Code != 500 {
		t.Errorf("task code %d, want 500", tk.Code)
	}
}

func TestDeadLetterKeepsEventWhileSinkIsDown(t *testing.T) {
	t.Parallel()
	s := newStack(t, withSink(retries(0), "dead.fn"), trigger("fn", "fn.fn", nil))
	s.serve("fn.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
		status(w, http.StatusUnprocessableEntity, "cannot parse")
	})
	dead := s.serve("dead.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		if n <= 3 {
			status(w, http.StatusServiceUnavailable, "sink restarting")
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	s.waitTask(r.TaskID, tasks.Failed)

	got := dead.received()
	if len(got) != 4 {
		t.Fatalf("sink got %d requests, want 4 (3 refused, then taken)", len(got))
	}
	for i, g := range got {
		if g.Event.ID() != "1" || ext(g.Event, "knativeerrorcode") != "422" {
			t.Errorf("request %d: id %s code %s", i+1, g.Event.ID(),
				ext(g.Event, "knativeerrorcode"))
		}
	}
	// Backoff between sink attempts: 0.1 s, 0.2 s, 0.3 s.
	for i := 1; i < len(got); i++ {
		want := time.Duration(i) * 100 * time.Millisecond
		if gap := got[i].At.Sub(got[i-1].At); gap < want {
			t.Errorf("gap before sink attempt %d = %v, want at least %v",
				i+1, gap, want)
		}
	}
}

func TestDeadLetterSurvivesRestartWhileSinkIsDown(t *testing.T) {
	t.Parallel()
	s := newStack(t, withSink(retries(0), "dead.fn"), trigger("fn", "fn.fn", nil))
	s.serve("fn.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
		status(w, http.StatusBadRequest, "no")
	})
	var up atomic.Bool
	dead := s.serve("dead.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
		if !up.Load() {
			status(w, http.StatusServiceUnavailable, "down")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	s.publish(newEvent("/s", "1", "job", nil))
	eventually(t, "two refused sink attempts", func() bool { return dead.count() >= 2 })
	s.restart()
	up.Store(true)
	s.waitIdle()

	got := dead.received()
	last := got[len(got)-1].Event
	if last.ID() != "1" || ext(last, "knativeerrorcode") != "400" {
		t.Errorf("after restart the sink got id %s code %s, want 1 and 400",
			last.ID(), ext(last, "knativeerrorcode"))
	}
}

func TestPublishSameEventTwiceDeliversOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", nil)

	first := s.publish(newEvent("/shop/orders", "order-17", "order.created",
		map[string]any{"n": 1}))
	again := s.publish(newEvent("/shop/orders", "order-17", "order.created",
		map[string]any{"n": 2}))
	if first.Duplicate {
		t.Error("first publish marked Duplicate")
	}
	if !again.Duplicate || again.TaskID != first.TaskID {
		t.Errorf("second receipt %+v, want Duplicate of task %s", again,
			first.TaskID)
	}
	s.start()
	s.waitTask(first.TaskID, tasks.Succeeded)
	// Resubmitted after it ran: still the same task, no new delivery.
	late := s.publish(newEvent("/shop/orders", "order-17", "order.created", nil))
	if !late.Duplicate || late.TaskID != first.TaskID {
		t.Errorf("late receipt %+v", late)
	}
	s.waitIdle()

	got := fn.received()
	if len(got) != 1 {
		t.Fatalf("fn got %d requests, want 1", len(got))
	}
	if string(got[0].Event.Data()) != `{"n":1}` {
		t.Errorf("delivered data %s, want the first event's", got[0].Event.Data())
	}
	// Each post reports the first copy (idempotently), so that a store
	// that missed the first report learns of it from the retry.
	calls := s.rec.routedCalls()
	if len(calls) != 3 {
		t.Errorf("Observer told %d times, want once per post (3)", len(calls))
	}
	for _, c := range calls {
		if c.Kind != eventing.KindAccepted || c.ID != "order-17" {
			t.Errorf("reported %+v, want the accepted order-17", c)
		}
	}
	tk, err := s.store.Get(context.Background(), first.TaskID)
	if err != nil || len(tk.Events) != 1 {
		t.Errorf("task has %v events (err %v), want 1", len(tk.Events), err)
	}
}

func TestReplyLoopStopsWhenBrokerTTLIsExhausted(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("ping", "ping.fn", map[string]string{"type": "ping"}))
	ping := s.serve("ping.fn", func(n int, in *event.Event, w http.ResponseWriter) {
		reply(w, *newEvent("/fn/ping", fmt.Sprintf("ping-%d", n), "ping", nil))
	})
	s.start()

	e := newEvent("/s", "ping-0", "ping", nil)
	e.SetExtension("knativebrokerttl", 4)
	r := s.publish(e)
	tk := s.waitTask(r.TaskID, tasks.Failed)

	// ttl 4 on the producer's event; replies get 3, 2, 1 and are routed;
	// the fourth reply would get 0 and is not.
	got := ping.received()
	if len(got) != 4 {
		t.Fatalf("ping got %d requests, want 4", len(got))
	}
	for i, g := range got {
		if want := fmt.Sprint(4 - i); ext(g.Event, "knativebrokerttl") != want {
			t.Errorf("request %d: ttl %s, want %s", i+1,
				ext(g.Event, "knativebrokerttl"), want)
		}
	}
	replies := 0
	for _, c := range s.rec.routedCalls() {
		if c.Kind == eventing.KindReply {
			replies++
		}
	}
	if replies != 3 {
		t.Errorf("%d replies routed, want 3", replies)
	}
	for _, ev := range tk.Events {
		if ev.Attributes["id"] == "ping-4" && ev.Kind == "reply" {
			t.Error("the reply with no hops left was recorded as a reply")
		}
	}
	if want := "knativebrokerttl exhausted"; !contains(tk.Reason, want) {
		t.Errorf("task reason %q does not say %q", tk.Reason, want)
	}
}

func TestNoMatchingTriggerLeavesTaskAccepted(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", map[string]string{"type": "a"}))
	fn := s.serve("fn.fn", nil)
	s.start()

	r := s.publish(newEvent("/s", "1", "b", nil))
	tk := s.task(r.TaskID)
	if tk.State != tasks.Accepted || tk.Reason != "no Trigger matched the event" {
		t.Errorf("task %s %q, want accepted, no Trigger matched", tk.State,
			tk.Reason)
	}
	if s.queue.Pending() != 0 || fn.count() != 0 {
		t.Errorf("pending %d, fn got %d; want nothing", s.queue.Pending(),
			fn.count())
	}
}

func TestDeliveryTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	d := retries(1)
	timeout := "PT0.1S"
	d.Timeout = &timeout
	s := newStack(t, d, trigger("slow", "slow.fn", nil))
	slow := s.serve("slow.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		if n == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	s.waitTask(r.TaskID, tasks.Succeeded)
	as := s.rec.attemptsOf("slow")
	if len(as) < 2 || as[1].Outcome != eventing.OutcomeRetrying ||
		as[1].Code != 0 || !contains(as[1].Reason, "deadline exceeded") {
		t.Errorf("attempts = %+v, want a retry after a timeout (code 0)", as)
	}
	if slow.count() != 2 {
		t.Errorf("slow got %d requests, want 2", slow.count())
	}
}

func TestGracefulStopLetsDeliveriesInFlightFinish(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	entered := make(chan struct{}, 1)
	fn := s.serve("fn.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		entered <- struct{}{}
		time.Sleep(200 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	<-entered
	s.halt() // waits for the delivery in flight
	tk := s.task(r.TaskID)
	if tk.State != tasks.Succeeded || tk.Attempts != 1 || fn.count() != 1 {
		t.Errorf("after a graceful stop: %s, %d attempts, %d requests; want "+
			"succeeded, 1, 1", tk.State, tk.Attempts, fn.count())
	}
}

func TestDeliveryCutByShutdownIsMadeAgainAfterRestart(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	entered := make(chan struct{}, 1)
	fn := s.serve("fn.fn", func(n int, _ *event.Event, w http.ResponseWriter) {
		if n == 1 {
			entered <- struct{}{}
			time.Sleep(300 * time.Millisecond) // cut short by the shutdown
		}
		w.WriteHeader(http.StatusOK)
	})
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	<-entered
	s.restart()
	tk := s.waitTask(r.TaskID, tasks.Succeeded)

	if n := fn.count(); n != 2 {
		t.Errorf("fn got %d requests, want 2", n)
	}
	// Both starts are counted: the cut one and the one that got through.
	if tk.Attempts != 2 {
		t.Errorf("task attempts = %d, want 2", tk.Attempts)
	}
}

func TestDeliveryForRemovedTriggerIsBuried(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", nil)
	// A delivery stored by an earlier run, for a Trigger since removed.
	if _, err := s.queue.Put(context.Background(),
		newEvent("/s", "old", "job", nil), []string{"gone", "fn"}); err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitIdle()
	if n := fn.count(); n != 1 {
		t.Errorf("fn got %d requests, want 1", n)
	}
}

func TestDeadLetterPhaseWithoutSinkIsBuried(t *testing.T) {
	t.Parallel()
	// An earlier run, configured with a dead letter sink, moved this
	// delivery to its dead letter phase; the sink has been removed since.
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", nil)
	if _, err := s.queue.Put(context.Background(),
		newEvent("/s", "1", "job", nil), []string{"fn"}); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.queue.Claim(time.Now(), 1)
	if len(ds) != 1 {
		t.Fatalf("claimed %d, want 1", len(ds))
	}
	d := ds[0]
	d.DeadLetter, d.ErrCode = true, 500
	if err := s.queue.Retry(context.Background(), d, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.start()
	s.waitIdle()
	if n := fn.count(); n != 0 {
		t.Errorf("fn got %d requests, want 0: the event failed already", n)
	}
}

func TestPublishWhenQueueIsClosedIsBrokerUnavailable(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.broker.Publish(context.Background(), newEvent("/s", "1", "job", nil))
	if !errors.Is(err, eventing.ErrBrokerUnavailable) {
		t.Errorf("Publish on a closed database: %v, want ErrBrokerUnavailable", err)
	}
}

func TestNewBrokerRefusesBadParams(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "ferry.db"))
	defer db.Close()
	q, err := embedded.Open(db, "default")
	if err != nil {
		t.Fatal(err)
	}
	res := &resolver{hosts: map[string]*url.URL{}}
	bad := "soon"
	tests := []struct {
		name string
		p    eventing.Params
		want string
	}{
		{"no queue", eventing.Params{Resolver: res}, "Queue and Resolver are required"},
		{"no resolver", eventing.Params{Queue: q}, "Queue and Resolver are required"},
		{"bad broker delivery", eventing.Params{Name: "default", Queue: q,
			Resolver: res, Delivery: &eventingduckv1.DeliverySpec{BackoffDelay: &bad}},
			"broker default: spec.delivery: backoffDelay"},
		{"two triggers with one name", eventing.Params{Name: "default", Queue: q,
			Resolver: res, Triggers: []*eventingv1.Trigger{
				trigger("fn", "a.fn", nil), trigger("fn", "b.fn", nil)}},
			`two Triggers named "fn"`},
	}
	for _, tt := range tests {
		_, err := eventing.NewBroker(tt.p)
		if err == nil || !contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// BenchmarkBrokerPublish measures Publish on the embedded Queue: every
// event is committed and fsynced before Publish returns. Run serially each
// Publish pays for a commit of its own (plus bbolt's batch delay); run in
// parallel the commits are grouped, and the cost per event falls.
func BenchmarkBrokerPublish(b *testing.B) {
	for _, withStore := range []bool{false, true} {
		name := "queue"
		if withStore {
			name = "queue+taskstore"
		}
		b.Run(name+"/serial", func(b *testing.B) {
			br := benchBroker(b, withStore)
			i := 0
			for b.Loop() {
				i++
				publishBench(b, br, fmt.Sprintf("s-%d", i))
			}
		})
		b.Run(name+"/parallel", func(b *testing.B) {
			br := benchBroker(b, withStore)
			var n atomic.Int64
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					publishBench(b, br, fmt.Sprintf("p-%d", n.Add(1)))
				}
			})
		})
	}
}

func benchBroker(b *testing.B, withStore bool) *eventing.Broker {
	db := openDB(b, filepath.Join(b.TempDir(), "ferry.db"))
	b.Cleanup(func() { _ = db.Close() })
	q, err := embedded.Open(db, "default")
	if err != nil {
		b.Fatal(err)
	}
	p := eventing.Params{Name: "default", Namespace: namespace, Queue: q,
		Resolver: &resolver{hosts: map[string]*url.URL{}},
		Triggers: []*eventingv1.Trigger{trigger("fn", "fn.fn",
			map[string]string{"type": "order.created"})},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withStore {
		store, err := tasks.NewDiskStore(db)
		if err != nil {
			b.Fatal(err)
		}
		p.Observer = store
	}
	br, err := eventing.NewBroker(p)
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func publishBench(b *testing.B, br *eventing.Broker, id string) {
	e := newEvent("/bench", id, "order.created", map[string]any{"total": 42})
	if _, err := br.Publish(context.Background(), e); err != nil {
		b.Error(err)
	}
}

// countingQueue is the embedded Queue, counting the calls to Claim.
type countingQueue struct {
	*embedded.Queue
	claims atomic.Int64
}

func (q *countingQueue) Claim(now time.Time, max int) ([]eventing.Delivery,
	time.Time) {
	q.claims.Add(1)
	return q.Queue.Claim(now, max)
}

func TestBusyDispatcherWaitsForAFreeSlot(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("slow", "slow.fn", nil))
	slow := s.serve("slow.fn", func(int, *event.Event, http.ResponseWriter) {
		time.Sleep(150 * time.Millisecond)
	})
	q := &countingQueue{Queue: s.queue}
	b, err := eventing.NewBroker(eventing.Params{Name: "default", Queue: q,
		Resolver: s.resolver, Triggers: s.triggers, Parallelism: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := b.Publish(context.Background(),
			newEvent("/s", fmt.Sprint(i), "job", nil)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	eventually(t, "4 deliveries", func() bool { return s.queue.Pending() == 0 })
	cancel()
	<-done

	if slow.count() != 4 {
		t.Errorf("slow got %d requests, want 4", slow.count())
	}
	// 4 deliveries one at a time over 0.6 s: a claim per freed slot and
	// wake, not one per millisecond while the backlog waits.
	if n := q.claims.Load(); n > 40 {
		t.Errorf("Claim called %d times for 4 deliveries", n)
	}
}

func TestReplyWithDataTheJSONFormatCannotHoldIsRouted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType string
		data              []byte
	}{
		{"JSON media type, not JSON", "application/json", []byte("OK, done")},
		{"text that is not UTF-8", "text/plain", []byte("caf\xe9")},
		{"PNG", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\xff\xfe")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, nil,
				trigger("make", "make.fn", map[string]string{"type": "job"}),
				trigger("store", "store.fn", map[string]string{"type": "job.done"}))
			s.serve("make.fn", func(_ int, _ *event.Event, w http.ResponseWriter) {
				h := w.Header()
				h.Set("Ce-Specversion", "1.0")
				h.Set("Ce-Id", "out-1")
				h.Set("Ce-Source", "/fn/make")
				h.Set("Ce-Type", "job.done")
				h.Set("Content-Type", tt.contentType)
				_, _ = w.Write(tt.data)
			})
			store := s.serve("store.fn", nil)
			s.start()

			r := s.publish(newEvent("/s", "1", "job", nil))
			s.waitTask(r.TaskID, tasks.Succeeded)
			got := store.received()
			if len(got) != 1 || string(got[0].Event.Data()) != string(tt.data) ||
				got[0].Event.DataContentType() != tt.contentType {
				t.Fatalf("store got %d requests, want 1 with the reply's bytes", len(got))
			}
			res, err := s.store.Result(context.Background(), r.TaskID)
			if err != nil || string(res.Data()) != string(tt.data) {
				t.Errorf("Result = %v, %v; want the reply's bytes", res, err)
			}
		})
	}
}

func TestPublishKeepsDataTheJSONFormatCannotHold(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil, trigger("fn", "fn.fn", nil))
	fn := s.serve("fn.fn", nil)
	s.start()

	// As a binary-mode request gives it: the SDK does not mark the data
	// for base64, whatever it is.
	e := newEvent("/s", "1", "job", nil)
	e.DataEncoded = []byte("{truncated")
	e.SetDataContentType("application/json")
	r := s.publish(e)
	s.waitTask(r.TaskID, tasks.Succeeded)
	got := fn.received()
	if len(got) != 1 || string(got[0].Event.Data()) != "{truncated" {
		t.Errorf("fn got %d requests, want 1 with the event's bytes", len(got))
	}
}

func TestUnresolvableSubscriberIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	s := newStack(t, retries(1), trigger("fn", "missing.fn", nil))
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	tk := s.waitTask(r.TaskID, tasks.Failed)
	if tk.Attempts != 2 || tk.Code != 0 ||
		tk.Reason != "resolve subscriber: no server for missing.fn" {
		t.Errorf("task: %d attempts, code %d, reason %q", tk.Attempts, tk.Code,
			tk.Reason)
	}
}

func TestReplyReusingItsEventsIDFailsVisibly(t *testing.T) {
	t.Parallel()
	s := newStack(t, nil,
		trigger("echo", "echo.fn", map[string]string{"type": "job"}),
		trigger("next", "next.fn", map[string]string{"type": "job.done"}))
	s.serve("echo.fn", func(_ int, in *event.Event, w http.ResponseWriter) {
		out := in.Clone() // kn func's template habit: answer with the input
		out.SetType("job.done")
		reply(w, out)
	})
	next := s.serve("next.fn", nil)
	s.start()

	r := s.publish(newEvent("/s", "1", "job", nil))
	tk := s.waitTask(r.TaskID, tasks.Failed)
	if next.count() != 0 {
		t.Errorf("next got %d requests, want 0", next.count())
	}
	if !contains(tk.Reason, eventing.ErrReplyReusesID.Error()) {
		t.Errorf("task reason %q does not say %q", tk.Reason,
			eventing.ErrReplyReusesID)
	}
	for _, d := range tk.Deliveries {
		if d.State == "pending" {
			t.Errorf("delivery %s of %s left pending", d.Trigger, d.EventID)
		}
	}
}
