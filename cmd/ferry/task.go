package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// taskView is the part of GET /v1/tasks/{id} that `ferry send` shows.
type taskView struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	Attempts   int               `json:"attempts"`
	Reason     string            `json:"reason"`
	Deliveries []json.RawMessage `json:"deliveries"`
}

func finished(state string) bool { return state == "succeeded" || state == "failed" }

// settled reports whether nothing more will happen to the task: it is
// finished, or no Trigger matched its event (tasks.Task.Settled).
func (t *taskView) settled() bool {
	return finished(t.State) || t.State == "accepted" && len(t.Deliveries) == 0
}

// waitTask long-polls the task until it is settled or ctx ends, and
// returns the last state seen.
func waitTask(ctx context.Context, addr, id string) (*taskView, error) {
	var last *taskView
	for {
		wait := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return last, nil
		}
		url := fmt.Sprintf("%s/v1/tasks/%s?wait=%s", strings.TrimRight(addr, "/"),
			id, wait.Round(time.Millisecond))
		body, _, err := get(ctx, url)
		if err != nil {
			if last != nil && ctx.Err() != nil {
				return last, nil
			}
			return nil, err
		}
		var t taskView
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, fmt.Errorf("read task: %w", err)
		}
		last = &t
		if t.settled() {
			return last, nil
		}
	}
}

// noResultLine tells that a task succeeded without a result: its
// function answered with no reply event (GET .../result answers 204).
const noResultLine = "result: none (the function answered with no reply event)"

// errNoResult is get's error for a 204 answer.
var errNoResult = errors.New("no content")

func printResult(ctx context.Context, addr, id string, w io.Writer) error {
	body, ct, err := get(ctx, strings.TrimRight(addr, "/")+"/v1/tasks/"+id+"/result")
	if errors.Is(err, errNoResult) {
		fmt.Fprintln(w, noResultLine)
		return nil
	}
	if err != nil {
		return err
	}
	if !strings.Contains(ct, "json") && !strings.HasPrefix(ct, "text/") {
		fmt.Fprintf(w, "result: %d bytes of %s (use --out FILE to save it)\n",
			len(body), ct)
		return nil
	}
	fmt.Fprintf(w, "result (%s):\n%s\n", ct, strings.TrimSpace(string(body)))
	return nil
}

func saveResult(ctx context.Context, addr, id, path string, w io.Writer) error {
	body, ct, err := get(ctx, strings.TrimRight(addr, "/")+"/v1/tasks/"+id+"/result")
	if errors.Is(err, errNoResult) {
		fmt.Fprintf(w, "%s; %s not written\n", noResultLine, path)
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "result: %d bytes of %s written to %s\n", len(body), ct, path)
	return nil
}

// get fetches url and returns its body and content type; a non-2xx answer
// is an error carrying the problem's detail, and 204 is errNoResult.
func get(ctx context.Context, url string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil, "", errNoResult
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(body, &p)
		return nil, "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, p.Detail)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// baseURL turns an --addr into the ingress's base URL: a URL stays as it
// is, and host:port (as given to ferry dev's --addr) gets http://.
func baseURL(addr string) string {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}
