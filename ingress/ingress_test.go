package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/ingress"
	"github.com/ferryfn/ferry/tasks"
)

// fakePublisher is an in-memory Broker as the eventing.Publisher contract
// describes it: an event whose source and id it has seen is not stored
// again, and the receipt names the first event's task with Duplicate set.
// The task id is the event's correlationid when it has one, else new.
type fakePublisher struct {
	mu sync.Mutex
	// received holds a copy of every event Publish was called with, as
	// the ingress passed it, before the fake added anything.
	received []event.Event
	// stored holds the events stored: received minus the duplicates.
	stored []event.Event
	tasks  map[string]string // source + "\x00" + id -> task id
	err    error
	panics bool
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{tasks: map[string]string{}}
}

func (p *fakePublisher) Publish(_ context.Context, e *event.Event) (
	eventing.Receipt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.panics {
		panic("fake publisher panics")
	}
	p.received = append(p.received, e.Clone())
	if p.err != nil {
		return eventing.Receipt{}, p.err
	}

	key := e.Source() + "\x00" + e.ID()
	if task, ok := p.tasks[key]; ok {
		return eventing.Receipt{TaskID: task, Duplicate: true}, nil
	}
	task, _ := e.Extensions()["correlationid"].(string)
	if task == "" {
		task = uuid.NewString()
		e.SetExtension("correlationid", task)
	}
	p.tasks[key] = task
	p.stored = append(p.stored, e.Clone())
	return eventing.Receipt{TaskID: task}, nil
}

func (p *fakePublisher) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakePublisher) setPanics() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.panics = true
}

// lastReceived returns the event of the latest Publish call.
func (p *fakePublisher) lastReceived(t *testing.T) event.Event {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.received) == 0 {
		t.Fatal("Publish was not called")
	}
	return p.received[len(p.received)-1]
}

func (p *fakePublisher) counts() (received, stored int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.received), len(p.stored)
}

// fakeTasks is an in-memory tasks.Reader.
type fakeTasks struct {
	mu      sync.Mutex
	tasks   map[string]tasks.Task
	results map[string]event.Event
	gets    int
}

func newFakeTasks() *fakeTasks {
	return &fakeTasks{
		tasks:   map[string]tasks.Task{},
		results: map[string]event.Event{},
	}
}

func (f *fakeTasks) Get(_ context.Context, id string) (*tasks.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	t, ok := f.tasks[id]
	if !ok {
		return nil, tasks.ErrNotFound
	}
	return &t, nil
}

func (f *fakeTasks) Result(_ context.Context, id string) (*event.Event,
	error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tasks[id]; !ok {
		return nil, tasks.ErrNotFound
	}
	e, ok := f.results[id]
	if !ok {
		return nil, tasks.ErrNoResult
	}
	c := e.Clone()
	return &c, nil
}

func (f *fakeTasks) put(t tasks.Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks[t.ID] = t
}

func (f *fakeTasks) putResult(id string, e event.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results[id] = e
}

func (f *fakeTasks) getCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is an ingress on an httptest server with fake Broker and store.
type harness struct {
	url   string
	srv   *ingress.Server
	pub   *fakePublisher
	store *fakeTasks
	logs  *syncBuffer
}

// newHarness starts an ingress; edit changes its Params first.
func newHarness(t *testing.T, edit ...func(*ingress.Params)) *harness {
	t.Helper()
	h := &harness{
		pub:   newFakePublisher(),
		store: newFakeTasks(),
		logs:  &syncBuffer{},
	}
	p := ingress.Params{
		Publisher: h.pub,
		Tasks:     h.store,
		Logger: slog.New(slog.NewJSONHandler(h.logs,
			&slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range edit {
		f(&p)
	}
	h.srv = ingress.New(p)
	hs := httptest.NewServer(h.srv.Handler())
	t.Cleanup(hs.Close)
	h.url = hs.URL
	return h
}

// do sends a request with the given headers and returns the answer, its
// body read.
func (h *harness) do(t *testing.T, method, path string,
	header map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// post sends a POST with a string body.
func (h *harness) post(t *testing.T, path string, header map[string]string,
	body string) (*http.Response, []byte) {
	t.Helper()
	return h.do(t, http.MethodPost, path, header, strings.NewReader(body))
}

// get sends a GET.
func (h *harness) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	return h.do(t, http.MethodGet, path, nil, nil)
}

// postAccepted posts and checks the answer is 202.
func (h *harness) postAccepted(t *testing.T, path string,
	header map[string]string, body string) ingress.Acceptance {
	t.Helper()
	resp, b := h.post(t, path, header, body)
	return wantAcceptance(t, resp, b)
}

// wantAcceptance checks a 202 answer and returns its body.
func wantAcceptance(t *testing.T, resp *http.Response,
	body []byte) ingress.Acceptance {
	t.Helper()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct,
		"application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var a ingress.Acceptance
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	if a.ID == "" || a.State != tasks.Accepted {
		t.Errorf("acceptance = %+v, want a task id and state accepted", a)
	}
	if want := "/v1/tasks/" + a.ID; a.Href != want ||
		resp.Header.Get("Location") != want {
		t.Errorf("href = %q, Location = %q, want %q", a.Href,
			resp.Header.Get("Location"), want)
	}
	return a
}

// wantProblem checks that an answer is the problem document of the given
// type and status, whose detail holds every one of details.
func wantProblem(t *testing.T, resp *http.Response, body []byte,
	status int, typ ingress.ProblemType, details ...string) ingress.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status,
			body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ingress.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, ingress.ProblemContentType)
	}
	var p ingress.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decoding problem %s: %v", body, err)
	}
	if p.Type != typ || p.Status != status || p.Title == "" {
		t.Errorf("problem = %+v, want type %s, status %d and a title", p,
			typ, status)
	}
	for _, d := range details {
		if !strings.Contains(p.Detail, d) {
			t.Errorf("detail %q does not name %q", p.Detail, d)
		}
	}
	return p
}

// wantSameEvent checks that the ingress passed on got as the producer sent
// want: every attribute, extension and the data.
func wantSameEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	type attrs struct {
		SpecVersion, ID, Source, Type, Subject, DataContentType string
		DataSchema                                              string
	}
	g := attrs{got.SpecVersion(), got.ID(), got.Source(), got.Type(),
		got.Subject(), got.DataContentType(), got.DataSchema()}
	w := attrs{want.SpecVersion(), want.ID(), want.Source(), want.Type(),
		want.Subject(), want.DataContentType(), want.DataSchema()}
	if g != w {
		t.Errorf("attributes = %+v, want %+v", g, w)
	}
	if !got.Time().Equal(want.Time()) {
		t.Errorf("time = %v, want %v", got.Time(), want.Time())
	}
	if !maps.EqualFunc(got.Extensions(), want.Extensions(),
		func(a, b any) bool { return a == b }) {
		t.Errorf("extensions = %v, want %v", got.Extensions(),
			want.Extensions())
	}
	if !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("data = %q, want %q", got.Data(), want.Data())
	}
}

// waitFor polls cond for up to a second.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); time.Now().Before(
		deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func TestNewPanicsWithoutPublisherOrTasks(t *testing.T) {
	for name, p := range map[string]ingress.Params{
		"no publisher": {Tasks: newFakeTasks()},
		"no tasks":     {Publisher: newFakePublisher()},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			ingress.New(p)
		})
	}
}

func TestPanicInHandlerAnswers500Problem(t *testing.T) {
	h := newHarness(t)
	h.pub.setPanics()

	resp, body := h.post(t, "/", binaryHeaders("1.0"), "{}")

	wantProblem(t, resp, body, http.StatusInternalServerError,
		ingress.ProblemInternal)
	if logs := h.logs.String(); !strings.Contains(logs,
		"fake publisher panics") {
		t.Errorf("log does not name the panic:\n%s", logs)
	}
}

func TestPublishErrorsMapToProblems(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		typ        ingress.ProblemType
		retryAfter string
	}{
		{"broker unavailable", fmt.Errorf("append to queue: %w",
			eventing.ErrBrokerUnavailable), http.StatusServiceUnavailable,
			ingress.ProblemBrokerUnavailable, "1"},
		{"other error", errors.New("open /var/lib/ferry/secret: disk on fire"),
			http.StatusInternalServerError, ingress.ProblemInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.pub.setErr(tt.err)

			resp, body := h.post(t, "/v1/events", binaryHeaders("1.0"), "{}")

			p := wantProblem(t, resp, body, tt.status, tt.typ)
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(p.Detail, "secret") ||
				strings.Contains(p.Detail, "fire") {
				t.Errorf("detail %q leaks the internal error", p.Detail)
			}
			if !strings.Contains(h.logs.String(), tt.err.Error()) {
				t.Errorf("log does not have the error %q", tt.err)
			}
		})
	}
}
