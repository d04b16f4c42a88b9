package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// Restarts of a failing function back off, so that a function that cannot
// start (or crashes at once) does not spin.
const (
	// restartBackoffFirst is the wait after the first failed start or
	// crash before the autoscaler starts another on its own; it doubles
	// with each failure in a row, up to restartBackoffMax.
	restartBackoffFirst = time.Second
	restartBackoffMax   = 30 * time.Second
	// crashLoopReset is how long an instance must stay up for the
	// failures before it to be forgotten.
	crashLoopReset = 10 * time.Second
)

// healthPaths are the endpoints an instance is probed on.
type healthPaths struct {
	readiness, liveness string
}

// function is the runner's state for one function: its instances, the
// requests in flight to them and waiting for them, and what the autoscaler
// needs to size them. It plays the part of a Knative Service with its
// activator and autoscaler.
type function struct {
	r            *Runner
	spec         *funcyaml.Function
	name         string
	dir          string // absolute spec.Dir
	logPath      string
	log          *slog.Logger
	transport    *http.Transport
	policy       scalePolicy
	health       healthPaths
	startTimeout time.Duration
	watch        sourceWatch // used by the runner's watcher only

	mu         sync.Mutex
	closed     bool
	ready      []*instance            // taking requests, oldest first
	starting   int                    // starts in progress
	live       map[*instance]struct{} // every process not yet reaped
	queue      waitQueue
	inflight   int // on instances, draining ones included
	arrivals   arrivalRate
	window     scaleWindow
	scaling    bool // the autoscaler loop runs
	starts     int
	coldStarts int
	lastCold   time.Duration
	lastColdAt time.Time
	lastErr    error // of the last failed start, cleared by a good one
	failures   int   // failed starts and crashes in a row
	retryAt    time.Time
	build      buildResult
	// lastGood is the newest build that compiled, which instances start
	// from while a newer source fails to build.
	lastGood buildResult
}

func newFunction(r *Runner, spec *funcyaml.Function, dir string) *function {
	f := &function{
		r:            r,
		spec:         spec,
		name:         spec.Name,
		dir:          dir,
		logPath:      filepath.Join(r.logDir, spec.Name+".log"),
		log:          r.log.With("function", spec.Name),
		policy:       newScalePolicy(spec, r.maxScale),
		health:       healthOf(spec),
		startTimeout: r.startTimeout,
		transport: &http.Transport{
			Proxy:       nil, // loopback only, whatever HTTP_PROXY says
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			// Below func-go's 30 s server idle timeout, so that a
			// connection the instance is about to close is not reused.
			IdleConnTimeout:     25 * time.Second,
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true, // pass bodies through as they are
		},
		live:  map[*instance]struct{}{},
		build: buildResult{state: BuildPending},
	}
	if t := spec.Run.StartTimeout; t > 0 {
		f.startTimeout = t.Duration()
	}
	f.window = newScaleWindow(r.idleTimeout, f.policy.max)
	f.lastGood = r.builtBefore(spec.Name)
	return f
}

// healthOf returns the health endpoints func.yaml names, or func-go's.
func healthOf(spec *funcyaml.Function) healthPaths {
	h := healthPaths{readinessPathDefault, livenessPathDefault}
	if p := spec.Deploy.HealthEndpoints.Readiness; p != "" {
		h.readiness = p
	}
	if p := spec.Deploy.HealthEndpoints.Liveness; p != "" {
		h.liveness = p
	}
	return h
}

// acquire returns a ready instance with one more request counted in flight
// on it. When no instance has a free slot (none runs, or every one carries
// its container concurrency), the request waits in the queue, first come
// first served, until a slot frees or a new instance is ready, or ctx
// ends. Either way the autoscaler sees the request at once and starts
// instances if the demand calls for more.
func (f *function) acquire(ctx context.Context) (*instance, error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	now := time.Now()
	f.arrivals.add(now)
	if f.queue.len() == 0 {
		if inst := f.pickLocked(); inst != nil {
			f.holdLocked(inst)
			f.scaleUpLocked(now, true)
			f.mu.Unlock()
			return inst, nil
		}
	}
	w := f.queue.push()
	f.scaleUpLocked(now, true)
	f.mu.Unlock()

	select {
	case g := <-w.ch:
		return g.inst, g.err
	case <-ctx.Done():
	}
	f.mu.Lock()
	removed := f.queue.remove(w)
	f.mu.Unlock()
	if !removed { // granted meanwhile: give the slot back
		if g := <-w.ch; g.inst != nil {
			f.release(g.inst)
		}
	}
	return nil, fmt.Errorf("function %s: waiting for an instance: %w",
		f.name, ctx.Err())
}

// pickLocked returns the ready instance with the fewest requests in
// flight (the oldest of equals) that is below the container concurrency,
// or nil. f.mu must be held.
func (f *function) pickLocked() *instance {
	var best *instance
	for _, inst := range f.ready {
		if f.policy.limit > 0 && inst.inflight >= f.policy.limit {
			continue
		}
		if best == nil || inst.inflight < best.inflight {
			best = inst
		}
	}
	return best
}

// holdLocked counts one more request in flight on inst. f.mu must be held.
func (f *function) holdLocked(inst *instance) {
	inst.inflight++
	f.inflight++
}

// release ends one request in flight on inst. Its slot goes to the first
// waiting request; a draining instance whose last request ended is
// stopped.
func (f *function) release(inst *instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.observeLocked(now) // the demand as it was, for the window
	inst.inflight--
	f.inflight--
	switch inst.state {
	case stateReady:
		f.dispatchLocked()
	case stateDraining:
		if inst.inflight == 0 {
			f.stopLocked(inst)
		}
	}
}

// dispatchLocked hands free slots to waiting requests, in order. f.mu must
// be held.
func (f *function) dispatchLocked() {
	for f.queue.len() > 0 {
		inst := f.pickLocked()
		if inst == nil {
			return
		}
		f.holdLocked(inst)
		f.queue.pop().ch <- grant{inst: inst}
	}
}

// demandLocked is the current value of the function's metric: requests in
// flight and waiting (concurrency) or arrivals per second (rps). f.mu must
// be held.
func (f *function) demandLocked(now time.Time) float64 {
	if f.policy.metric == metricRPS {
		return f.arrivals.perSecond(now)
	}
	return float64(f.inflight + f.queue.len())
}

// wantLocked is how many instances the demand at now calls for; at least
// one while a request waits. f.mu must be held.
func (f *function) wantLocked(now time.Time) int {
	want := f.policy.desired(f.demandLocked(now))
	if want == 0 && f.queue.len() > 0 {
		want = 1
	}
	return want
}

// observeLocked records the instances wanted now in the scale-down window.
// f.mu must be held.
func (f *function) observeLocked(now time.Time) int {
	want := f.wantLocked(now)
	f.window.observe(now, want)
	return want
}

// scaleUpLocked starts as many instances as the demand wants beyond those
// ready or starting. After failures it waits out the backoff, except for a
// request that finds the function with nothing ready or starting
// (onRequest): that one always gets a start, as a cold start. f.mu must be
// held.
func (f *function) scaleUpLocked(now time.Time, onRequest bool) {
	if f.closed {
		return
	}
	want := f.observeLocked(now)
	have := len(f.ready) + f.starting
	if have >= want {
		return
	}
	coldRequest := onRequest && have == 0 && f.queue.len() > 0
	if f.failures > 0 && now.Before(f.retryAt) && !coldRequest {
		return
	}
	for range want - have {
		f.startLocked(nil)
	}
}

// startLocked begins the start of one instance in the background; done,
// if not nil, receives its outcome. f.mu must be held and f not closed.
func (f *function) startLocked(done chan<- error) {
	cold := len(f.ready) == 0
	f.starting++
	f.ensureAutoscalerLocked()
	f.r.wg.Add(1) // under f.mu, before Close marks f closed
	go f.start(cold, done)
}

// start makes one ready instance and puts it in service: it builds the
// function if its build is not up to date, resolves its environment,
// starts the process and waits for its readiness.
func (f *function) start(cold bool, done chan<- error) {
	defer f.r.wg.Done()

	begin := time.Now()
	inst, err := f.startInstance()
	took := time.Since(begin)

	f.mu.Lock()
	f.starting--
	if err == nil && f.closed {
		inst.state = stateStopping
		go inst.stop(f.r.stopGrace)
		err = ErrClosed
	}
	if err == nil {
		f.serveLocked(inst, cold, begin, took)
	} else {
		f.startFailedLocked(err)
	}
	f.mu.Unlock()

	switch {
	case errors.Is(err, ErrClosed):
		f.log.Debug("start abandoned", "err", err)
	case err != nil:
		f.log.Error("start failed", "cold", cold, "duration", took,
			"err", err)
	case cold:
		f.log.Info("cold start", "pid", inst.pid, "addr", inst.addr,
			"revision", inst.revision, "duration", took)
	default:
		f.log.Info("scaled up", "pid", inst.pid, "addr", inst.addr,
			"revision", inst.revision, "duration", took,
			"instances", f.instances())
	}
	if done != nil {
		done <- err
	}
}

// serveLocked puts the ready inst in service and hands it waiting
// requests. f.mu must be held.
func (f *function) serveLocked(inst *instance, cold bool, begin time.Time,
	took time.Duration) {
	inst.state = stateReady
	inst.readyAt = time.Now()
	f.ready = append(f.ready, inst)
	f.starts++
	if cold {
		f.coldStarts++
		f.lastCold, f.lastColdAt = took, begin
	}
	f.lastErr = nil
	f.dispatchLocked()
	f.r.wg.Add(1)
	go f.watchLiveness(inst, f.r.livenessInterval)
}

// startFailedLocked records a failed start. When nothing is left that
// could serve the waiting requests, they fail with err: the Broker's
// delivery spec retries them. f.mu must be held.
func (f *function) startFailedLocked(err error) {
	if errors.Is(err, ErrClosed) {
		f.queue.failAll(ErrClosed)
		return
	}
	f.lastErr = err
	f.noteFailureLocked(time.Now())
	if len(f.ready) == 0 && f.starting == 0 {
		f.queue.failAll(err)
	}
}

// noteFailureLocked counts a failed start or a crash and sets the backoff
// before the autoscaler starts another on its own. f.mu must be held.
func (f *function) noteFailureLocked(now time.Time) {
	f.failures++
	wait := restartBackoffFirst << min(f.failures-1, 5)
	f.retryAt = now.Add(min(wait, restartBackoffMax))
}

// startInstance makes one ready instance, not yet in service. It starts
// from the function's current sources, or, when they fail to build, from
// the newest build that compiled (the status shows the failed build).
func (f *function) startInstance() (*instance, error) {
	b, err := f.r.buildFunction(f.r.ctx, f, false)
	if err != nil && f.r.ctx.Err() != nil {
		return nil, ErrClosed // the build was cut short by Close
	}
	if err != nil {
		good := f.lastGoodBuild()
		if good.binary == "" {
			return nil, err
		}
		f.log.Warn("starting the last build that compiled; the current "+
			"sources fail to build", "revision", good.hash, "err", err)
		b = good
	}
	env, err := f.environment()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStartFailed, err)
	}

	inst, err := spawn(f.name, b.binary, f.dir, env, f.logPath)
	if err != nil {
		return nil, fmt.Errorf("%w: start %s: %w", ErrStartFailed, f.name,
			err)
	}
	inst.revision = b.hash
	if !f.track(inst) {
		return nil, ErrClosed
	}
	f.log.Debug("instance started", "pid", inst.pid, "addr", inst.addr)

	err = inst.waitReady(f.r.ctx, f.health.readiness, f.startTimeout)
	if err != nil {
		f.mu.Lock()
		inst.state = stateStopping
		f.mu.Unlock()
		inst.stop(f.r.stopGrace)
		if errors.Is(err, context.Canceled) {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %s (pid %d): %w", ErrStartFailed,
			f.name, inst.pid, err)
	}
	return inst, nil
}

// track records inst as live until its process is reaped, and then
// forgets it; it reports false, having killed inst, when f is closed. An
// instance that exits while ready or draining crashed: requests in flight
// on it fail, and one is started in its place if the demand or min scale
// calls for it.
func (f *function) track(inst *instance) bool {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		inst.kill()
		<-inst.done
		return false
	}
	f.live[inst] = struct{}{}
	f.r.wg.Add(1)
	f.mu.Unlock()

	go func() {
		defer f.r.wg.Done()
		<-inst.done

		f.mu.Lock()
		delete(f.live, inst)
		state := inst.state
		crashed := state == stateReady || state == stateDraining
		if crashed {
			f.removeLocked(inst)
			inst.state = stateStopping
			f.lastErr = fmt.Errorf("instance (pid %d) exited: %v",
				inst.pid, inst.exitErr)
			now := time.Now()
			f.noteFailureLocked(now)
			f.scaleUpLocked(now, false)
		}
		f.mu.Unlock()
		f.transport.CloseIdleConnections()

		switch {
		case crashed:
			f.log.Warn("instance exited", "pid", inst.pid,
				"addr", inst.addr, "state", state.String(),
				"err", inst.exitErr)
		case state == stateStopping:
			f.log.Debug("instance stopped", "pid", inst.pid,
				"err", inst.exitErr)
		default:
			f.log.Debug("instance exited while starting", "pid", inst.pid,
				"err", inst.exitErr)
		}
	}()
	return true
}

// removeLocked takes inst out of the ready list. f.mu must be held.
func (f *function) removeLocked(inst *instance) {
	if i := slices.Index(f.ready, inst); i >= 0 {
		f.ready = slices.Delete(f.ready, i, i+1)
	}
}

// stopLocked takes inst out of service and stops it in the background
// (SIGTERM, SIGKILL after the grace period). f.mu must be held.
func (f *function) stopLocked(inst *instance) {
	f.removeLocked(inst)
	inst.state = stateStopping
	go inst.stop(f.r.stopGrace)
}

// drainLocked takes inst out of rotation: it gets no new request and is
// stopped once those in flight end. f.mu must be held.
func (f *function) drainLocked(inst *instance) {
	f.removeLocked(inst)
	inst.state = stateDraining
	if inst.inflight == 0 {
		f.stopLocked(inst)
	}
}

// replace stops inst, which failed its liveness probe or could not be
// reached, and starts another if the demand or min scale calls for it.
// Requests in flight on it fail; the Broker's delivery spec retries them.
func (f *function) replace(inst *instance, why error) {
	f.mu.Lock()
	if inst.state == stateStopping {
		f.mu.Unlock()
		return
	}
	f.stopLocked(inst)
	f.lastErr = fmt.Errorf("instance (pid %d) replaced: %w", inst.pid, why)
	f.scaleUpLocked(time.Now(), false)
	f.mu.Unlock()

	f.log.Warn("replacing instance", "pid", inst.pid, "addr", inst.addr,
		"err", why)
}

// discard replaces inst, which a request could not connect to.
func (f *function) discard(inst *instance) {
	f.replace(inst, errors.New("connection refused"))
}

// instances is how many instances are ready.
func (f *function) instances() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ready)
}

// close takes the function out of service, fails the waiting requests with
// ErrClosed and stops all its processes; it does not wait for them.
func (f *function) close() {
	f.mu.Lock()
	f.closed = true
	f.ready = nil
	f.queue.failAll(ErrClosed)
	live := make([]*instance, 0, len(f.live))
	for inst := range f.live {
		inst.state = stateStopping
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
	if b.state == BuildReady {
		f.lastGood = b
	}
	return b.err
}

// lastGoodBuild returns the newest build that compiled; its binary is ""
// when none has.
func (f *function) lastGoodBuild() buildResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastGood
}

// warm starts the instances the function's min scale wants beyond those
// ready or starting; done receives the outcome of each of the n starts.
func (f *function) warm() (done chan error, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n = f.policy.min - len(f.ready) - f.starting
	if n <= 0 || f.closed {
		return nil, 0
	}
	done = make(chan error, n)
	f.window.observe(time.Now(), f.policy.min)
	for range n {
		f.startLocked(done)
	}
	return done, n
}
