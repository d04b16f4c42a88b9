package ingress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/ingress"
)

func TestWrongMethodAnswers405WithAllow(t *testing.T) {
	tests := []struct {
		method, path string
		allow        []string
	}{
		{http.MethodGet, "/v1/events", []string{"POST", "OPTIONS"}},
		{http.MethodDelete, "/v1/events", []string{"POST", "OPTIONS"}},
		{http.MethodPut, "/v1/events", []string{"POST", "OPTIONS"}},
		{http.MethodPut, "/", []string{"POST", "OPTIONS"}},
		{http.MethodDelete, "/v1/tasks/t1", []string{"GET", "POST"}},
		{http.MethodPost, "/v1/tasks/t1/result", []string{"GET"}},
		{http.MethodPost, "/healthz", []string{"GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			h := newHarness(t)

			resp, body := h.do(t, tt.method, tt.path, nil, nil)

			wantProblem(t, resp, body, http.StatusMethodNotAllowed,
				ingress.ProblemMethodNotAllowed, tt.method, tt.path)
			allow := strings.Split(resp.Header.Get("Allow"), ", ")
			slices.Sort(allow)
			want := slices.Sorted(slices.Values(tt.allow))
			if !slices.Equal(allow, want) {
				t.Errorf("Allow = %q, want %q", allow, want)
			}
		})
	}
}

func TestUnknownRouteAnswers404Problem(t *testing.T) {
	h := newHarness(t)

	for _, path := range []string{"/nope", "/v1/events/", "/v1/tasks"} {
		resp, body := h.do(t, http.MethodPost, path, nil, nil)
		wantProblem(t, resp, body, http.StatusNotFound,
			ingress.ProblemNotFound, "no route for POST "+path)
	}
}

func TestWebhookValidationHandshake(t *testing.T) {
	for _, path := range []string{"/", "/v1/events"} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t)

			resp, _ := h.do(t, http.MethodOptions, path, map[string]string{
				"WebHook-Request-Origin": "eventemitter.example.com",
				"WebHook-Request-Rate":   "120",
			}, nil)

			want := map[string]string{
				"Allow":                  "POST",
				"WebHook-Allowed-Origin": "eventemitter.example.com",
				"WebHook-Allowed-Rate":   "*",
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestPlainOptionsAnswersAllowOnly(t *testing.T) {
	h := newHarness(t)

	resp, _ := h.do(t, http.MethodOptions, "/v1/events", nil, nil)

	if resp.StatusCode != http.StatusOK || resp.Header.Get("Allow") != "POST" ||
		resp.Header.Get("WebHook-Allowed-Origin") != "" {
		t.Errorf("status %d, headers %v; want 200 with Allow: POST only",
			resp.StatusCode, resp.Header)
	}
}

func TestHealthzAnswers200(t *testing.T) {
	h := newHarness(t, func(p *ingress.Params) {
		p.Ready = func(context.Context) error { return errors.New("down") }
	})

	if resp, body := h.get(t, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200; body %s", resp.StatusCode, body)
	}
}

func TestReadyzAnswersWhatReadyReports(t *testing.T) {
	t.Run("no Ready func", func(t *testing.T) {
		h := newHarness(t)
		if resp, body := h.get(t, "/readyz"); resp.StatusCode != 200 {
			t.Errorf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
	})
	t.Run("ready", func(t *testing.T) {
		h := newHarness(t, func(p *ingress.Params) {
			p.Ready = func(context.Context) error { return nil }
		})
		if resp, body := h.get(t, "/readyz"); resp.StatusCode != 200 {
			t.Errorf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		h := newHarness(t, func(p *ingress.Params) {
			p.Ready = func(context.Context) error {
				return errors.New("task store: connection refused")
			}
		})
		resp, body := h.get(t, "/readyz")
		wantProblem(t, resp, body, http.StatusServiceUnavailable,
			ingress.ProblemNotReady, "task store: connection refused")
	})
}

// logLines decodes the JSON log lines with the given message.
func logLines(t *testing.T, logs, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["msg"] == msg {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestAccessLogNamesEventAndTaskButNeverData(t *testing.T) {
	h := newHarness(t)
	hdr := binaryHeaders("1.0")

	a := h.postAccepted(t, "/", hdr, `{"card":"4111-1111-secret"}`)
	h.post(t, "/v1/events", map[string]string{
		"Content-Type": "application/json"}, `{"card":"secret"}`)

	lines := logLines(t, h.logs.String(), "request")
	if len(lines) != 2 {
		t.Fatalf("%d request lines, want 2:\n%s", len(lines), h.logs)
	}
	want := map[string]any{
		"level": "INFO", "component": "ingress", "method": "POST",
		"path": "/", "status": float64(202), "event_id": "evt-1",
		"event_type": "com.example.test", "task": a.ID, "duplicate": false,
	}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("access log %s = %v, want %v", k, lines[0][k], v)
		}
	}
	if _, ok := lines[0]["duration"]; !ok {
		t.Error("access log has no duration")
	}
	if got := lines[1]["problem"]; got != string(ingress.ProblemInvalidEvent) {
		t.Errorf("access log of the bad post: problem = %v, want %s", got,
			ingress.ProblemInvalidEvent)
	}
	if strings.Contains(h.logs.String(), "secret") {
		t.Errorf("event data reached the log:\n%s", h.logs)
	}
}

func TestProbesLogAtDebug(t *testing.T) {
	h := newHarness(t)

	h.get(t, "/healthz")

	lines := logLines(t, h.logs.String(), "request")
	if len(lines) != 1 || lines[0]["level"] != "DEBUG" {
		t.Errorf("probe log lines = %v, want one at DEBUG", lines)
	}
}
