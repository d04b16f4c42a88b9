package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// buildFerry compiles this command into a temporary folder.
func buildFerry(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build ferry: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDev runs `ferry dev` as a child process on the test functions and
// waits until its ingress is ready.
func startDev(t *testing.T, bin, addr, dataDir string) *exec.Cmd {
	t.Helper()
	log := filepath.Join(dataDir, "dev.log")
	cmd := startCmd(t, bin, log, "dev", "--addr", addr, "--data-dir", dataDir,
		"--functions", "testdata/functions", "--config", "testdata/config")
	if !waitReady(addr, cmd, 2*time.Minute) {
		out, _ := os.ReadFile(log)
		t.Fatalf("ferry dev did not become ready:\n%s", out)
	}
	return cmd
}

// startCmd starts bin with args, its output appended to logPath, and kills
// it when the test ends.
func startCmd(t testing.TB, bin, logPath string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return cmd
}

// waitReady polls GET /readyz at addr until it answers 200, the process
// exits, or the wait is over.
func waitReady(addr string, cmd *exec.Cmd, wait time.Duration) bool {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return false
		}
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// waitExit waits until the process is gone (its Wait runs elsewhere).
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d did not exit", cmd.Process.Pid)
}

type taskJSON struct {
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	Events   []struct {
		Kind string          `json:"kind"`
		Data json.RawMessage `json:"data"`
	} `json:"events"`
}

func getTask(t *testing.T, addr, id, wait string) taskJSON {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/tasks/" + id + "?wait=" + wait)
	if err != nil {
		t.Fatalf("get task: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tk taskJSON
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tk) != nil {
		t.Fatalf("get task: %d %s", resp.StatusCode, body)
	}
	return tk
}

// TestAcceptedEventSurvivesKill posts an event whose delivery takes two
// seconds, kills `ferry dev` with SIGKILL while the delivery is in flight,
// starts it again on the same data directory and sees the task finish.
func TestAcceptedEventSurvivesKill(t *testing.T) {
	bin := buildFerry(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	first := startDev(t, bin, addr, dataDir)

	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events",
		bytes.NewReader([]byte(`{"work":"slow"}`)))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", uuid.NewString())
	req.Header.Set("Ce-Source", "/tests/kill")
	req.Header.Set("Ce-Type", "dev.ferry.test.sleep")
	req.Header.Set("Ce-Sleepms", "2000")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var accepted struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || accepted.ID == "" {
		t.Fatalf("post: %d, task %q", resp.StatusCode, accepted.ID)
	}

	deadline := time.Now().Add(30 * time.Second)
	for getTask(t, addr, accepted.ID, "0s").State != "running" {
		if time.Now().After(deadline) {
			t.Fatal("delivery never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, first)

	startDev(t, bin, addr, dataDir)
	var tk taskJSON
	for deadline = time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if tk = getTask(t, addr, accepted.ID, "10s"); tk.State == "succeeded" {
			break
		}
	}
	if tk.State != "succeeded" {
		t.Fatalf("after restart the task is %s, want succeeded", tk.State)
	}
	if tk.Attempts < 2 {
		t.Errorf("%d attempts, want the cut one and the one after restart", tk.Attempts)
	}
	replies := 0
	for _, e := range tk.Events {
		if e.Kind == "reply" {
			replies++
			if string(e.Data) != `{"slept":2000}` {
				t.Errorf("reply data %s", e.Data)
			}
		}
	}
	if replies != 1 {
		t.Errorf("%d replies, want 1", replies)
	}
}

// postCrash posts a sleeper event whose function process exits (crash
// "once" or "always") and returns its task id.
func postCrash(t *testing.T, addr, crash string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events",
		bytes.NewReader([]byte(`{}`)))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", uuid.NewString())
	req.Header.Set("Ce-Source", "/tests/crash")
	req.Header.Set("Ce-Type", "dev.ferry.test.sleep")
	req.Header.Set("Ce-Crash", crash)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("post: %d", resp.StatusCode)
	}
	return a.ID
}

// TestCrashingFunctionEventIsRetried: a function process that dies while
// it handles an event is replaced, and the event is delivered again per the
// delivery spec (retry 3 in testdata/config): once it is answered the task
// has its result; if every attempt crashes the task fails with a reason.
func TestCrashingFunctionEventIsRetried(t *testing.T) {
	bin := buildFerry(t)
	dataDir, addr := t.TempDir(), freeAddr(t)
	startDev(t, bin, addr, dataDir)

	// One after the other: a crash ends every request on the instance,
	// so an "always" would also cut the retries of a "once".
	once := postCrash(t, addr, "once")

	var tk taskJSON
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if tk = getTask(t, addr, once, "10s"); tk.State == "succeeded" || tk.State == "failed" {
			break
		}
	}
	if tk.State != "succeeded" || tk.Attempts != 2 {
		t.Errorf("crash once: %s after %d attempts, want succeeded after 2", tk.State, tk.Attempts)
	}

	always := postCrash(t, addr, "always")

	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if tk = getTask(t, addr, always, "10s"); tk.State == "failed" {
			break
		}
	}
	if tk.State != "failed" || tk.Attempts != 4 {
		t.Errorf("crash always: %s after %d attempts, want failed after 4 (retry 3)",
			tk.State, tk.Attempts)
	}
}
