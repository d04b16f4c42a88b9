package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
)

// retention is how long the stacks' Redis keep the bench's tasks, should
// the clean-up not run.
const retention = 10 * time.Minute

// closeTimeout bounds a stack's graceful close.
const closeTimeout = 15 * time.Second

// config is the one Broker and one Trigger of a measurement: the Trigger
// takes the events of type eventType to subscriber, with parallelism when
// it is not 0 (the RabbitMQ parallelism annotation).
type config struct {
	dir         string
	subscriber  string
	parallelism int
}

// writeConfig writes c's manifests into a new folder under dir.
func writeConfig(dir, subscriber string, parallelism int) (config, error) {
	c := config{dir: filepath.Join(dir, "config"), subscriber: subscriber,
		parallelism: parallelism}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	annotations := ""
	if parallelism > 0 {
		annotations = fmt.Sprintf("\n  annotations: {%s: %q}",
			rabbitmq.ParallelismAnnotation, strconv.Itoa(parallelism))
	}
	doc := fmt.Sprintf(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: %s}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: %s%s
spec:
  broker: %s
  filter: {attributes: {type: %s}}
  subscriber: {uri: %q}
`, brokerName, triggerName, annotations, brokerName, eventType, subscriber)
	err := os.WriteFile(filepath.Join(c.dir, "bench.yaml"), []byte(doc), 0o644)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// manifests reads c back as the stacks read it.
func (c config) manifests() (*eventing.Manifests, error) {
	m, err := eventing.LoadManifests(c.dir)
	if err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	return m, nil
}

// backend says where a stack keeps events and tasks.
type backend int

const (
	// onRabbit: RabbitMQ and Redis, as `ferry ingress` and `ferry dispatch`.
	onRabbit backend = iota
	// embedded: bbolt in the data directory, as `ferry dev` by default.
	embedded
)

func (b backend) String() string {
	if b == embedded {
		return "embedded bbolt"
	}
	return "RabbitMQ + Redis"
}

// startStack starts a stack of role in s's namespace, on 127.0.0.1 with a
// free port, with c's Broker and Trigger, no functions, and its data
// directory under dir.
func startStack(ctx context.Context, o Options, s scratch, c config,
	dir string, role devstack.Role, be backend) (*devstack.Stack, error) {
	functions := filepath.Join(dir, "functions")
	if err := os.MkdirAll(functions, 0o755); err != nil {
		return nil, fmt.Errorf("functions dir: %w", err)
	}
	cfg := devstack.Config{
		Addr:         "127.0.0.1:0",
		DataDir:      filepath.Join(dir, "data"),
		FunctionsDir: functions,
		ConfigDir:    c.dir,
		Namespace:    s.ns,
		Role:         role,
		Logger:       o.Logger,
	}
	if be == onRabbit {
		cfg.BrokerURL, cfg.RedisURL = o.AMQPURL, o.RedisURL
		cfg.Retention = retention
	}
	st, err := devstack.Start(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s stack in %s: %w", role, s.ns, err)
	}
	return st, nil
}

// closeStack closes st gracefully.
func closeStack(st *devstack.Stack) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return st.Close(ctx)
}
