package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

// Defaults of Params.
const (
	// IdleTimeoutDefault is how long a function runs without a request in
	// flight before it is scaled to zero, when Params.IdleTimeout is 0.
	IdleTimeoutDefault = 30 * time.Second
	// StartTimeoutDefault is how long an instance may take from its
	// process start to its readiness, when Params.StartTimeout is 0. A
	// build made on demand does not count against it.
	StartTimeoutDefault = 60 * time.Second
	// StopGrace is how long a process has to exit after SIGTERM before it
	// gets SIGKILL.
	StopGrace = 5 * time.Second
)

// ErrUnknownFunction is returned by RoundTripper for a name that is not
// one of Params.Functions.
var ErrUnknownFunction = errors.New("unknown function")

// ErrClosed is returned by a RoundTrip made after Close (or cut short by
// it).
var ErrClosed = errors.New("runner closed")

// Params configures a Runner.
type Params struct {
	// Functions are the functions to run, as funcyaml.Discover returns
	// them. Names must be unique; runtime must be go.
	Functions []*funcyaml.Function
	// BuildDir is the build cache: builds go to <BuildDir>/<name>/<hash>/.
	// Required.
	BuildDir string
	// LogDir receives each function's stdout and stderr, appended to
	// <LogDir>/<name>.log. Required.
	LogDir string
	// IdleTimeout is how long a function may go without a request in
	// flight before it is scaled to zero; 0 means IdleTimeoutDefault.
	IdleTimeout time.Duration
	// StartTimeout is how long an instance may take to become ready; 0
	// means StartTimeoutDefault.
	StartTimeout time.Duration
	// Logger receives the runner's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Runner builds, starts and scales to zero the functions of a project. It
// is safe for concurrent use.
type Runner struct {
	buildDir     string // absolute
	logDir       string // absolute
	idleTimeout  time.Duration
	startTimeout time.Duration
	stopGrace    time.Duration
	log          *slog.Logger

	fns   map[string]*function
	order []*function // as in Params.Functions

	ctx       context.Context // ends at Close: cuts builds and starts short
	cancel    context.CancelFunc
	closeOnce sync.Once
	buildMu   sync.Mutex     // one build at a time
	wg        sync.WaitGroup // cold starts and process watchers
}

// New checks p and returns a Runner with every function at zero. It builds
// nothing and starts nothing. It fails when a function's name is repeated,
// its runtime is not go, or its run.envs hold a template.
func New(p Params) (*Runner, error) {
	if p.BuildDir == "" || p.LogDir == "" {
		return nil, errors.New("runner: BuildDir and LogDir are required")
	}
	buildDir, err := filepath.Abs(p.BuildDir)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	logDir, err := filepath.Abs(p.LogDir)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}

	r := &Runner{
		buildDir:     buildDir,
		logDir:       logDir,
		idleTimeout:  p.IdleTimeout,
		startTimeout: p.StartTimeout,
		stopGrace:    StopGrace,
		log:          p.Logger,
		fns:          map[string]*function{},
	}
	if r.idleTimeout <= 0 {
		r.idleTimeout = IdleTimeoutDefault
	}
	if r.startTimeout <= 0 {
		r.startTimeout = StartTimeoutDefault
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "runner")

	for _, spec := range p.Functions {
		if err := r.add(spec); err != nil {
			return nil, err
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// add checks spec and adds it to r.
func (r *Runner) add(spec *funcyaml.Function) error {
	if _, dup := r.fns[spec.Name]; dup {
		return fmt.Errorf("runner: function %q is given twice", spec.Name)
	}
	if spec.Runtime != "go" {
		return fmt.Errorf("runner: function %s: runtime %q: "+
			"only go functions can be run", spec.Name, spec.Runtime)
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return fmt.Errorf("runner: function %s: %w", spec.Name, err)
	}
	env, err := runEnv(spec)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if b := spec.Build.Builder; b != "" && b != "host" {
		r.log.Warn("func.yaml asks for another builder; "+
			"ferry dev builds as kn func's host builder does",
			"function", spec.Name, "builder", b)
	}

	f := newFunction(r, spec, dir, env)
	r.fns[spec.Name] = f
	r.order = append(r.order, f)
	return nil
}

// Build builds, one at a time, every function that has no up-to-date
// build, and logs each with its duration and whether it was cached. A
// function whose build fails does not stop the others: the errors are
// joined. ferry dev calls it at start so that the first event does not
// wait for a compile; a cold start builds on demand all the same.
func (r *Runner) Build(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()

	var errs []error
	for _, f := range r.order {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if _, err := r.buildFunction(ctx, f, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RoundTripper returns an http.RoundTripper that delivers requests to the
// function name. Each RoundTrip makes sure an instance runs (at zero it
// starts one and waits for its readiness: the request waits, it does not
// fail), sends the request to the instance's loopback address with the
// same path, query, headers and body, and counts it in flight until the
// response body is closed. A caller that never closes a body keeps the
// function from scaling to zero.
func (r *Runner) RoundTripper(name string) (http.RoundTripper, error) {
	f, ok := r.fns[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	return transport{f: f}, nil
}

// Status reports every function, in the order of Params.Functions.
func (r *Runner) Status() []FunctionStatus {
	out := make([]FunctionStatus, 0, len(r.order))
	for _, f := range r.order {
		out = append(out, f.status())
	}
	return out
}

// Close stops every instance (SIGTERM, then SIGKILL after StopGrace), cuts
// short builds and cold starts in progress, and waits until every process
// has exited. When ctx ends first, the processes left get SIGKILL and
// Close returns ctx's error. Requests after Close fail with ErrClosed.
func (r *Runner) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		r.cancel()
		for _, f := range r.order {
			f.close()
		}
	})

	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, f := range r.order {
			f.kill()
		}
		return fmt.Errorf("runner: close: %w", ctx.Err())
	}
}
