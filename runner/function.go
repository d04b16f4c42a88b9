package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// function is the runner's state for one function: its build, its current
// instance, and the requests in flight to it. It plays the part of a
// Knative Service whose scale is 0 or 1.
type function struct {
	r         *Runner
	spec      *funcyaml.Function
	dir       string   // absolute f.Dir
	env       []string // NAME=value from run.envs
	logPath   string
	log       *slog.Logger
	transport *http.Transport

	mu        sync.Mutex
	closed    bool
	current   *instance              // the ready instance, nil at zero
	starting  *coldStart             // the start in progress, if any
	live      map[*instance]struct{} // every process not yet reaped
	inflight  int
	starts    int
	lastStart time.Duration
	lastAt    time.Time
	build     buildResult
}

// coldStart is one start of an instance, shared by every request that
// finds the function at zero while it runs.
type coldStart struct {
	done chan struct{} // closed when inst or err is set
	inst *instance
	err  error
}

func newFunction(r *Runner, spec *funcyaml.Function, dir string,
	env []string) *function {
	return &function{
		r:       r,
		spec:    spec,
		dir:     dir,
		env:     env,
		logPath: filepath.Join(r.logDir, spec.Name+".log"),
		log:     r.log.With("function", spec.Name),
		transport: &http.Transport{
			Proxy:       nil, // loopback only, whatever HTTP_PROXY says
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			// Below func-go's 30 s server idle timeout, so that a
			// connection the instance is about to close is not reused.
			IdleConnTimeout:     25 * time.Second,
			MaxIdleConnsPerHost: 16,
			DisableCompression:  true, // pass bodies through as they are
		},
		live:  map[*instance]struct{}{},
		build: buildResult{state: BuildPending},
	}
}

// acquire returns a ready instance with one more request counted in flight
// on it, starting one if the function is at zero. Requests that arrive
// while an instance starts wait for that same start. The start does not
// depend on ctx: when ctx ends, this request stops waiting, and the start
// goes on for the others.
func (f *function) acquire(ctx context.Context) (*instance, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	if inst := f.current; inst != nil && !inst.exited() {
		f.hold(inst)
		f.mu.Unlock()
		return inst, nil
	}
	st := f.starting
	if st == nil {
		st = &coldStart{done: make(chan struct{})}
		f.starting = st
		f.r.wg.Add(1)
		go f.coldStart(st)
	}
	f.mu.Unlock()

	select {
	case <-st.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("function %s: waiting for a cold start: %w",
			f.spec.Name, ctx.Err())
	}
	if st.err != nil {
		return nil, st.err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	if f.current != st.inst || st.inst.exited() {
		return nil, fmt.Errorf("function %s: instance (pid %d) exited "+
			"right after it started", f.spec.Name, st.inst.pid)
	}
	f.hold(st.inst)
	return st.inst, nil
}

// hold counts one more request in flight on inst and cancels its idle
// timer. f.mu must be held.
func (f *function) hold(inst *instance) {
	inst.inflight++
	f.inflight++
	inst.idleSeq++
	if inst.idleTimer != nil {
		inst.idleTimer.Stop()
		inst.idleTimer = nil
	}
}

// release ends one request in flight on inst; the last one to end starts
// the idle timer.
func (f *function) release(inst *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inst.inflight--
	f.inflight--
	if inst.inflight == 0 && f.current == inst && !f.closed {
		f.armIdle(inst)
	}
}

// armIdle starts inst's idle timer: when it fires with nothing in flight,
// the instance is stopped. f.mu must be held.
func (f *function) armIdle(inst *instance) {
	inst.idleSeq++
	seq := inst.idleSeq
	if inst.idleTimer != nil {
		inst.idleTimer.Stop()
	}
	inst.idleTimer = time.AfterFunc(f.r.idleTimeout, func() {
		f.idle(inst, seq)
	})
}

// idle scales the function to zero if inst is still current and nothing
// has been in flight on it since the timer numbered seq was armed.
func (f *function) idle(inst *instance, seq uint64) {
	f.mu.Lock()
	if f.current != inst || inst.idleSeq != seq || inst.inflight > 0 {
		f.mu.Unlock()
		return
	}
	f.current = nil
	inst.stopping = true
	f.mu.Unlock()

	start := time.Now()
	inst.stop(f.r.stopGrace)
	f.log.Info("scaled to zero", "pid", inst.pid, "addr", inst.addr,
		"idle", f.r.idleTimeout, "duration", time.Since(start))
}

// coldStart runs st: it builds the function if its build is not up to
// date, starts a process and waits for its readiness, then makes it the
// current instance.
func (f *function) coldStart(st *coldStart) {
	defer f.r.wg.Done()

	begin := time.Now()
	inst, err := f.startInstance()
	took := time.Since(begin)

	f.mu.Lock()
	f.starting = nil
	if err == nil && f.closed {
		inst.stopping = true
		go inst.stop(f.r.stopGrace)
		inst, err = nil, ErrClosed
	}
	if err == nil {
		f.current = inst
		inst.served = true
		f.starts++
		f.lastStart, f.lastAt = took, begin
		f.armIdle(inst)
	}
	st.inst, st.err = inst, err
	close(st.done)
	f.mu.Unlock()

	switch {
	case errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled):
		f.log.Debug("cold start abandoned", "err", err)
	case err != nil:
		f.log.Error("cold start failed", "duration", took, "err", err)
	default:
		f.log.Info("cold start", "pid", inst.pid, "addr", inst.addr,
			"duration", took)
	}
}

// startInstance makes one ready instance.
func (f *function) startInstance() (*instance, error) {
	binary, err := f.r.buildFunction(f.r.ctx, f, false)
	if err != nil && f.r.ctx.Err() != nil {
		return nil, ErrClosed // the build was cut short by Close
	}
	if err != nil {
		return nil, err
	}

	inst, err := spawn(f.spec.Name, binary, f.dir, f.env, f.logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", f.spec.Name, err)
	}
	f.track(inst)
	f.log.Debug("instance started", "pid", inst.pid, "addr", inst.addr)

	err = inst.waitReady(f.r.ctx, f.r.startTimeout)
	if err != nil {
		f.mu.Lock()
		inst.stopping = true
		f.mu.Unlock()
		inst.stop(f.r.stopGrace)
		if errors.Is(err, context.Canceled) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("start %s (pid %d): %w", f.spec.Name,
			inst.pid, err)
	}
	return inst, nil
}

// track records inst as live until its process is reaped, and then
// forgets it. An instance that served and exited without being asked to
// crashed: the function is at zero and the next request starts a new one.
func (f *function) track(inst *instance) {
	f.mu.Lock()
	f.live[inst] = struct{}{}
	f.mu.Unlock()

	f.r.wg.Add(1) // the cold start holds the group: Add cannot race Wait
	go func() {
		defer f.r.wg.Done()
		<-inst.done

		f.mu.Lock()
		delete(f.live, inst)
		if f.current == inst {
			f.current = nil
		}
		if inst.idleTimer != nil {
			inst.idleTimer.Stop()
		}
		stopping := inst.stopping
		crashed := inst.served && !stopping
		f.mu.Unlock()
		f.transport.CloseIdleConnections()

		switch {
		case crashed:
			f.log.Warn("instance exited", "pid", inst.pid,
				"addr", inst.addr, "err", inst.exitErr)
		case stopping:
			f.log.Debug("instance stopped", "pid", inst.pid,
				"err", inst.exitErr)
		default:
			f.log.Debug("instance exited while starting", "pid", inst.pid,
				"err", inst.exitErr)
		}
	}()
}

// discard takes inst out of service because it could not be reached: the
// process is stopped, and the next request starts another.
func (f *function) discard(inst *instance) {
	f.mu.Lock()
	if f.current == inst {
		f.current = nil
	}
	inst.stopping = true
	f.mu.Unlock()

	f.log.Warn("instance unreachable, replacing it", "pid", inst.pid,
		"addr", inst.addr)
	go inst.stop(f.r.stopGrace)
}

// close takes the function out of service and stops all its processes; it
// does not wait for them.
func (f *function) close() {
	f.mu.Lock()
	f.closed = true
	f.current = nil
	live := make([]*instance, 0, len(f.live))
	for inst := range f.live {
		inst.stopping = true
		if inst.idleTimer != nil {
			inst.idleTimer.Stop()
		}
		live = append(live, inst)
	}
	f.mu.Unlock()

	for _, inst := range live {
		go inst.stop(f.r.stopGrace)
	}
}

// kill sends SIGKILL to every live process of the function.
func (f *function) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for inst := range f.live {
		inst.kill()
	}
}

// status returns a snapshot of the function.
func (f *function) status() FunctionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := FunctionStatus{
		Name:            f.spec.Name,
		InFlight:        f.inflight,
		ColdStarts:      f.starts,
		LastColdStart:   f.lastStart,
		LastColdStartAt: f.lastAt,
		Build:           f.build.state,
	}
	if f.current != nil {
		s.Instances = 1
	}
	if f.build.state == BuildFailed && f.build.err != nil {
		s.BuildError = f.build.err.Error()
	}
	return s
}

// lastBuild returns the outcome of the function's last build.
func (f *function) lastBuild() buildResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.build
}

// setBuildState records that the function's build is in state s.
func (f *function) setBuildState(s BuildState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.build.state = s
}

// buildDone records the outcome of a build and returns its error.
func (f *function) buildDone(b buildResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.build = b
	return b.err
}
