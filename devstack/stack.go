// Package devstack runs the whole Ferry flow in one process, as `ferry dev`
// does: the ingress, the embedded Broker with its Triggers, the dispatcher,
// the function runner and the task store, all on one data directory.
//
// It reads the same files a cluster install uses: Broker and Trigger
// manifests under the config folder and each function's func.yaml under the
// functions folder. Events and tasks live in <data-dir>/ferry.db (bbolt);
// builds in <data-dir>/builds; function logs in <data-dir>/logs; the local
// Secrets and ConfigMaps of func.yaml's run.envs templates in
// <data-dir>/secrets/<name>/<key> and <data-dir>/configmaps/<name>/<key>.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/embedded"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/ingress"
	"github.com/ferryfn/ferry/runner"
)

// Defaults of Config.
const (
	AddrDefault         = "127.0.0.1:8080"
	DataDirDefault      = ".ferry"
	FunctionsDirDefault = "functions"
	ConfigDirDefault    = "config"
	NamespaceDefault    = "default"
	// BrokerDefault is the Broker the ingress publishes to, and the one
	// created when the config folder declares none.
	BrokerDefault = "default"
)

// batchDelay is how long bbolt waits to group concurrent commits into one
// fsync. Measured with `ferry bench --only embedded` on the development
// machine: 1 ms beat 2 ms at every concurrency (a lone 202 in 3.6 ms
// instead of 6.3 ms) and 0.3 ms, which lost throughput at 64 producers.
const batchDelay = time.Millisecond

// Config configures a Stack. Zero fields take the defaults above.
type Config struct {
	// Addr is where the ingress listens; port 0 picks a free one.
	Addr         string
	DataDir      string
	FunctionsDir string
	ConfigDir    string
	Namespace    string
	// IdleTimeout is how long a function stays up without requests;
	// 0 means runner.IdleTimeoutDefault.
	IdleTimeout time.Duration
	// Role is which parts run; "" means RoleAll.
	Role Role
	// BrokerURL, an amqp:// URL, puts the Brokers on RabbitMQ instead of
	// the embedded store.
	BrokerURL string
	// QueueType is the RabbitMQ queue type, "quorum" (default) or
	// "classic".
	QueueType string
	// RedisURL, a redis:// URL, puts the task store on Redis instead of
	// the data directory.
	RedisURL string
	// Retention is how long Redis keeps a task after its last update;
	// 0 means tasks.RetentionDefault.
	Retention time.Duration
	// ReleaseIdleMemory hands memory back to the operating system after
	// start-up and whenever the process comes to rest (see rest.go): for
	// a long-running process, not for one that hosts a Stack among
	// other work, such as a benchmark.
	ReleaseIdleMemory bool
	Logger            *slog.Logger
}

// Stack is a running `ferry dev`.
type Stack struct {
	Functions []*funcyaml.Function
	Brokers   []*eventing.Broker
	Pings     []*eventing.Ping

	url       string
	db        *bolt.DB
	published rabbitmq.Deduper
	closers   []func() error
	ready     []func(context.Context) error
	runner    *runner.Runner
	server    *http.Server
	rest      rest
	runCtx    context.Context // ends at Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	log       *slog.Logger
}

// Start builds the functions, opens the data directory and starts serving.
// It returns once the ingress listens.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg = withDefaults(cfg)
	s := &Stack{log: cfg.Logger}

	fns, manifests, err := load(cfg)
	if err != nil {
		return nil, err
	}
	s.Functions = fns

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if cfg.BrokerURL == "" || cfg.RedisURL == "" {
		if s.db, err = openDB(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	// Take the port before the slow part (builds), so that a second
	// ferry dev on the same address fails at once.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.closeQuietly()
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	if err := s.start(ctx, cfg, manifests, ln); err != nil {
		ln.Close()
		s.closeQuietly()
		return nil, err
	}
	return s, nil
}

func withDefaults(cfg Config) Config {
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	set(&cfg.Addr, AddrDefault)
	set(&cfg.DataDir, DataDirDefault)
	set(&cfg.FunctionsDir, FunctionsDirDefault)
	set(&cfg.ConfigDir, ConfigDirDefault)
	set(&cfg.Namespace, NamespaceDefault)
	if cfg.Role == "" {
		cfg.Role = RoleAll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// load reads the functions and the manifests.
func load(cfg Config) ([]*funcyaml.Function, *eventing.Manifests, error) {
	var fns []*funcyaml.Function
	if _, err := os.Stat(cfg.FunctionsDir); err == nil {
		if fns, err = funcyaml.Discover(cfg.FunctionsDir); err != nil {
			return nil, nil, err
		}
	}
	m, err := eventing.LoadManifests(cfg.ConfigDir)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	for _, f := range fns {
		m.Triggers = append(m.Triggers, eventing.FunctionTriggers(f, cfg.Namespace)...)
	}
	return fns, m, nil
}

func openDB(dir string) (*bolt.DB, error) {
	path := filepath.Join(dir, "ferry.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: in use by another ferry process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.MaxBatchDelay = batchDelay
	return db, nil
}

func (s *Stack) start(ctx context.Context, cfg Config, m *eventing.Manifests,
	ln net.Listener) error {
	store, err := s.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	if !cfg.Role.dispatches() {
		// An ingress runs no function: its Broker only publishes.
		s.Functions = nil
	}
	s.runner, err = runner.New(runner.Params{
		Functions:     s.Functions,
		BuildDir:      filepath.Join(cfg.DataDir, "builds"),
		LogDir:        filepath.Join(cfg.DataDir, "logs"),
		SecretsDir:    filepath.Join(cfg.DataDir, "secrets"),
		ConfigMapsDir: filepath.Join(cfg.DataDir, "configmaps"),
		IdleTimeout:   cfg.IdleTimeout,
		Watch:         true,
		Logger:        s.log,
	})
	if err != nil {
		return err
	}
	if err := s.runner.Build(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// One function that does not build does not keep the others
		// down: it starts from the last build that compiled, if an
		// earlier run left one, else its deliveries fail (and are
		// retried) until its sources build; ferry status shows why.
		s.log.Error("functions that do not build", "err", err)
	}
	// Min-scale instances start now; one that fails is retried by the
	// runner, and its events wait in the Broker.
	if err := s.runner.Start(ctx); err != nil {
		s.log.Warn("functions below their min scale", "err", err)
	}

	s.rest.atZero, s.rest.log = s.runner.AtZero, s.log
	res := &resolver{namespace: cfg.Namespace, runner: s.runner,
		functions: map[string]bool{}, touch: s.rest.touch}
	for _, f := range s.Functions {
		res.functions[f.Name] = true
	}
	if cfg.Role.dispatches() {
		for _, line := range res.unresolved(m.Triggers) {
			s.log.Warn("deliveries will fail: " + line)
		}
	}
	if err := s.startBrokers(ctx, cfg, m, res, store); err != nil {
		return err
	}

	var publisher eventing.Publisher
	brokers := map[string]eventing.Publisher{}
	for _, b := range s.Brokers {
		if b.Name() == BrokerDefault || publisher == nil {
			publisher = b
		}
		brokers[cfg.Namespace+"/"+b.Name()] = b
	}
	api := ingress.New(ingress.Params{
		Publisher: publisher,
		Brokers:   brokers,
		Tasks:     store,
		Ready:     s.checkReady,
		Logger:    s.log,
		Functions: func() any { return s.runner.Status() },
		Invoke:    s.invoke,
	})
	s.serve(ln, s.rest.handler(api.Handler()))
	s.server.RegisterOnShutdown(api.EndWaits)
	if cfg.ReleaseIdleMemory {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.rest.run(s.runCtx, restCheckInterval)
		}()
	}
	return nil
}

// invoke gives the transport that calls the function name directly
// (ingress.InvokePath).
func (s *Stack) invoke(name string) (http.RoundTripper, error) {
	rt, err := s.runner.RoundTripper(name)
	if errors.Is(err, runner.ErrUnknownFunction) {
		return nil, fmt.Errorf("%w: %q", ingress.ErrNoSuchFunction, name)
	}
	return rt, err
}

// startBrokers starts one Broker per manifest (a "default" one when there
// is none) with the Triggers that name it.
func (s *Stack) startBrokers(ctx context.Context, cfg Config, m *eventing.Manifests,
	res eventing.Resolver, obs eventing.Observer) error {
	specs := m.Brokers
	if len(specs) == 0 {
		b := &eventingv1.Broker{}
		b.Name = BrokerDefault
		specs = append(specs, b)
	}

	known := map[string]bool{}
	for _, spec := range specs {
		known[spec.Name] = true
	}
	for _, t := range m.Triggers {
		if !known[t.Spec.Broker] {
			return fmt.Errorf("Trigger %s names Broker %q, which is not declared "+
				"under %s", t.Name, t.Spec.Broker, cfg.ConfigDir)
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.runCtx, s.cancel = runCtx, cancel
	for _, spec := range specs {
		var triggers []*eventingv1.Trigger
		for _, t := range m.Triggers {
			if t.Spec.Broker == spec.Name {
				triggers = append(triggers, t)
			}
		}
		q, parallelism, err := s.openQueue(ctx, cfg, spec.Name, triggers)
		if err != nil {
			return err
		}
		// The embedded queue and the disk store share the data file: an
		// accepted event and its task are committed together, and so are a
		// delivery's end and its outcome.
		if eq, ok := q.(*embedded.Queue); ok {
			if r, ok := obs.(embedded.TaskRecorder); ok {
				if err := eq.RecordTasksWith(r); err != nil {
					return err
				}
			}
		}
		b, err := eventing.NewBroker(eventing.Params{
			Name:        spec.Name,
			Namespace:   cfg.Namespace,
			Delivery:    spec.Spec.Delivery,
			Triggers:    triggers,
			Queue:       q,
			Resolver:    res,
			Observer:    obs,
			Parallelism: max(parallelism, eventing.ParallelismDefault),
			Logger:      s.log,
		})
		if err != nil {
			return err
		}
		s.Brokers = append(s.Brokers, b)
		if !cfg.Role.dispatches() {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = b.Run(runCtx)
		}()
	}
	if cfg.Role != RoleAll {
		// With several processes, each would fire every schedule; on a
		// cluster Knative's PingSource adapter does it.
		return nil
	}
	return s.startPings(runCtx, cfg, m)
}

// checkReady reports the first backend that cannot take work.
func (s *Stack) checkReady(ctx context.Context) error {
	for _, ready := range s.ready {
		if err := ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// startPings fires each PingSource into the Broker its sink names. Under
// ferry dev a PingSource's sink must be a Broker of the config folder.
func (s *Stack) startPings(ctx context.Context, cfg Config, m *eventing.Manifests) error {
	for _, spec := range m.PingSources {
		ref := spec.Spec.Sink.Ref
		var target *eventing.Broker
		for _, b := range s.Brokers {
			if ref != nil && ref.Kind == "Broker" && ref.Name == b.Name() {
				target = b
			}
		}
		if target == nil {
			return fmt.Errorf("PingSource %s: under ferry dev its sink must be "+
				"a Broker declared under %s", spec.Name, cfg.ConfigDir)
		}
		p, err := eventing.NewPing(spec, cfg.Namespace)
		if err != nil {
			return err
		}
		s.Pings = append(s.Pings, p)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			p.Run(ctx, target, s.log)
		}()
	}
	return nil
}

func (s *Stack) serve(ln net.Listener, h http.Handler) {
	s.server = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.server.Serve(ln); err != nil && err != http.ErrServerClosed {
			s.log.Error("ingress stopped", "err", err)
		}
	}()
}

// URL is the ingress's base URL, such as http://127.0.0.1:8080.
func (s *Stack) URL() string { return s.url }

// Close stops taking requests, lets those in flight finish (until ctx is
// done), stops the dispatchers and the functions, and closes the data
// directory. Deliveries cut short are made again at the next start.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	if s.server != nil {
		errs = append(errs, s.server.Shutdown(ctx))
	}
	if s.cancel != nil {
		s.cancel()
	}
	// Deliveries in flight may finish until ctx ends; then they are cut
	// short (and made again after the next start).
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		for _, b := range s.Brokers {
			b.Abort()
		}
		<-drained
	}
	if s.runner != nil {
		errs = append(errs, s.runner.Close(ctx))
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

func (s *Stack) closeQuietly() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}
