package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryfn/ferry/runner"
)

// TestStatusAndLogsShowARunningDev runs `ferry dev` on the test functions,
// has it cold-start the sleeper, and reads it back with `ferry status`
// and `ferry logs`.
func TestStatusAndLogsShowARunningDev(t *testing.T) {
	bin := buildFerry(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	startDev(t, bin, addr, dataDir)

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events",
		strings.NewReader(`{}`))
	for k, v := range map[string]string{"Ce-Specversion": "1.0",
		"Ce-Id": uuid.NewString(), "Ce-Source": "/tests/status",
		"Ce-Type": "dev.ferry.test.sleep", "Ce-Sleepms": "10",
		"Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := &bytes.Buffer{}
		if code := run([]string{"status", "--addr", "http://" + addr}, out,
			os.Stderr); code != 0 {
			t.Fatalf("ferry status exited %d", code)
		}
		if row := statusRow(out.String(), "sleeper"); len(row) > 6 &&
			row[1] == "1/1" && row[6] == "1" && row[len(row)-1] == "ready" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ferry status never showed one instance and one "+
				"cold start of sleeper:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := &bytes.Buffer{}
	if code := run([]string{"logs", "--data-dir", dataDir, "sleeper"}, out,
		os.Stderr); code != 0 {
		t.Fatalf("ferry logs exited %d", code)
	}
	if !strings.Contains(out.String(), "--- ferry: starting sleeper") {
		t.Errorf("ferry logs sleeper printed %q, want its start line", out)
	}
	errOut := &bytes.Buffer{}
	if code := run([]string{"logs", "--data-dir", dataDir, "nope"}, out,
		errOut); code != 1 || !strings.Contains(errOut.String(), "no log") {
		t.Errorf("ferry logs of an unknown function: %d %q", code, errOut)
	}
}

// statusRow returns the fields of name's row in `ferry status`'s table.
func statusRow(table, name string) []string {
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

func TestStatusTableShowsEachFunctionAndItsErrors(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	out := &bytes.Buffer{}
	printStatus(out, []runner.FunctionStatus{
		{Name: "thumbnail", Instances: 2, Desired: 3, Starting: 1,
			InFlight: 9, Queued: 4, Scale: runner.ScaleStatus{Max: 4},
			ColdStarts: 1, LastColdStart: 312400 * time.Microsecond,
			LastColdStartAt: now.Add(-90 * time.Second),
			Build:           runner.BuildReady},
		{Name: "csvstats", Build: runner.BuildFailed,
			BuildError: "handle.go:3:1: syntax error\nmore"},
		{Name: "broken", Build: runner.BuildReady,
			LastError: "function did not start: not ready after 60s"},
	}, now)

	got := out.String()
	if row := statusRow(got, "thumbnail"); strings.Join(row, " ") !=
		"thumbnail 2/3 1 9 4 0-4 1 312ms, 1m30s ago ready" {
		t.Errorf("thumbnail row %q", row)
	}
	if row := statusRow(got, "csvstats"); strings.Join(row, " ") !=
		"csvstats 0/0 0 0 0 0-0 0 - failed" {
		t.Errorf("csvstats row %q", row)
	}
	for _, want := range []string{
		"csvstats: build failed:\n  handle.go:3:1: syntax error\n  more",
		"broken: function did not start: not ready after 60s",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status output lacks %q:\n%s", want, got)
		}
	}
}

func TestLogsTailAndFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "echo.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]string{1: "three\n", 2: "two\nthree\n",
		9: "one\ntwo\nthree\n", 0: "one\ntwo\nthree\n"} {
		out := &bytes.Buffer{}
		if err := printLog(context.Background(), path, n, false,
			out); err != nil || out.String() != want {
			t.Errorf("-n %d: %q, %v; want %q", n, out, err, want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- printLog(ctx, path, 1, true, out) }()
	waitUntil(t, func() bool { return out.String() == "three\n" })
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("four\n")
	f.Close()
	waitUntil(t, func() bool { return out.String() == "three\nfour\n" })

	// Truncated (a new data dir, say): read again from the start.
	if err := os.WriteFile(path, []byte("fresh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		return out.String() == "three\nfour\nfresh\n"
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("follow ended with %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
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

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
