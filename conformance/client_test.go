package conformance

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

// answerOf is a response of the stack, read whole.
type answerOf struct {
	Code   int
	Header http.Header
	Body   []byte
}

// do sends a request and reads its answer whole.
func do(t *testing.T, method, url string, hdr map[string]string,
	body []byte) answerOf {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, url, err)
	}
	return answerOf{Code: resp.StatusCode, Header: resp.Header, Body: b}
}

// binary are the headers of a binary-mode 1.0 event: id, source
// /conformance, type, and extra ce- attributes ("Ce-" is added).
func binary(id, typ string, ext ...string) map[string]string {
	h := map[string]string{
		"Ce-Specversion": "1.0",
		"Ce-Id":          id,
		"Ce-Source":      "/conformance",
		"Ce-Type":        typ,
	}
	for i := 0; i+1 < len(ext); i += 2 {
		h["Ce-"+ext[i]] = ext[i+1]
	}
	return h
}

// acceptance is the 202 body of an event post.
type acceptance struct {
	ID      string `json:"id"`
	EventID string `json:"eventId"`
}

// publish posts an event to the stack's Broker and returns its task id;
// anything but 202 fails the test.
func (s *stack) publish(hdr map[string]string, body []byte) string {
	s.t.Helper()
	a := do(s.t, http.MethodPost, s.brokerURL(), hdr, body)
	if a.Code != http.StatusAccepted {
		s.t.Fatalf("post event: got %d %s, want 202", a.Code, a.Body)
	}
	var acc acceptance
	if err := json.Unmarshal(a.Body, &acc); err != nil || acc.ID == "" {
		s.t.Fatalf("202 body %s: %v", a.Body, err)
	}
	return acc.ID
}

// publishStructured posts a structured-mode event (a JSON object).
func (s *stack) publishStructured(ev map[string]any) string {
	s.t.Helper()
	body, err := json.Marshal(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.publish(map[string]string{
		"Content-Type": "application/cloudevents+json"}, body)
}

// task is what GET /v1/tasks/{id} shows, as far as the suite reads it.
type task struct {
	ID         string `json:"id"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	Reason     string `json:"reason"`
	Code       int    `json:"code"`
	Deliveries []struct {
		EventID     string     `json:"eventId"`
		Trigger     string     `json:"trigger"`
		State       string     `json:"state"`
		Attempts    int        `json:"attempts"`
		Code        int        `json:"code"`
		Reason      string     `json:"reason"`
		NextAttempt *time.Time `json:"nextAttempt"`
	} `json:"deliveries"`
	Events []struct {
		Kind       string         `json:"kind"`
		Attributes map[string]any `json:"attributes"`
	} `json:"events"`
}

// finished reports whether nothing more will happen to the task: it
// succeeded or failed, or no Trigger matched its event.
func (tk task) finished() bool {
	return tk.State == "succeeded" || tk.State == "failed" ||
		(tk.State == "accepted" && len(tk.Deliveries) == 0)
}

// task reads the task with the given id.
func (s *stack) task(id string) task {
	s.t.Helper()
	a := do(s.t, http.MethodGet, s.URL()+"/v1/tasks/"+id, nil, nil)
	if a.Code != http.StatusOK {
		s.t.Fatalf("GET task %s: %d %s", id, a.Code, a.Body)
	}
	var tk task
	if err := json.Unmarshal(a.Body, &tk); err != nil {
		s.t.Fatalf("task JSON %s: %v", a.Body, err)
	}
	return tk
}

// awaitTask polls the task until ok(task) holds and returns it; it fails
// the test after waitMax.
func (s *stack) awaitTask(id string, what string, ok func(task) bool) task {
	s.t.Helper()
	deadline := time.Now().Add(waitMax)
	var tk task
	for time.Now().Before(deadline) {
		if tk = s.task(id); ok(tk) {
			return tk
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("task %s not %s within %s; last: %+v", id, what, waitMax, tk)
	return tk
}

// awaitFinished waits until the task is finished (see task.finished).
func (s *stack) awaitFinished(id string) task {
	s.t.Helper()
	return s.awaitTask(id, "finished", task.finished)
}

// awaitState waits until the task is in state.
func (s *stack) awaitState(id, state string) task {
	s.t.Helper()
	return s.awaitTask(id, state, func(tk task) bool { return tk.State == state })
}

// problem is an application/problem+json body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// wantProblem checks that a is a problem+json answer with the given code
// and returns the problem.
func wantProblem(t *testing.T, a answerOf, code int) problem {
	t.Helper()
	if a.Code != code {
		t.Fatalf("got %d %s, want %d", a.Code, a.Body, code)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(a.Body, &p); err != nil {
		t.Fatalf("problem body %s: %v", a.Body, err)
	}
	if p.Status != code || p.Type == "" || p.Detail == "" {
		t.Errorf("problem %+v: want status %d, a type and a detail", p, code)
	}
	return p
}
