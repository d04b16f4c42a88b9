package runner

import (
	"math"
	"slices"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// Knative's autoscaler defaults (config-autoscaler), which func.yaml's
// deploy.options.scale overrides.
const (
	// ConcurrencyTargetDefault is the in-flight requests one instance
	// should carry when the metric is concurrency and neither
	// scale.target nor resources.limits.concurrency is given
	// (container-concurrency-target-default).
	ConcurrencyTargetDefault = 100
	// RPSTargetDefault is the requests per second one instance should
	// carry when the metric is rps and scale.target is not given
	// (requests-per-second-target-default).
	RPSTargetDefault = 200
	// UtilizationDefault is the percentage of the target an instance is
	// filled to before another starts (container-concurrency-target-
	// percentage).
	UtilizationDefault = 70
	// MaxScaleDefault caps the instances of a function whose func.yaml
	// gives no scale.max (or 0). Knative has no cap then; one machine
	// needs one.
	MaxScaleDefault = 10
)

// Metrics a function scales on, as func.yaml's scale.metric names them.
const (
	metricConcurrency = "concurrency"
	metricRPS         = "rps"
)

// rpsWindow is how far back the rps metric counts arrivals.
const rpsWindow = time.Second

// rpsBuckets is how many slices rpsWindow is counted in.
const rpsBuckets = 10

// scalePolicy is a function's autoscaling settings with Knative's defaults
// filled in.
type scalePolicy struct {
	min, max int
	metric   string
	// target is what one instance should carry at 100% utilization:
	// in-flight requests (concurrency) or requests per second (rps).
	target float64
	// utilization is the percentage of target an instance is filled to.
	utilization float64
	// limit is the container concurrency: the most requests in flight on
	// one instance; 0 means no limit.
	limit int
}

// newScalePolicy reads deploy.options.scale and resources.limits.
// concurrency of spec. maxDefault replaces a missing or zero scale.max.
func newScalePolicy(spec *funcyaml.Function, maxDefault int) scalePolicy {
	p := scalePolicy{
		max:         maxDefault,
		metric:      metricConcurrency,
		utilization: UtilizationDefault,
	}
	opts := spec.Deploy.Options
	if r := opts.Resources; r != nil && r.Limits != nil &&
		r.Limits.Concurrency != nil && *r.Limits.Concurrency > 0 {
		p.limit = int(*r.Limits.Concurrency)
	}

	target := 0.0
	if s := opts.Scale; s != nil {
		if s.Min != nil && *s.Min > 0 {
			p.min = int(*s.Min)
		}
		if s.Max != nil && *s.Max > 0 {
			p.max = int(*s.Max)
		}
		if s.Metric != "" {
			p.metric = s.Metric
		}
		if s.Target != nil && *s.Target > 0 {
			target = *s.Target
		}
		if s.Utilization != nil && *s.Utilization > 0 {
			p.utilization = *s.Utilization
		}
	}
	p.max = max(p.max, p.min, 1)

	switch {
	case p.metric == metricRPS && target > 0:
		p.target = target
	case p.metric == metricRPS:
		p.target = RPSTargetDefault
	case p.limit > 0 && (target == 0 || target > float64(p.limit)):
		// A soft target above the hard limit could never be reached.
		p.target = float64(p.limit)
	case target > 0:
		p.target = target
	default:
		p.target = ConcurrencyTargetDefault
	}
	return p
}

// perInstance is what one instance carries before another is wanted:
// target × utilization.
func (p scalePolicy) perInstance() float64 {
	return p.target * p.utilization / 100
}

// desired is how many instances demand calls for: ceil(demand /
// perInstance), at least 1 when there is any demand, within [min, max].
func (p scalePolicy) desired(demand float64) int {
	n := 0
	if demand > 0 {
		// The epsilon keeps 14/7 from becoming 3 through rounding.
		n = max(1, int(math.Ceil(demand/p.perInstance()-1e-9)))
	}
	return min(max(n, p.min), p.max)
}

// scaleWindow remembers, for each instance count n up to max, when demand
// last called for at least n instances, so that scaling down follows the
// peak of the last window and not the latest lull.
type scaleWindow struct {
	window   time.Duration
	neededAt []time.Time // neededAt[i]: last time i+1 instances were wanted
}

func newScaleWindow(window time.Duration, max int) scaleWindow {
	return scaleWindow{window: window, neededAt: make([]time.Time, max)}
}

// observe records that n instances are wanted at now.
func (w *scaleWindow) observe(now time.Time, n int) {
	for i := 0; i < n && i < len(w.neededAt); i++ {
		w.neededAt[i] = now
	}
}

// stable is the most instances wanted within the window before now.
func (w *scaleWindow) stable(now time.Time) int {
	for i, at := range w.neededAt {
		if at.IsZero() || now.Sub(at) >= w.window {
			return i
		}
	}
	return len(w.neededAt)
}

// arrivalRate counts requests that arrived within the last rpsWindow, in
// rpsBuckets slices.
type arrivalRate struct {
	counts [rpsBuckets]int
	slot   [rpsBuckets]int64 // the slice number each count belongs to
}

// slice is the number of the rpsWindow/rpsBuckets slice t falls in.
func slice(t time.Time) int64 {
	return t.UnixNano() / int64(rpsWindow/rpsBuckets)
}

// add counts one arrival at now.
func (a *arrivalRate) add(now time.Time) {
	s := slice(now)
	i := s % rpsBuckets
	if a.slot[i] != s {
		a.slot[i], a.counts[i] = s, 0
	}
	a.counts[i]++
}

// perSecond is the arrivals of the last rpsWindow, per second.
func (a *arrivalRate) perSecond(now time.Time) float64 {
	s := slice(now)
	n := 0
	for i := range a.counts {
		if s-a.slot[i] < rpsBuckets {
			n += a.counts[i]
		}
	}
	return float64(n) / rpsWindow.Seconds()
}

// tickFor is the autoscaler's period for an idle timeout: a tenth of it,
// from 10 ms to 1 s.
func tickFor(idle time.Duration) time.Duration {
	return min(max(idle/10, 10*time.Millisecond), time.Second)
}

// ensureAutoscalerLocked starts the function's autoscaler loop unless it
// runs. f.mu must be held.
func (f *function) ensureAutoscalerLocked() {
	if f.scaling || f.closed {
		return
	}
	f.scaling = true
	f.r.wg.Add(1) // under f.mu, before Close marks f closed
	go f.autoscale()
}

// autoscale evaluates the function's scale every tick until the function
// is at rest (nothing ready, starting, in flight or waiting, and min scale
// 0) or the runner closes. A function at zero costs no goroutine.
func (f *function) autoscale() {
	defer f.r.wg.Done()
	t := time.NewTicker(f.r.tick)
	defer t.Stop()
	for {
		select {
		case <-f.r.ctx.Done():
			f.mu.Lock()
			f.scaling = false
			f.mu.Unlock()
			return
		case <-t.C:
		}

		f.mu.Lock()
		if !f.closed {
			f.tickLocked(time.Now())
		}
		if f.closed || f.atRestLocked() {
			f.scaling = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
	}
}

// atRestLocked reports whether the autoscaler has nothing to watch. f.mu
// must be held.
func (f *function) atRestLocked() bool {
	return len(f.ready) == 0 && f.starting == 0 && f.inflight == 0 &&
		f.queue.len() == 0 && f.policy.min == 0
}

// tickLocked is one autoscaler evaluation: scale up to what the demand
// wants now (after any restart backoff), then drain the instances beyond
// the most wanted within the window (and beyond min), the least loaded
// first. f.mu must be held.
func (f *function) tickLocked(now time.Time) {
	f.scaleUpLocked(now, false)
	if f.failures > 0 && len(f.ready) > 0 &&
		now.Sub(f.ready[0].readyAt) >= crashLoopReset {
		f.failures = 0
	}

	keep := max(f.window.stable(now), f.policy.min)
	for len(f.ready) > keep {
		inst := f.ready[len(f.ready)-1]
		for _, o := range slices.Backward(f.ready) {
			if o.inflight < inst.inflight {
				inst = o
			}
		}
		f.drainLocked(inst)
		if len(f.ready) == 0 && f.starting == 0 {
			f.log.Info("scaled to zero", "pid", inst.pid,
				"addr", inst.addr, "idle", f.r.idleTimeout)
		} else {
			f.log.Info("scaled down", "pid", inst.pid, "addr", inst.addr,
				"inFlight", inst.inflight, "instances", len(f.ready))
		}
	}
}
