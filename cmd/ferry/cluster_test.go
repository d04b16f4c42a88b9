package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryfn/ferry/internal/testservices"
)

// startProc runs bin with args as a child process and waits until its HTTP
// API at addr is ready. Its output goes to <dir>/proc.log.
func startProc(t *testing.T, bin, addr, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{log: filepath.Join(dir, "proc.log")}
	p.cmd = startCmd(t, bin, p.log, args...)
	if !waitReady(addr, p.cmd, 2*time.Minute) {
		out, _ := os.ReadFile(p.log)
		t.Fatalf("%v did not become ready:\n%s", args, out)
	}
	return p
}

type proc struct {
	cmd *exec.Cmd
	log string
}

// delivered counts the deliveries the process logged.
// logLag bounds how long after a task is seen finished its dispatcher's
// "delivered" line may take to be written: the line follows the task
// store's update, which answers long polls at once.
const logLag = 5 * time.Second

// deliveredAtLeast waits up to logLag for p to have logged n deliveries
// and returns how many it logged.
func (p *proc) deliveredAtLeast(t *testing.T, n int) int {
	got := p.delivered(t)
	for deadline := time.Now().Add(logLag); got < n &&
		time.Now().Before(deadline); got = p.delivered(t) {
		time.Sleep(20 * time.Millisecond)
	}
	return got
}

func (p *proc) delivered(t *testing.T) int {
	out, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(out), "msg=delivered")
}

func postSleep(t *testing.T, addr string, ms int) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/events",
		bytes.NewReader([]byte(`{}`)))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", uuid.NewString())
	req.Header.Set("Ce-Source", "/tests/cluster")
	req.Header.Set("Ce-Type", "dev.ferry.test.sleep")
	req.Header.Set("Ce-Sleepms", fmt.Sprint(ms))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusAccepted || a.ID == "" {
		t.Fatalf("post to %s: %d", addr, resp.StatusCode)
	}
	return a.ID
}

// waitSucceeded reads the task from addr until it succeeded.
func waitSucceeded(t *testing.T, addr, id string) taskJSON {
	t.Helper()
	var tk taskJSON
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if tk = getTask(t, addr, id, "10s"); tk.State == "succeeded" {
			return tk
		}
		if tk.State == "failed" {
			t.Fatalf("task %s failed", id)
		}
	}
	t.Fatalf("task %s is %s after 60 s, want succeeded", id, tk.State)
	return tk
}

func replies(tk taskJSON) int {
	n := 0
	for _, e := range tk.Events {
		if e.Kind == "reply" {
			n++
		}
	}
	return n
}

// cluster starts n ingress and m dispatch processes on one RabbitMQ and one
// Redis, in a namespace of their own.
func cluster(t *testing.T, ingresses, dispatchers int) (ing []string, disp []*proc) {
	amqpURL, redisURL := testservices.Services(t)
	bin := buildFerry(t)
	ns := fmt.Sprintf("ferrytest-%08x", rand.Uint32())
	testservices.CleanupRabbit(t, amqpURL, ns, "default")
	common := []string{"--broker", amqpURL, "--redis", redisURL, "--namespace", ns,
		"--functions", "testdata/functions", "--config", "testdata/config",
		"--retention", "1h"}

	for i := 0; i < dispatchers; i++ {
		addr, dir := freeAddr(t), t.TempDir()
		args := append([]string{"dispatch", "--addr", addr, "--data-dir", dir}, common...)
		disp = append(disp, startProc(t, bin, addr, dir, args...))
	}
	for i := 0; i < ingresses; i++ {
		addr, dir := freeAddr(t), t.TempDir()
		args := append([]string{"ingress", "--addr", addr, "--data-dir", dir}, common...)
		startProc(t, bin, addr, dir, args...)
		ing = append(ing, addr)
	}
	return ing, disp
}

func TestTwoIngressesAndTwoDispatchersShareOneRabbitMQAndRedis(t *testing.T) {
	ing, disp := cluster(t, 2, 2)

	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, postSleep(t, ing[i%2], 50))
	}
	for i, id := range ids {
		// Read each task from the ingress that did not take it.
		tk := waitSucceeded(t, ing[(i+1)%2], id)
		if replies(tk) != 1 {
			t.Errorf("task %s has %d replies, want 1", id, replies(tk))
		}
	}
	// A dispatcher logs a delivery just after the task store took its
	// outcome, which is what answered the long polls above.
	a, b := disp[0].delivered(t), disp[1].delivered(t)
	for deadline := time.Now().Add(logLag); a+b < len(ids) &&
		time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		a, b = disp[0].delivered(t), disp[1].delivered(t)
	}
	if a+b != len(ids) {
		t.Errorf("dispatchers delivered %d+%d events, want %d in all", a, b, len(ids))
	}
	// The function's Trigger has parallelism 1 (the default): its queue
	// is single-active-consumer, so one dispatcher takes all of it, in
	// order, and the other stands by (see the killed-dispatcher test).
	if a != 0 && b != 0 {
		t.Errorf("both dispatchers consumed an in-order queue (%d and %d)", a, b)
	}
}

func TestKilledDispatcherDeliveryGoesToAnother(t *testing.T) {
	ing, disp := cluster(t, 1, 2)
	id := postSleep(t, ing[0], 3000)

	// The dispatcher whose function started holds the delivery: kill it
	// while the function sleeps.
	var victim, survivor *proc
	for deadline := time.Now().Add(30 * time.Second); victim == nil; {
		if time.Now().After(deadline) {
			t.Fatal("no dispatcher started the function")
		}
		switch {
		case startedFunction(t, disp[0]):
			victim, survivor = disp[0], disp[1]
		case startedFunction(t, disp[1]):
			victim, survivor = disp[1], disp[0]
		default:
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The start is recorded once the attempt has run 50 ms
	// (eventing.StartedReportDelay); the function sleeps 3 s.
	for deadline := time.Now().Add(2 * time.Second); ; {
		st := getTask(t, ing[0], id, "0s").State
		if st == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task is %s before the kill, want running", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	tk := waitSucceeded(t, ing[0], id)
	if replies(tk) != 1 {
		t.Errorf("%d replies, want 1", replies(tk))
	}
	if tk.Attempts < 2 {
		t.Errorf("%d attempts, want the cut one and the redelivery: %+v\nvictim log:\n%s", tk.Attempts, getTaskRaw(t, ing[0], id), readLog(victim))
	}
	if n := survivor.deliveredAtLeast(t, 1); n != 1 {
		t.Errorf("the surviving dispatcher delivered %d events, want 1", n)
	}
}

func startedFunction(t *testing.T, p *proc) bool {
	out, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(out), "cold start")
}

func getTaskRaw(t *testing.T, addr, id string) string {
	resp, err := http.Get("http://" + addr + "/v1/tasks/" + id)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

func readLog(p *proc) string {
	out, _ := os.ReadFile(p.log)
	return string(out)
}

func TestConcurrentCopiesOnTwoIngressesRunOnce(t *testing.T) {
	ing, disp := cluster(t, 2, 1)
	id := uuid.NewString()
	tasksSeen := make(chan string, 20)
	for i := 0; i < 20; i++ {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+ing[i%2]+"/v1/events",
				bytes.NewReader([]byte(`{}`)))
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Id", id)
			req.Header.Set("Ce-Source", "/tests/cluster/dup")
			req.Header.Set("Ce-Type", "dev.ferry.test.sleep")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				tasksSeen <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			var a struct{ ID string }
			_ = json.NewDecoder(resp.Body).Decode(&a)
			tasksSeen <- fmt.Sprintf("%d %s", resp.StatusCode, a.ID)
		}()
	}
	var first string
	for i := 0; i < 20; i++ {
		got := <-tasksSeen
		if first == "" {
			first = got
		}
		if got != first || !strings.HasPrefix(got, "202 ") {
			t.Errorf("answers differ: %q and %q, want the same 202 task", first, got)
		}
	}
	task := strings.TrimPrefix(first, "202 ")
	tk := waitSucceeded(t, ing[0], task)
	if replies(tk) != 1 {
		t.Errorf("%d replies, want 1", replies(tk))
	}
	time.Sleep(500 * time.Millisecond) // a second copy would be delivered by now
	if n := disp[0].delivered(t); n != 1 {
		t.Errorf("the function ran %d times, want once", n)
	}
}
