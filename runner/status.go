package runner

import (
	"cmp"
	"slices"
	"time"
)

// BuildState is where a function's build stands.
type BuildState string

// Build states, in the order a function goes through them.
const (
	// BuildPending: no build has been made or found yet.
	BuildPending BuildState = "pending"
	// BuildRunning: the function is being compiled.
	BuildRunning BuildState = "building"
	// BuildReady: the last build succeeded (or was found up to date).
	BuildReady BuildState = "ready"
	// BuildFailed: the last build failed; FunctionStatus.BuildError says
	// why.
	BuildFailed BuildState = "failed"
)

// FunctionStatus is a snapshot of one function, as Runner.Status reports
// it.
type FunctionStatus struct {
	// Name is the function's name from its func.yaml.
	Name string `json:"name"`
	// Instances is how many processes take requests. Those starting or
	// draining are counted apart.
	Instances int `json:"instances"`
	// Starting is how many instances are being started (built, spawned,
	// probed for readiness).
	Starting int `json:"starting"`
	// Draining is how many instances take no new requests and stop once
	// those in flight end (scaled down, or replaced by a new build).
	Draining int `json:"draining"`
	// InFlight is how many requests have been forwarded to the function
	// and not yet finished (their response body not yet closed).
	InFlight int `json:"inFlight"`
	// Queued is how many requests wait for a slot on an instance.
	Queued int `json:"queued"`
	// Desired is how many instances the autoscaler keeps: the most the
	// demand called for within the window (IdleTimeout), and at least min.
	Desired int `json:"desired"`
	// Scale is the function's autoscaling settings, with Knative's
	// defaults filled in.
	Scale ScaleStatus `json:"scale"`
	// ColdStarts counts the instances started while the function had no
	// ready instance (from zero), since the runner was made.
	ColdStarts int `json:"coldStarts"`
	// Starts counts every instance that became ready: cold starts, scale
	// ups, replacements and rollouts.
	Starts int `json:"starts"`
	// LastColdStart is how long the last cold start took, from the
	// request that found the function at zero to the instance's
	// readiness, including a build made on demand. Zero before the first.
	LastColdStart time.Duration `json:"lastColdStart"`
	// LastColdStartAt is when the last cold start began.
	LastColdStartAt time.Time `json:"lastColdStartAt"`
	// LastError is why the last start failed or the last instance was
	// lost, until an instance starts well.
	LastError string `json:"lastError,omitempty"`
	// Build is the state of the function's build.
	Build BuildState `json:"build"`
	// Revision is the content hash of the last build.
	Revision string `json:"revision,omitempty"`
	// BuildError is the error of the last build when Build is BuildFailed,
	// with the compiler's output.
	BuildError string `json:"buildError,omitempty"`
	// Processes lists every live process, ready or not, oldest first.
	Processes []InstanceStatus `json:"processes"`
}

// ScaleStatus is a function's autoscaling settings as the runner applies
// them.
type ScaleStatus struct {
	Min int `json:"min"`
	Max int `json:"max"`
	// Metric is concurrency or rps.
	Metric string `json:"metric"`
	// Target is what one instance should carry at 100% utilization.
	Target float64 `json:"target"`
	// Utilization is the percentage of Target an instance is filled to
	// before another is wanted.
	Utilization float64 `json:"utilization"`
	// ContainerConcurrency is the most requests in flight on one
	// instance; 0 means no limit.
	ContainerConcurrency int `json:"containerConcurrency"`
}

// InstanceStatus is one process of a function.
type InstanceStatus struct {
	PID  int    `json:"pid"`
	Addr string `json:"addr"`
	// State is starting, ready, draining or stopping.
	State string `json:"state"`
	// InFlight is how many requests it carries.
	InFlight int `json:"inFlight"`
	// Revision is the content hash of the build it runs.
	Revision  string    `json:"revision"`
	StartedAt time.Time `json:"startedAt"`
}

// status returns a snapshot of the function.
func (f *function) status() FunctionStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.policy
	s := FunctionStatus{
		Name:      f.name,
		Instances: len(f.ready),
		Starting:  f.starting,
		InFlight:  f.inflight,
		Queued:    f.queue.len(),
		Scale: ScaleStatus{Min: p.min, Max: p.max, Metric: p.metric,
			Target: p.target, Utilization: p.utilization,
			ContainerConcurrency: p.limit},
		ColdStarts:      f.coldStarts,
		Starts:          f.starts,
		LastColdStart:   f.lastCold,
		LastColdStartAt: f.lastColdAt,
		Build:           f.build.state,
		Revision:        f.build.hash,
		Processes:       []InstanceStatus{},
	}
	if !f.closed {
		now := time.Now()
		s.Desired = max(f.wantLocked(now), f.window.stable(now), p.min)
	}
	if f.lastErr != nil {
		s.LastError = f.lastErr.Error()
	}
	if f.build.state == BuildFailed && f.build.err != nil {
		s.BuildError = f.build.err.Error()
	}
	for inst := range f.live {
		if inst.state == stateDraining {
			s.Draining++
		}
		s.Processes = append(s.Processes, InstanceStatus{
			PID: inst.pid, Addr: inst.addr, State: inst.state.String(),
			InFlight: inst.inflight, Revision: inst.revision,
			StartedAt: inst.startedAt,
		})
	}
	sortProcesses(s.Processes)
	return s
}

// sortProcesses orders ps oldest first, by pid among equals.
func sortProcesses(ps []InstanceStatus) {
	slices.SortFunc(ps, func(a, b InstanceStatus) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
}
