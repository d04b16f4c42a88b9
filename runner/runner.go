package runner

import (
	"cmp"
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
	// IdleTimeoutDefault is Knative's scale-to-zero grace period and the
	// autoscaler's window when Params.IdleTimeout is 0: an instance is
	// stopped once the demand of the last IdleTimeout has not called for
	// it.
	IdleTimeoutDefault = 30 * time.Second
	// StartTimeoutDefault is how long an instance may take from its
	// process start to its readiness, when neither func.yaml's
	// run.startTimeout nor Params.StartTimeout says. A build made on
	// demand does not count against it.
	StartTimeoutDefault = 60 * time.Second
	// WatchIntervalDefault is how often function folders are checked for
	// changes when Params.Watch is set and Params.WatchInterval is 0.
	WatchIntervalDefault = 500 * time.Millisecond
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

// ErrStartFailed is wrapped by the error of a request that waited for an
// instance whose start failed: the process exited before it was ready, was
// not ready within its start timeout, or its environment could not be
// resolved. The dispatcher retries such a delivery per its delivery spec.
var ErrStartFailed = errors.New("function did not start")

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
	// SecretsDir holds the local stand-ins of Kubernetes Secrets that
	// run.envs templates name: <SecretsDir>/<secret>/<key> is a file
	// whose content is the key's value. "" makes such templates an error.
	SecretsDir string
	// ConfigMapsDir is the same for ConfigMaps:
	// <ConfigMapsDir>/<configmap>/<key>.
	ConfigMapsDir string
	// IdleTimeout is the scale-to-zero grace period and the autoscaler's
	// window; 0 means IdleTimeoutDefault.
	IdleTimeout time.Duration
	// StartTimeout is how long an instance may take to become ready when
	// its func.yaml has no run.startTimeout; 0 means StartTimeoutDefault.
	StartTimeout time.Duration
	// MaxScale caps the instances of a function whose func.yaml gives no
	// scale.max; 0 means MaxScaleDefault.
	MaxScale int
	// LivenessInterval is how often ready instances are probed for
	// liveness; 0 means LivenessIntervalDefault.
	LivenessInterval time.Duration
	// Watch makes Start watch every function's folder and roll out a new
	// build when its sources change.
	Watch bool
	// WatchInterval is how often folders are checked when Watch is set; 0
	// means WatchIntervalDefault.
	WatchInterval time.Duration
	// Logger receives the runner's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Runner builds, starts and scales the functions of a project. It is safe
// for concurrent use.
type Runner struct {
	buildDir         string // absolute
	logDir           string // absolute
	secretsDir       string
	configMapsDir    string
	idleTimeout      time.Duration
	tick             time.Duration // the autoscaler's period
	startTimeout     time.Duration
	stopGrace        time.Duration
	maxScale         int
	livenessInterval time.Duration
	watch            bool
	watchInterval    time.Duration
	log              *slog.Logger

	fns   map[string]*function
	order []*function // as in Params.Functions

	ctx       context.Context // ends at Close: cuts builds and starts short
	cancel    context.CancelFunc
	startOnce sync.Once
	closeOnce sync.Once
	buildMu   sync.Mutex     // one build at a time
	wg        sync.WaitGroup // starts, process watchers, loops
}

// New checks p and returns a Runner with every function at zero. It builds
// nothing and starts nothing. It fails when a function's name is repeated,
// its runtime is not go, or its run.envs cannot be resolved (a malformed
// template, an unset {{ env:NAME }}, a missing Secret or ConfigMap file).
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
		buildDir:         buildDir,
		logDir:           logDir,
		secretsDir:       p.SecretsDir,
		configMapsDir:    p.ConfigMapsDir,
		idleTimeout:      cmp.Or(p.IdleTimeout, IdleTimeoutDefault),
		startTimeout:     cmp.Or(p.StartTimeout, StartTimeoutDefault),
		stopGrace:        StopGrace,
		maxScale:         cmp.Or(p.MaxScale, MaxScaleDefault),
		livenessInterval: cmp.Or(p.LivenessInterval, LivenessIntervalDefault),
		watch:            p.Watch,
		watchInterval:    cmp.Or(p.WatchInterval, WatchIntervalDefault),
		log:              cmp.Or(p.Logger, slog.Default()),
		fns:              map[string]*function{},
	}
	r.tick = tickFor(r.idleTimeout)
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
	f := newFunction(r, spec, dir)
	if _, err := f.environment(); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	r.warnAbout(f)
	r.fns[spec.Name] = f
	r.order = append(r.order, f)
	return nil
}

// warnAbout logs what of f's func.yaml ferry dev reads but does not do.
func (r *Runner) warnAbout(f *function) {
	spec := f.spec
	for _, w := range spec.Warnings {
		f.log.Warn("func.yaml: "+w, "dir", spec.Dir)
	}
	if spec.MigratedFrom != "" {
		f.log.Info("func.yaml read with kn func's migrations",
			"specVersion", spec.MigratedFrom, "as", funcyaml.SpecVersion)
	}
	if b := spec.Build.Builder; b != "" && b != "host" {
		f.log.Warn("func.yaml asks for another builder; "+
			"ferry dev builds as kn func's host builder does",
			"builder", b)
	}
	if n := len(spec.Run.Volumes); n > 0 {
		f.log.Warn("func.yaml run.volumes are not mounted by ferry dev",
			"volumes", n)
	}
	f.log.Debug("scale", "min", f.policy.min, "max", f.policy.max,
		"metric", f.policy.metric, "target", f.policy.target,
		"utilization", f.policy.utilization,
		"containerConcurrency", f.policy.limit,
		"startTimeout", f.startTimeout)
}

// Start brings every function up to its min scale, waiting until those
// instances are ready or their start failed, and, when Params.Watch is
// set, starts watching the function folders. Failed starts are returned
// joined; the autoscaler keeps trying them with backoff (1 s doubling to
// 30 s), so a caller may log the error and go on. Start does its work
// once; later calls return nil.
func (r *Runner) Start(ctx context.Context) error {
	var err error
	r.startOnce.Do(func() {
		if r.watch {
			r.startWatcher()
		}
		err = r.warmAll(ctx)
	})
	return err
}

// warmAll starts the min-scale instances of every function at once and
// waits for them.
func (r *Runner) warmAll(ctx context.Context) error {
	type pending struct {
		f    *function
		done chan error
		n    int
	}
	var all []pending
	for _, f := range r.order {
		done, n := f.warm()
		all = append(all, pending{f, done, n})
	}

	var errs []error
	for _, p := range all {
		for range p.n {
			select {
			case err := <-p.done:
				if err != nil {
					errs = append(errs, err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return errors.Join(errs...)
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
// function name. Each RoundTrip gets a slot on a ready instance (waiting,
// not failing, while none has one free: at zero, or with every instance
// at its container concurrency), sends the request to the instance's
// loopback address with the same path, query, headers and body, and counts
// it in flight until the response body is closed. A caller that never
// closes a body keeps the function from scaling down.
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

// AtZero reports whether no function has a process, live or starting.
func (r *Runner) AtZero() bool {
	for _, f := range r.order {
		f.mu.Lock()
		busy := len(f.live) > 0 || f.starting > 0
		f.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
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
