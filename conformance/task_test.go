package conformance

import (
	"net/http"
	"strings"
	"testing"
)

func TestTaskRetryingShowsAttempts(t *testing.T) {
	t.Parallel()
	// Backoff of 1 s then 2 s: long enough windows to read the task in.
	sub := newSubscriber(t, failFirst(2, http.StatusInternalServerError))
	s := startStack(t, brokerDoc(""), triggerDoc("flaky", sub.URL(),
		deliveryDoc(2, "PT1S", "")))

	id := s.publish(binary("flaky", "dev.conformance.flaky"), nil)
	for attempts := 1; attempts <= 2; attempts++ {
		tk := s.awaitTask(id, "retrying", func(tk task) bool {
			return tk.State == "retrying" && tk.Attempts == attempts
		})
		if tk.Code != http.StatusInternalServerError || tk.Reason == "" {
			t.Errorf("retrying after %d: code %d reason %q, want 500 and a "+
				"reason", attempts, tk.Code, tk.Reason)
		}
		d := tk.Deliveries[0]
		if d.State != "retrying" || d.NextAttempt == nil {
			t.Errorf("delivery %s, next attempt %v; want retrying with one",
				d.State, d.NextAttempt)
		}
	}
	tk := s.awaitFinished(id)
	if tk.State != "succeeded" || tk.Attempts != 3 || tk.Code != 0 {
		t.Errorf("task %s after %d attempts, code %d; want succeeded after 3",
			tk.State, tk.Attempts, tk.Code)
	}
}

func TestTaskFailedWhenDeadLettered(t *testing.T) {
	t.Parallel()
	sink := newSubscriber(t, accept)
	sub := newSubscriber(t, always(http.StatusServiceUnavailable,
		[]byte("service down")))
	s := startStack(t, brokerDoc(""), triggerDoc("down", sub.URL(),
		deliveryDoc(1, delay, sink.URL())))

	id := s.publish(binary("down", "dev.conformance.down"), nil)
	tk := s.awaitFinished(id)
	if tk.State != "failed" || tk.Code != http.StatusServiceUnavailable ||
		tk.Attempts != 2 || !strings.Contains(tk.Reason, "503") {
		t.Errorf("task %s, code %d, %d attempts, reason %q; want failed, "+
			"503, 2, a reason naming 503", tk.State, tk.Code, tk.Attempts,
			tk.Reason)
	}
	if d := tk.Deliveries[0]; d.State != "deadlettered" {
		t.Errorf("delivery %s, want deadlettered", d.State)
	}
	a := do(t, http.MethodGet, s.URL()+"/v1/tasks/"+id+"/result", nil, nil)
	p := wantProblem(t, a, http.StatusConflict)
	if !strings.HasSuffix(p.Type, "/task-failed") {
		t.Errorf("result problem %q, want task-failed", p.Type)
	}
	sink.await(t, 1)
}
