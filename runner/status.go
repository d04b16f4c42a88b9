package runner

import "time"

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
	// Instances is how many processes serve the function: 0 (scaled to
	// zero) or 1. A process that is starting or stopping is not counted.
	Instances int `json:"instances"`
	// InFlight is how many requests have been forwarded to the function
	// and not yet finished (their response body not yet closed).
	InFlight int `json:"inFlight"`
	// ColdStarts counts the instances started since the runner was made.
	ColdStarts int `json:"coldStarts"`
	// LastColdStart is how long the last cold start took, from the request
	// that found the function at zero to the instance's readiness,
	// including a build made on demand. Zero before the first.
	LastColdStart time.Duration `json:"lastColdStart"`
	// LastColdStartAt is when the last cold start began.
	LastColdStartAt time.Time `json:"lastColdStartAt"`
	// Build is the state of the function's build.
	Build BuildState `json:"build"`
	// BuildError is the error of the last build when Build is BuildFailed,
	// with the compiler's output.
	BuildError string `json:"buildError,omitempty"`
}
