package devstack_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image"
	_ "image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/eventing"
)

const dataDir = "../../shared/data/"

// startStack runs the dev stack with the project's real functions and
// config on a free port and a fresh data directory.
func startStack(t *testing.T) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(context.Background(), devstack.Config{
		Addr:         "127.0.0.1:0",
		DataDir:      t.TempDir(),
		FunctionsDir: "../functions",
		ConfigDir:    "../config",
		Logger: slog.New(slog.NewTextHandler(testWriter{t},
			&slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close dev stack: %v", err)
		}
	})
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

type accepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// postEvent posts a binary-mode CloudEvent and returns the 202 body.
func postEvent(t *testing.T, base, typ, id, contentType string, data []byte,
	ext map[string]string) accepted {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(data))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Ce-Source", "/tests/devstack")
	req.Header.Set("Ce-Type", typ)
	req.Header.Set("Content-Type", contentType)
	for k, v := range ext {
		req.Header.Set("Ce-"+k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post %s: got %d %s, want 202", typ, resp.StatusCode, body)
	}
	if loc := resp.Header.Get("Location"); loc == "" {
		t.Errorf("202 without a Location header")
	}
	var a accepted
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" {
		t.Fatalf("202 body %s: %v", body, err)
	}
	return a
}

type task struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Reason   string `json:"reason"`
	Events   []struct {
		Kind       string          `json:"kind"`
		Attributes map[string]any  `json:"attributes"`
		Data       json.RawMessage `json:"data"`
	} `json:"events"`
}

// waitTask long-polls the task until it is finished.
func waitTask(t *testing.T, base, id string) task {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/v1/tasks/" + id + "?wait=10s")
		if err != nil {
			t.Fatalf("get task: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("get task: %d %s", resp.StatusCode, body)
		}
		var tk task
		if err := json.Unmarshal(body, &tk); err != nil {
			t.Fatalf("task JSON %s: %v", body, err)
		}
		if tk.State == "succeeded" || tk.State == "failed" {
			return tk
		}
	}
	t.Fatalf("task %s did not finish within 60 s", id)
	return task{}
}

func getResult(t *testing.T, base, id string) ([]byte, string) {
	t.Helper()
	resp, err := http.Get(base + "/v1/tasks/" + id + "/result")
	if err != nil {
		t.Fatalf("get result: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get result: %d %s", resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type")
}

func readData(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(dataDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fit is the size a w×h image gets in a box×box square, aspect kept and
// never enlarged: the thumbnail's contract, computed here on its own.
func fit(w, h, box int) (int, int) {
	scale := math.Min(1, math.Min(float64(box)/float64(w), float64(box)/float64(h)))
	return max(1, int(math.Round(float64(w)*scale))),
		max(1, int(math.Round(float64(h)*scale)))
}

func TestPhotoBecomesThumbnail(t *testing.T) {
	s := startStack(t)
	photo := readData(t, "video-001.jpeg")
	src, _, err := image.DecodeConfig(bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		ext  map[string]string
		box  int
	}{
		{"default size", nil, 256},
		{"asked size", map[string]string{"thumbnailsize": "64"}, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postEvent(t, s.URL(), "dev.ferry.thumbnail", uuid.NewString(),
				"image/jpeg", photo, tc.ext)
			tk := waitTask(t, s.URL(), a.ID)
			if tk.State != "succeeded" {
				t.Fatalf("state %s (%s), want succeeded", tk.State, tk.Reason)
			}
			body, ct := getResult(t, s.URL(), a.ID)
			if ct != "image/png" {
				t.Errorf("result content type %q, want image/png", ct)
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("result is not a PNG: %v", err)
			}
			w, h := fit(src.Width, src.Height, tc.box)
			if got := img.Bounds().Size(); got.X != w || got.Y != h {
				t.Errorf("thumbnail is %dx%d, want %dx%d (source %dx%d)",
					got.X, got.Y, w, h, src.Width, src.Height)
			}
			checkCorrelation(t, tk)
		})
	}
}

// checkCorrelation asserts that the reply carries the task's correlationid
// and the accepted event's id as causationid.
func checkCorrelation(t *testing.T, tk task) {
	t.Helper()
	if len(tk.Events) != 2 {
		t.Fatalf("task has %d events, want the accepted one and a reply", len(tk.Events))
	}
	first, reply := tk.Events[0], tk.Events[1]
	if reply.Kind != "reply" {
		t.Errorf("second event kind %q, want reply", reply.Kind)
	}
	if got := reply.Attributes["correlationid"]; got != tk.ID {
		t.Errorf("reply correlationid %v, want the task id %s", got, tk.ID)
	}
	if got := reply.Attributes["causationid"]; got != first.Attributes["id"] {
		t.Errorf("reply causationid %v, want %v", got, first.Attributes["id"])
	}
}

// columnStats are computed here, independently of the function.
type columnStats struct {
	min, max, sum float64
	n             int
	distinct      map[string]int
}

func weatherStats(t *testing.T, data []byte) (int, map[string]*columnStats) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, stats := rows[0], map[string]*columnStats{}
	for _, name := range header {
		stats[name] = &columnStats{min: math.Inf(1), max: math.Inf(-1),
			distinct: map[string]int{}}
	}
	for _, row := range rows[1:] {
		for i, v := range row {
			c := stats[header[i]]
			c.distinct[v]++
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				c.min, c.max, c.sum, c.n = math.Min(c.min, f), math.Max(c.max, f), c.sum+f, c.n+1
			}
		}
	}
	return len(rows) - 1, stats
}

func TestCSVBecomesStatistics(t *testing.T) {
	s := startStack(t)
	data := readData(t, "seattle-weather.csv")
	rows, want := weatherStats(t, data)

	a := postEvent(t, s.URL(), "dev.ferry.csvstats", uuid.NewString(), "text/csv", data, nil)
	tk := waitTask(t, s.URL(), a.ID)
	if tk.State != "succeeded" {
		t.Fatalf("state %s (%s), want succeeded", tk.State, tk.Reason)
	}
	body, ct := getResult(t, s.URL(), a.ID)
	if ct != "application/json" {
		t.Errorf("content type %q, want application/json", ct)
	}
	var got struct {
		Rows    int `json:"rows"`
		Columns []struct {
			Name     string   `json:"name"`
			Kind     string   `json:"kind"`
			Min      *float64 `json:"min"`
			Max      *float64 `json:"max"`
			Mean     *float64 `json:"mean"`
			Distinct int      `json:"distinct"`
			Top      []struct {
				Value string `json:"value"`
				Count int    `json:"count"`
			} `json:"top"`
		} `json:"columns"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("result %s: %v", body, err)
	}
	if got.Rows != rows {
		t.Errorf("rows %d, want %d", got.Rows, rows)
	}
	seen := map[string]bool{}
	for _, c := range got.Columns {
		w := want[c.Name]
		seen[c.Name] = true
		switch c.Name {
		case "temp_max", "precipitation", "wind":
			if c.Kind != "numeric" || c.Min == nil || c.Max == nil || c.Mean == nil {
				t.Errorf("%s: %+v, want numeric with min, max and mean", c.Name, c)
				continue
			}
			mean := w.sum / float64(w.n)
			if *c.Min != w.min || *c.Max != w.max || math.Abs(*c.Mean-mean) > 1e-9 {
				t.Errorf("%s: min %v max %v mean %v, want %v %v %v",
					c.Name, *c.Min, *c.Max, *c.Mean, w.min, w.max, mean)
			}
		case "weather":
			if c.Kind != "text" || c.Distinct != len(w.distinct) {
				t.Errorf("weather: kind %s distinct %d, want text %d",
					c.Kind, c.Distinct, len(w.distinct))
			}
			if len(c.Top) == 0 || c.Top[0].Count != w.distinct[c.Top[0].Value] {
				t.Errorf("weather top %+v, counts %v", c.Top, w.distinct)
			}
		}
	}
	for _, name := range []string{"temp_max", "precipitation", "wind", "weather"} {
		if !seen[name] {
			t.Errorf("column %s missing from %s", name, body)
		}
	}
}

func TestBrokenInputFailsAtOnceWithReason(t *testing.T) {
	s := startStack(t)
	for _, tc := range []struct {
		name, typ, file, contentType string
	}{
		{"truncated JPEG", "dev.ferry.thumbnail",
			"video-001.progressive.truncated.jpeg", "image/jpeg"},
		{"PNG as CSV", "dev.ferry.csvstats", "ffox.png", "text/csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postEvent(t, s.URL(), tc.typ, uuid.NewString(), tc.contentType,
				readData(t, tc.file), nil)
			tk := waitTask(t, s.URL(), a.ID)
			if tk.State != "failed" {
				t.Fatalf("state %s, want failed", tk.State)
			}
			if tk.Reason == "" {
				t.Errorf("failed task has no reason")
			}
			if tk.Attempts != 1 {
				t.Errorf("%d attempts, want 1: broken input is not retried", tk.Attempts)
			}
			t.Logf("reason: %s", tk.Reason)
		})
	}
}

func TestResubmittedEventIsOneTask(t *testing.T) {
	s := startStack(t)
	data := readData(t, "stocks.csv")
	id := uuid.NewString()

	first := postEvent(t, s.URL(), "dev.ferry.csvstats", id, "text/csv", data, nil)
	waitTask(t, s.URL(), first.ID)
	again := postEvent(t, s.URL(), "dev.ferry.csvstats", id, "text/csv", data, nil)
	if again.ID != first.ID || !again.Duplicate {
		t.Errorf("resubmit gave task %s (duplicate %v), want %s (duplicate true)",
			again.ID, again.Duplicate, first.ID)
	}
	tk := waitTask(t, s.URL(), first.ID)
	if tk.Attempts != 1 || len(tk.Events) != 2 {
		t.Errorf("after resubmit: %d attempts and %d events, want 1 and 2",
			tk.Attempts, len(tk.Events))
	}
}

func TestUnknownTaskIsProblem(t *testing.T) {
	s := startStack(t)
	resp, err := http.Get(s.URL() + "/v1/tasks/no-such-task")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound ||
		resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("got %d %s, want 404 application/problem+json",
			resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestInvokeCallsAFunctionDirectly calls the csvstats function at its
// URL under ferry dev, as one would call its Knative Service: the CSV in
// a binary-mode CloudEvent, the statistics back in the answer, and no
// task made.
func TestInvokeCallsAFunctionDirectly(t *testing.T) {
	s := startStack(t)
	data := readData(t, "seattle-weather.csv")
	rows, _ := weatherStats(t, data)

	req, err := http.NewRequest(http.MethodPost,
		s.URL()+"/v1/functions/csvstats/invoke/", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", "invoke-1")
	req.Header.Set("Ce-Source", "/tests/invoke")
	req.Header.Set("Ce-Type", "dev.ferry.csvstats")
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Ce-Type") != "dev.ferry.csvstats.done" {
		t.Fatalf("answer %d, Ce-Type %q: %.200s", resp.StatusCode,
			resp.Header.Get("Ce-Type"), body)
	}
	var got struct{ Rows int }
	if err := json.Unmarshal(body, &got); err != nil || got.Rows != rows {
		t.Errorf("rows %d (%v), want %d", got.Rows, err, rows)
	}

	e := event.New()
	e.SetSource("/tests/invoke")
	e.SetID("invoke-1")
	resp, err = http.Get(s.URL() + "/v1/tasks/" + eventing.NewTaskID(&e))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("task of an invoked event: %d, want 404 (none made)",
			resp.StatusCode)
	}
}
