package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

func TestRequestAtZeroStartsInstanceAndGetsReply(t *testing.T) {
	echo := withEnv(project(t, "echo", echoHandle), "GREETING", "hello")
	r, logs := newRunner(t, Params{}, echo)

	if s := statusOf(t, r, "echo"); s.Instances != 0 || s.ColdStarts != 0 {
		t.Fatalf("before any request: %+v, want at zero", s)
	}

	rep := mustSend(t, r, "echo", "test.ping", "e1")
	if rep.ceType != "test.reply" || rep.ceID != "e1-reply" {
		t.Errorf("reply type %q id %q, want test.reply e1-reply",
			rep.ceType, rep.ceID)
	}
	if rep.Hello != "hello" {
		t.Errorf("GREETING in the function = %q, want run.envs' hello",
			rep.Hello)
	}
	if rep.Data != `{"n":1}` {
		t.Errorf("data seen by the function = %q, want {\"n\":1}", rep.Data)
	}

	s := statusOf(t, r, "echo")
	if s.Instances != 1 || s.ColdStarts != 1 || s.InFlight != 0 ||
		s.Build != BuildReady {
		t.Errorf("after one request: %+v, want 1 instance, 1 cold start, "+
			"0 in flight, build ready", s)
	}
	if s.LastColdStart <= 0 || s.LastColdStartAt.IsZero() {
		t.Errorf("last cold start %s at %s, want both set",
			s.LastColdStart, s.LastColdStartAt)
	}

	again := mustSend(t, r, "echo", "test.ping", "e2")
	if again.PID != rep.PID {
		t.Errorf("second request served by pid %d, want the running %d",
			again.PID, rep.PID)
	}
	if n := statusOf(t, r, "echo").ColdStarts; n != 1 {
		t.Errorf("cold starts after a warm request = %d, want 1", n)
	}

	recs := logs.records("cold start")
	if len(recs) != 1 || recs[0]["function"] != "echo" ||
		recs[0]["pid"] != float64(rep.PID) {
		t.Errorf("cold start log records = %v, want one for echo, pid %d",
			recs, rep.PID)
	}
	logFile := filepath.Join(r.logDir, "echo.log")
	if out, err := os.ReadFile(logFile); err != nil || len(out) == 0 {
		t.Errorf("function log %s: %v, %d bytes; want output", logFile,
			err, len(out))
	}
}

func TestConcurrentFirstRequestsShareOneColdStart(t *testing.T) {
	r, logs := newRunner(t, Params{}, project(t, "echo", echoHandle))

	const n = 8
	pids := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := send(t, r, "echo", "test.ping", "c"+string(rune('a'+i)))
			pids[i], errs[i] = rep.PID, err
		}()
	}
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if pids[i] != pids[0] {
			t.Errorf("request %d served by pid %d, request 0 by %d",
				i, pids[i], pids[0])
		}
	}
	if s := statusOf(t, r, "echo"); s.ColdStarts != 1 || s.Instances != 1 {
		t.Errorf("after %d concurrent first requests: %+v, "+
			"want 1 cold start, 1 instance", n, s)
	}
	if recs := logs.records("instance started"); len(recs) != 1 {
		t.Errorf("%d processes started, want 1", len(recs))
	}
}

func TestIdleInstanceScalesToZeroAndNextRequestColdStarts(t *testing.T) {
	const idle = 300 * time.Millisecond
	r, logs := newRunner(t, Params{IdleTimeout: idle},
		project(t, "echo", echoHandle))
	first := mustSend(t, r, "echo", "test.ping", "i1")

	// A response whose body is still open is in flight: no scaling to zero.
	rt, _ := r.RoundTripper("echo")
	req, _ := http.NewRequest(http.MethodGet, "http://echo/health/liveness",
		nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * idle)
	if s := statusOf(t, r, "echo"); s.Instances != 1 || s.InFlight != 1 {
		t.Errorf("with a body open for 3×idle: %+v, "+
			"want 1 instance, 1 in flight", s)
	}
	resp.Body.Close()

	waitFor(t, 20*idle, "scaled to zero", func() bool {
		return statusOf(t, r, "echo").Instances == 0
	})
	waitFor(t, 2*time.Second, "gone", func() bool {
		return processGone(first.PID)
	})
	if recs := logs.records("scaled to zero"); len(recs) != 1 ||
		recs[0]["pid"] != float64(first.PID) {
		t.Errorf("scaled to zero log records = %v, want one for pid %d",
			recs, first.PID)
	}

	second := mustSend(t, r, "echo", "test.ping", "i2")
	if second.PID == first.PID {
		t.Errorf("request after scale to zero served by the old pid %d",
			first.PID)
	}
	if s := statusOf(t, r, "echo"); s.ColdStarts != 2 || s.Instances != 1 {
		t.Errorf("after the second cold start: %+v, "+
			"want 2 cold starts, 1 instance", s)
	}
}

func TestStaticShapeFunctionReplies(t *testing.T) {
	r, _ := newRunner(t, Params{}, project(t, "static", staticHandle))

	rep := mustSend(t, r, "static", "test.ping", "s1")
	if rep.ceType != "test.static.reply" || rep.ceID != "s1-reply" ||
		rep.PID == 0 {
		t.Errorf("reply %+v, want type test.static.reply, id s1-reply, "+
			"a pid", rep)
	}
}

func TestCrashedInstanceIsReplacedOnNextRequest(t *testing.T) {
	r, logs := newRunner(t, Params{}, project(t, "echo", echoHandle))
	first := mustSend(t, r, "echo", "test.ping", "k1")

	if rep, err := send(t, r, "echo", "test.crash", "k2"); err == nil {
		t.Fatalf("request that crashes the function: %+v, want an error", rep)
	}
	waitFor(t, 2*time.Second, "gone", func() bool {
		return processGone(first.PID) &&
			statusOf(t, r, "echo").Instances == 0
	})

	next := mustSend(t, r, "echo", "test.ping", "k3")
	if next.PID == first.PID {
		t.Errorf("request after the crash served by the dead pid %d",
			first.PID)
	}
	if s := statusOf(t, r, "echo"); s.ColdStarts != 2 || s.InFlight != 0 {
		t.Errorf("after crash and replacement: %+v, "+
			"want 2 cold starts, 0 in flight", s)
	}
	if len(logs.records("instance exited")) != 1 {
		t.Errorf("want one 'instance exited' warning for the crash")
	}
}

func TestCloseLeavesNoProcessBehind(t *testing.T) {
	r, _ := newRunner(t, Params{}, project(t, "echo", echoHandle),
		project(t, "static", staticHandle))
	pids := []int{
		mustSend(t, r, "echo", "test.ping", "x1").PID,
		mustSend(t, r, "static", "test.ping", "x2").PID,
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("pid %d still exists after Close", pid)
		}
	}
	for _, s := range r.Status() {
		if s.Instances != 0 {
			t.Errorf("%s has %d instances after Close", s.Name, s.Instances)
		}
	}
	if _, err := send(t, r, "echo", "test.ping", "x3"); !errors.Is(err,
		ErrClosed) {
		t.Errorf("request after Close: %v, want ErrClosed", err)
	}
}

func TestProcessExitingAtStartFailsWithItsLog(t *testing.T) {
	echo := withEnv(project(t, "echo", echoHandle),
		"ECHO_EXIT_AT_START", "no database configured")
	r, _ := newRunner(t, Params{}, echo)

	_, err := send(t, r, "echo", "test.ping", "a1")
	if err == nil || !strings.Contains(err.Error(), "exited before") ||
		!strings.Contains(err.Error(), "no database configured") {
		t.Fatalf("start of a function that exits: %v, want the exit and "+
			"its log line", err)
	}
	if s := statusOf(t, r, "echo"); s.ColdStarts != 0 || s.Instances != 0 {
		t.Errorf("after a failed start: %+v, want at zero, 0 cold starts", s)
	}
}

func TestStartTimeoutStopsInstanceThatNeverGetsReady(t *testing.T) {
	echo := withEnv(project(t, "echo", echoHandle), "ECHO_NEVER_READY", "1")
	r, _ := newRunner(t, Params{StartTimeout: 500 * time.Millisecond}, echo)

	start := time.Now()
	_, err := send(t, r, "echo", "test.ping", "n1")
	if err == nil || !strings.Contains(err.Error(), "not ready after 500ms") {
		t.Fatalf("start of a function never ready: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failed start took %s, want about 500ms", took)
	}
	f := r.fns["echo"]
	waitFor(t, 2*time.Second, "stopped", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.live) == 0
	})
}

func TestRequestWaitingForColdStartHonoursItsContext(t *testing.T) {
	echo := withEnv(project(t, "echo", echoHandle), "ECHO_NEVER_READY", "1")
	r, _ := newRunner(t, Params{StartTimeout: 10 * time.Second}, echo)
	rt, _ := r.RoundTripper("echo")

	ctx, cancel := context.WithTimeout(context.Background(),
		200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://echo/", nil)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request whose context ends during a cold start: %v, "+
			"want context.DeadlineExceeded", err)
	}
}

func TestRoundTripperOfUnknownFunction(t *testing.T) {
	r, _ := newRunner(t, Params{})
	if _, err := r.RoundTripper("nope"); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("RoundTripper(nope) = %v, want ErrUnknownFunction", err)
	}
}

func TestNewRejectsWhatItCannotRun(t *testing.T) {
	echo := project(t, "echo", echoHandle)
	python := *echo
	python.Runtime = "python"

	tests := []struct {
		name string
		p    Params
		want []string
	}{
		{
			name: "secret without its file",
			p: Params{Functions: []*funcyaml.Function{
				withEnv(echo, "API_KEY", "{{ secret:keys:api }}")}},
			want: []string{"echo", "API_KEY", "keys/api",
				"no such file"},
		},
		{
			name: "same name twice",
			p:    Params{Functions: []*funcyaml.Function{echo, echo}},
			want: []string{`"echo" is given twice`},
		},
		{
			name: "not go",
			p:    Params{Functions: []*funcyaml.Function{&python}},
			want: []string{"echo", `runtime "python"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.BuildDir, tt.p.LogDir = t.TempDir(), t.TempDir()
			tt.p.SecretsDir = t.TempDir()
			_, err := New(tt.p)
			if err == nil {
				t.Fatalf("New: no error, want one saying %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v; want it to say %q", err, w)
				}
			}
		})
	}
}

func TestHTTPFunctionOfMonorepoGetsPathAndQuery(t *testing.T) {
	r, _ := newRunner(t, Params{}, monoProject(t))
	rt, _ := r.RoundTripper("mono")

	req, _ := http.NewRequest(http.MethodGet,
		"http://mono.ferry.local/some/path?q=1&b=two", nil)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	want := "GET /some/path?q=1&b=two hello from lib "
	if resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(string(body), want) {
		t.Errorf("reply %d %q, want 200 %q<pid>", resp.StatusCode, body, want)
	}
	if s := statusOf(t, r, "mono"); s.InFlight != 0 || s.Instances != 1 {
		t.Errorf("after the body was closed: %+v, want 0 in flight", s)
	}
}

func TestKilledRunnerLeavesNoFunctionProcess(t *testing.T) {
	echo := project(t, "echo", echoHandle)
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), orphanEnv+"="+echo.Dir,
		"FERRY_RUNNER_TEST_BUILDS="+fixtures.buildDir,
		"FERRY_RUNNER_TEST_LOGS="+t.TempDir())
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Wait()
	defer helper.Process.Kill()

	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		s.Scan()
		line <- s.Text()
	}()
	var pid int
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "pid %d", &pid); err != nil {
			t.Fatalf("helper said %q, want its function's pid", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("helper did not start its function within 60s")
	}

	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "dead after kill -9 of its runner",
		func() bool { return processDead(pid) })
}
