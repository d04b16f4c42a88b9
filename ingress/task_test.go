package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/ferryfn/ferry/ingress"
	"github.com/ferryfn/ferry/tasks"
)

// runningTask is a task midway: one delivery under way.
func runningTask(id string) tasks.Task {
	at := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	return tasks.Task{
		ID:        id,
		Type:      "com.example.image.resize",
		Source:    "/uploads",
		EventID:   "evt-" + id,
		State:     tasks.Running,
		Attempts:  1,
		CreatedAt: at,
		UpdatedAt: at.Add(time.Second),
		Deliveries: []tasks.Delivery{{
			EventID:    "evt-" + id,
			Trigger:    "resize",
			Subscriber: "http://127.0.0.1:8081",
			State:      "running",
			Attempts:   1,
			UpdatedAt:  at.Add(time.Second),
		}},
		Events: []tasks.Event{{
			Kind:       "accepted",
			Attributes: map[string]any{"id": "evt-" + id, "type": "t"},
			Data:       json.RawMessage(`{"w":64}`),
			DataSize:   8,
			RecordedAt: at,
		}},
	}
}

// finished returns t finished in state s.
func finished(t tasks.Task, s tasks.State, reason string) tasks.Task {
	at := t.UpdatedAt.Add(time.Second)
	t.State, t.Reason, t.UpdatedAt, t.FinishedAt = s, reason, at, &at
	return t
}

// decodeTask reads a task answer.
func decodeTask(t *testing.T, resp *http.Response, body []byte) tasks.Task {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
	var got tasks.Task
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("decoding %s: %v", body, err)
	}
	return got
}

func TestGetTaskAnswersTheTaskAsJSON(t *testing.T) {
	h := newHarness(t)
	want := runningTask("t1")
	h.store.put(want)

	resp, body := h.get(t, "/v1/tasks/t1")

	got := decodeTask(t, resp, body)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("task = %+v, want %+v", got, want)
	}
}

func TestGetUnknownTaskAnswers404NamingTheID(t *testing.T) {
	h := newHarness(t)

	for _, path := range []string{"/v1/tasks/nope", "/v1/tasks/nope/result",
		"/v1/tasks/nope?wait=50ms"} {
		resp, body := h.get(t, path)
		wantProblem(t, resp, body, http.StatusNotFound,
			ingress.ProblemTaskNotFound, `no task with id "nope"`)
	}
}

func TestGetTaskWaitAnswersAsSoonAsTaskFinishes(t *testing.T) {
	h := newHarness(t)
	task := runningTask("t1")
	h.store.put(task)
	go func() {
		time.Sleep(100 * time.Millisecond)
		h.store.put(finished(task, tasks.Succeeded, ""))
	}()

	start := time.Now()
	resp, body := h.get(t, "/v1/tasks/t1?wait=10s")
	took := time.Since(start)

	if got := decodeTask(t, resp, body); got.State != tasks.Succeeded {
		t.Errorf("state = %s, want succeeded", got.State)
	}
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("answered after %v, want soon after 100ms", took)
	}
}

func TestGetTaskWaitAnswersUnfinishedTaskWhenWaitEnds(t *testing.T) {
	h := newHarness(t)
	h.store.put(runningTask("t1"))

	start := time.Now()
	resp, body := h.get(t, "/v1/tasks/t1?wait=150ms")
	took := time.Since(start)

	if got := decodeTask(t, resp, body); got.State != tasks.Running {
		t.Errorf("state = %s, want running", got.State)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("answered after %v, want about 150ms", took)
	}
}

func TestGetFinishedTaskWithWaitAnswersAtOnce(t *testing.T) {
	h := newHarness(t)
	h.store.put(finished(runningTask("t1"), tasks.Failed, "boom"))

	start := time.Now()
	resp, body := h.get(t, "/v1/tasks/t1?wait=10s")

	if got := decodeTask(t, resp, body); got.State != tasks.Failed {
		t.Errorf("state = %s, want failed", got.State)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("answered after %v, want at once", took)
	}
}

func TestGetTaskWaitIsCutToWaitMax(t *testing.T) {
	h := newHarness(t, func(p *ingress.Params) {
		p.WaitMax = 100 * time.Millisecond
	})
	h.store.put(runningTask("t1"))

	start := time.Now()
	resp, body := h.get(t, "/v1/tasks/t1?wait=1h")

	if got := decodeTask(t, resp, body); got.State != tasks.Running {
		t.Errorf("state = %s, want running", got.State)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("answered after %v, want about WaitMax (100ms)", took)
	}
}

func TestGetTaskWaitFindsTaskTheStoreLearnsOfLater(t *testing.T) {
	h := newHarness(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.store.put(finished(runningTask("late"), tasks.Succeeded, ""))
	}()

	resp, body := h.get(t, "/v1/tasks/late?wait=5s")

	if got := decodeTask(t, resp, body); got.ID != "late" {
		t.Errorf("task = %q, want late", got.ID)
	}
}

func TestGetTaskWaitRejectsBadDurations(t *testing.T) {
	h := newHarness(t)
	h.store.put(runningTask("t1"))

	for _, wait := range []string{"soon", "10", "-1s"} {
		for _, path := range []string{"/v1/tasks/t1", "/v1/tasks/t1/result"} {
			resp, body := h.get(t, path+"?wait="+wait)
			wantProblem(t, resp, body, http.StatusBadRequest,
				ingress.ProblemInvalidParameter,
				`invalid query parameter wait="`+wait+`"`, "10s")
		}
	}
}

func TestGetTaskWaitStopsWhenClientGoesAway(t *testing.T) {
	h := newHarness(t)
	h.store.put(runningTask("t1"))
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet,
		"/v1/tasks/t1?wait=30s", nil)
	rec := httptest.NewRecorder()

	done := make(chan struct{})
	go func() {
		h.srv.Handler().ServeHTTP(rec, req)
		close(done)
	}()
	waitFor(t, "the long poll to start", func() bool {
		return h.store.getCount() > 0
	})
	cancel()

	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("long poll went on after the client went away")
	}
	gets := h.store.getCount()
	time.Sleep(150 * time.Millisecond)
	if h.store.getCount() != gets {
		t.Error("the store is still read after the client went away")
	}
}

// thumbnail is a result event with binary data.
func thumbnail(specversion string) event.Event {
	e := event.New(specversion)
	e.SetID("reply-1")
	e.SetSource("/functions/thumbnail")
	e.SetType("com.example.image.resized")
	e.SetExtension("correlationid", "t1")
	e.SetExtension("causationid", "evt-t1")
	e.SetDataContentType("image/png")
	e.DataEncoded = []byte{0x89, 'P', 'N', 'G', 0x00, 0xff}
	return e
}

func TestGetResultAnswersDataRawAsBinaryEvent(t *testing.T) {
	for _, sv := range []string{"1.0", "0.3"} {
		t.Run(sv, func(t *testing.T) {
			h := newHarness(t)
			h.store.put(finished(runningTask("t1"), tasks.Succeeded, ""))
			want := thumbnail(sv)
			h.store.putResult("t1", want)

			resp, err := http.Get(h.url + "/v1/tasks/t1/result")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			headers := map[string]string{
				"Content-Type": "image/png",
				"Ce-Id":        "reply-1",
				"Ce-Type":      "com.example.image.resized",
				"Ce-Source":    "/functions/thumbnail",
			}
			for k, v := range headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}

			got, err := cehttp.NewEventFromHTTPResponse(resp)
			if err != nil {
				t.Fatalf("answer is not a binary-mode event: %v", err)
			}
			wantSameEvent(t, *got, want)
		})
	}
}

func TestGetResultWithoutDataContentTypeIsOctetStream(t *testing.T) {
	h := newHarness(t)
	h.store.put(finished(runningTask("t1"), tasks.Succeeded, ""))
	e := thumbnail("1.0")
	e.SetDataContentType("")
	h.store.putResult("t1", e)

	resp, body := h.get(t, "/v1/tasks/t1/result")

	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 ||
		ct != "application/octet-stream" {
		t.Errorf("status %d, Content-Type %q; want 200 "+
			"application/octet-stream", resp.StatusCode, ct)
	}
	if !bytes.Equal(body, e.Data()) {
		t.Errorf("body = %x, want %x", body, e.Data())
	}
}

func TestGetResultOfTaskWithoutResult(t *testing.T) {
	tests := []struct {
		name       string
		task       tasks.Task
		status     int
		typ        ingress.ProblemType
		detail     string
		retryAfter string
	}{
		{"running task is not ready", runningTask("t1"),
			http.StatusConflict, ingress.ProblemResultNotReady,
			`task "t1" has no result yet (state running)`, "1"},
		{"failed task names the reason",
			finished(runningTask("t1"), tasks.Failed,
				"dead-lettered after 3 attempts: 500 from resize"),
			http.StatusConflict, ingress.ProblemTaskFailed,
			"dead-lettered after 3 attempts: 500 from resize", ""},
		{"failed task without reason",
			finished(runningTask("t1"), tasks.Failed, ""),
			http.StatusConflict, ingress.ProblemTaskFailed,
			`task "t1" failed`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.store.put(tt.task)

			resp, body := h.get(t, "/v1/tasks/t1/result")

			wantProblem(t, resp, body, tt.status, tt.typ, tt.detail)
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestGetResultOfSucceededTaskWithoutReplyIsNoContent(t *testing.T) {
	h := newHarness(t)
	h.store.put(finished(runningTask("t1"), tasks.Succeeded, ""))

	resp, body := h.get(t, "/v1/tasks/t1/result")

	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("status %d, body %q; want 204 and none", resp.StatusCode,
			body)
	}
}

func TestGetResultWaitAnswersWhenTaskFinishes(t *testing.T) {
	h := newHarness(t)
	task := runningTask("t1")
	h.store.put(task)
	want := thumbnail("1.0")
	go func() {
		time.Sleep(100 * time.Millisecond)
		h.store.putResult("t1", want)
		h.store.put(finished(task, tasks.Succeeded, ""))
	}()

	resp, body := h.get(t, "/v1/tasks/t1/result?wait=10s")

	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want.Data()) {
		t.Errorf("status %d, body %x; want 200 and %x", resp.StatusCode,
			body, want.Data())
	}
}

func TestGetResultWaitOnFailingTaskAnswersTaskFailed(t *testing.T) {
	h := newHarness(t)
	task := runningTask("t1")
	h.store.put(task)
	go func() {
		time.Sleep(50 * time.Millisecond)
		h.store.put(finished(task, tasks.Failed, "resize: not an image"))
	}()

	resp, body := h.get(t, "/v1/tasks/t1/result?wait=10s")

	wantProblem(t, resp, body, http.StatusConflict, ingress.ProblemTaskFailed,
		"resize: not an image")
}

// notifyingTasks is a fakeTasks that also tells waits when a task it is
// given is finished, as tasks.DiskStore and tasks.RedisStore do.
type notifyingTasks struct {
	*fakeTasks
	mu    sync.Mutex
	waits map[string][]chan struct{}
}

func (n *notifyingTasks) WaitFinished(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	n.mu.Lock()
	n.waits[id] = append(n.waits[id], ch)
	n.mu.Unlock()
	return ch, func() {}
}

func (n *notifyingTasks) put(t tasks.Task) {
	n.fakeTasks.put(t)
	if !t.State.Finished() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.waits[t.ID] {
		close(ch)
	}
	delete(n.waits, t.ID)
}

func TestGetTaskWaitIsWokenByTheStore(t *testing.T) {
	store := &notifyingTasks{fakeTasks: newFakeTasks(),
		waits: map[string][]chan struct{}{}}
	h := newHarness(t, func(p *ingress.Params) { p.Tasks = store })
	task := runningTask("t1")
	store.put(task)
	go func() {
		for store.getCount() == 0 { // the long poll has not read it yet
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		store.put(finished(task, tasks.Succeeded, ""))
	}()

	resp, body := h.get(t, "/v1/tasks/t1?wait=30s")

	if got := decodeTask(t, resp, body); got.State != tasks.Succeeded {
		t.Errorf("state = %s, want succeeded", got.State)
	}
	// One read before the wait, one when woken: no polling meanwhile.
	if n := store.getCount(); n != 2 {
		t.Errorf("the task was read %d times, want 2", n)
	}
}

func TestEndWaitsAnswersLongPollsAtOnce(t *testing.T) {
	h := newHarness(t)
	h.store.put(runningTask("t1"))
	type answer struct {
		resp *http.Response
		body []byte
	}
	answered := make(chan answer, 1)
	go func() {
		resp, body := h.get(t, "/v1/tasks/t1?wait=30s")
		answered <- answer{resp, body}
	}()
	waitFor(t, "the long poll to start", func() bool {
		return h.store.getCount() > 0
	})

	h.srv.EndWaits() // as at shutdown

	select {
	case a := <-answered:
		if got := decodeTask(t, a.resp, a.body); got.State != tasks.Running {
			t.Errorf("state = %s, want the task as it is, running", got.State)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll still waits after EndWaits")
	}
	// Later long polls answer at once too.
	start := time.Now()
	h.get(t, "/v1/tasks/t1?wait=30s")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a long poll after EndWaits took %v", took)
	}
}

// flakyTasks is a fakeTasks whose first reads fail, as a Redis restarting.
type flakyTasks struct {
	*fakeTasks
	failing int // reads left to fail
}

func (f *flakyTasks) Get(ctx context.Context, id string) (*tasks.Task, error) {
	f.mu.Lock()
	failing := f.failing > 0
	if failing {
		f.failing--
	}
	f.mu.Unlock()
	if failing {
		f.fakeTasks.Get(ctx, id) // counted as a read
		return nil, errors.New("redis: connection refused")
	}
	return f.fakeTasks.Get(ctx, id)
}

func TestGetTaskWaitOutlastsAStoreThatFailsForAMoment(t *testing.T) {
	store := &flakyTasks{fakeTasks: newFakeTasks(), failing: 2}
	h := newHarness(t, func(p *ingress.Params) { p.Tasks = store })
	store.put(finished(runningTask("t1"), tasks.Succeeded, ""))

	resp, body := h.get(t, "/v1/tasks/t1?wait=10s")

	if got := decodeTask(t, resp, body); got.State != tasks.Succeeded {
		t.Errorf("state = %s, want succeeded once the store answers", got.State)
	}
	if n := store.getCount(); n != 3 {
		t.Errorf("%d reads, want 3 (two failed)", n)
	}

	// Without a wait, the failure is the answer.
	store.mu.Lock()
	store.failing = 1
	store.mu.Unlock()
	resp, body = h.get(t, "/v1/tasks/t1")
	wantProblem(t, resp, body, http.StatusServiceUnavailable,
		ingress.ProblemStoreUnavailable)
}

func TestGetTaskWaitAnswersAtOnceWhenNoTriggerMatched(t *testing.T) {
	h := newHarness(t)
	h.store.put(tasks.Task{ID: "lone", State: tasks.Accepted,
		Reason: "no Trigger matched the event"})

	resp, body := h.get(t, "/v1/tasks/lone?wait=30s")

	if got := decodeTask(t, resp, body); got.State != tasks.Accepted {
		t.Errorf("state = %s, want accepted", got.State)
	}
	if n := h.store.getCount(); n != 1 {
		t.Errorf("the task was read %d times, want once: nothing will "+
			"happen to it", n)
	}
}
