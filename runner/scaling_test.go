package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// peakWatcher samples a function's status every 2 ms until stopped and
// keeps the most instances seen ready or starting at once.
type peakWatcher struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak int
	wait int // most requests seen queued
}

func watchPeak(r *Runner, name string) *peakWatcher {
	w := &peakWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			for _, s := range r.Status() {
				if s.Name == name {
					w.mu.Lock()
					w.peak = max(w.peak, s.Instances+s.Starting)
					w.wait = max(w.wait, s.Queued)
					w.mu.Unlock()
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *peakWatcher) finish() (peak, queued int) {
	close(w.stop)
	<-w.done
	return w.peak, w.wait
}

// burst sends n concurrent GET path requests to the function name and
// returns their replies and errors.
func burst(r *Runner, name, path string, n int) ([]busyReply, []error) {
	reps := make([]busyReply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = busy(r, name, path)
		}()
	}
	wg.Wait()
	return reps, errs
}

func TestBurstScalesUpToMaxAndBackToZero(t *testing.T) {
	const idle = 400 * time.Millisecond
	// Container concurrency 2 at 70%: 1.4 requests per instance, so 12
	// requests want 9 instances; max caps them at 3.
	fn := withScale(httpProject(t, "busy", busyHandle), -1, 3, 2)
	r, logs := newRunner(t, Params{IdleTimeout: idle}, fn)

	w := watchPeak(r, "busy")
	reps, errs := burst(r, "busy", "/?sleep=400", 12)
	peak, queued := w.finish()

	pids := map[int]int{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		pids[reps[i].PID]++
		if reps[i].Peak > 2 {
			t.Errorf("pid %d had %d requests at once, above its limit 2",
				reps[i].PID, reps[i].Peak)
		}
	}
	if len(pids) != 3 {
		t.Errorf("requests served by %d processes %v, want max scale 3",
			len(pids), pids)
	}
	if peak != 3 {
		t.Errorf("most instances ready or starting at once = %d, want 3",
			peak)
	}
	if queued == 0 {
		t.Errorf("no request was seen waiting for a slot, want some: 12 " +
			"requests, 3 instances of 2")
	}

	waitFor(t, 20*idle, "scaled to zero", func() bool {
		return statusOf(t, r, "busy").Instances == 0
	})
	for pid := range pids {
		waitFor(t, 2*time.Second, fmt.Sprintf("pid %d gone", pid),
			func() bool { return processGone(pid) })
	}
	if n := len(logs.records("scaled to zero")); n != 1 {
		t.Errorf("%d 'scaled to zero' records, want 1", n)
	}
	if n := len(logs.records("scaled down")); n != 2 {
		t.Errorf("%d 'scaled down' records, want 2", n)
	}
}

func TestContainerConcurrencyIsNeverExceeded(t *testing.T) {
	fn := withScale(httpProject(t, "busy", busyHandle), -1, 1, 1)
	r, _ := newRunner(t, Params{}, fn)

	w := watchPeak(r, "busy")
	reps, errs := burst(r, "busy", "/?sleep=60", 6)
	peak, queued := w.finish()

	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if reps[i].Concurrent != 1 || reps[i].Peak != 1 {
			t.Errorf("request %d saw %d at once (peak %d), want 1: "+
				"container concurrency 1", i, reps[i].Concurrent,
				reps[i].Peak)
		}
		if reps[i].PID != reps[0].PID {
			t.Errorf("request %d served by pid %d, want the one instance "+
				"%d (max 1)", i, reps[i].PID, reps[0].PID)
		}
	}
	if peak != 1 || queued < 4 {
		t.Errorf("peak instances %d, most queued %d; want 1 instance and "+
			"the others waiting", peak, queued)
	}
	if s := statusOf(t, r, "busy"); s.InFlight != 0 || s.Queued != 0 {
		t.Errorf("after the burst: %+v, want nothing in flight or queued", s)
	}
}

func TestUnlimitedConcurrencySharesOneInstanceBelowTarget(t *testing.T) {
	// No limit: target 100 at 70%, so 10 requests want one instance, and
	// none waits for a second.
	r, _ := newRunner(t, Params{}, httpProject(t, "busy", busyHandle))
	reps, errs := burst(r, "busy", "/?sleep=100", 10)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if reps[i].PID != reps[0].PID {
			t.Errorf("request %d served by pid %d, want all by %d", i,
				reps[i].PID, reps[0].PID)
		}
	}
	if s := statusOf(t, r, "busy"); s.Starts != 1 {
		t.Errorf("%d instances started, want 1", s.Starts)
	}
	if reps[0].Peak < 2 {
		t.Errorf("peak concurrency %d on the instance, want the requests "+
			"to overlap", reps[0].Peak)
	}
}

func TestMinScaleIsWarmAtStartAndKept(t *testing.T) {
	const idle = 200 * time.Millisecond
	fn := withScale(httpProject(t, "busy", busyHandle), 2, 4, 0)
	r, _ := newRunner(t, Params{IdleTimeout: idle}, fn)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := statusOf(t, r, "busy")
	if s.Instances != 2 || s.InFlight != 0 {
		t.Fatalf("after Start with min 2: %+v, want 2 ready instances", s)
	}
	before := s.Processes

	time.Sleep(5 * idle)
	s = statusOf(t, r, "busy")
	if s.Instances != 2 || len(s.Processes) != 2 ||
		s.Processes[0].PID != before[0].PID ||
		s.Processes[1].PID != before[1].PID {
		t.Fatalf("5 idle timeouts later: %+v, want the same 2 instances",
			s.Processes)
	}

	// A first request finds them warm: no cold start.
	if _, err := busy(r, "busy", "/"); err != nil {
		t.Fatal(err)
	}
	if s := statusOf(t, r, "busy"); s.Starts != 2 {
		t.Errorf("%d starts after a request, want the 2 of Start", s.Starts)
	}

	// A lost instance is replaced to keep min 2 (after the 1 s backoff).
	syscall.Kill(before[0].PID, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "back to 2 instances", func() bool {
		s := statusOf(t, r, "busy")
		return s.Instances == 2 && s.Starts == 3
	})
}

func TestCrashInFlightFailsItsRequestAndNextGoesToNewInstance(t *testing.T) {
	r, logs := newRunner(t, Params{}, httpProject(t, "busy", busyHandle))
	first, err := busy(r, "busy", "/")
	if err != nil {
		t.Fatal(err)
	}

	if rep, err := busy(r, "busy", "/?crash=1&sleep=20"); err == nil {
		t.Fatalf("request that crashes the function: %+v, want an error",
			rep)
	}
	waitFor(t, 5*time.Second, "the crash noticed", func() bool {
		s := statusOf(t, r, "busy")
		return processGone(first.PID) && s.Instances == 0 &&
			strings.Contains(s.LastError, "exited")
	})

	next, err := busy(r, "busy", "/")
	if err != nil {
		t.Fatalf("request after the crash: %v", err)
	}
	if next.PID == first.PID {
		t.Errorf("request after the crash served by the dead pid %d",
			first.PID)
	}
	s := statusOf(t, r, "busy")
	if s.Instances != 1 || s.ColdStarts != 2 || s.LastError != "" {
		t.Errorf("status after crash and replacement: %+v, want 1 "+
			"instance, 2 cold starts, no error left", s)
	}
	if n := len(logs.records("instance exited")); n != 1 {
		t.Errorf("%d 'instance exited' records, want 1", n)
	}
}

func TestInstanceFailingLivenessIsReplaced(t *testing.T) {
	fn := withScale(httpProject(t, "busy", busyHandle), 1, 1, 0)
	r, logs := newRunner(t, Params{LivenessInterval: 30 * time.Millisecond},
		fn)
	sick, err := busy(r, "busy", "/?die=1")
	if err != nil {
		t.Fatal(err)
	}

	waitFor(t, 5*time.Second, "the sick instance gone", func() bool {
		return processGone(sick.PID)
	})
	next, err := busy(r, "busy", "/")
	if err != nil {
		t.Fatal(err)
	}
	if next.PID == sick.PID {
		t.Errorf("request served by the replaced pid %d", sick.PID)
	}
	recs := logs.records("replacing instance")
	if len(recs) != 1 || recs[0]["pid"] != float64(sick.PID) ||
		!strings.Contains(fmt.Sprint(recs[0]["err"]), "3 times") {
		t.Errorf("'replacing instance' records %v, want one for pid %d "+
			"after 3 failed probes", recs, sick.PID)
	}
}

func TestStartTimeoutFromFuncYAMLFailsWaitingRequests(t *testing.T) {
	echo := withEnv(project(t, "echo", echoHandle), "ECHO_NEVER_READY", "1")
	echo.Run.StartTimeout = funcyaml.Duration(300 * time.Millisecond)
	r, _ := newRunner(t, Params{StartTimeout: time.Minute}, echo)

	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = send(t, r, "echo", "test.ping", fmt.Sprint("t", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrStartFailed) ||
			!strings.Contains(err.Error(), "not ready after 300ms") {
			t.Errorf("request %d waiting for a function never ready: %v, "+
				"want ErrStartFailed after run.startTimeout 300ms", i, err)
		}
	}
	s := statusOf(t, r, "echo")
	if s.Queued != 0 || s.Instances != 0 ||
		!strings.Contains(s.LastError, "not ready") {
		t.Errorf("status after the failed start: %+v, want nothing "+
			"queued, no instance, the timeout as last error", s)
	}
}
