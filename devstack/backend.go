package devstack

import (
	"context"
	"fmt"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/embedded"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
	"github.com/ferryfn/ferry/tasks"
)

// Role says which parts of the flow a process runs.
type Role string

// The roles of a Ferry process.
const (
	// RoleAll runs everything in one process: `ferry dev`.
	RoleAll Role = "all"
	// RoleIngress takes events in and serves tasks: `ferry ingress`. It
	// publishes to RabbitMQ and reads tasks from Redis; it runs no
	// function.
	RoleIngress Role = "ingress"
	// RoleDispatch delivers events to the functions it runs and records
	// what happens in Redis: `ferry dispatch`.
	RoleDispatch Role = "dispatch"
)

func (r Role) dispatches() bool { return r == RoleAll || r == RoleDispatch }

// taskStore is what the stack needs of a task store.
type taskStore interface {
	eventing.Observer
	tasks.Reader
}

// openStore opens the Redis task store when cfg names one, else the disk
// store in the data directory's database.
func (s *Stack) openStore(ctx context.Context, cfg Config) (taskStore, error) {
	if cfg.RedisURL == "" {
		store, err := tasks.NewDiskStore(s.db)
		if err != nil {
			return nil, err
		}
		s.published = store.Published()
		return store, nil
	}
	// One namespace's tasks are not another's, as its Brokers are not.
	store, err := tasks.OpenRedis(ctx, cfg.RedisURL, tasks.RedisOptions{
		Prefix:    tasks.NamespacePrefix(cfg.Namespace),
		Retention: cfg.Retention,
		Logger:    s.log,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, store.Close)
	s.ready = append(s.ready, store.Ping)
	s.published = store.Published()
	return store, nil
}

// openQueue opens the named Broker's queue: on RabbitMQ when cfg names one
// (consuming only in a role that dispatches), else in the embedded database.
func (s *Stack) openQueue(ctx context.Context, cfg Config, broker string,
	triggers []*eventingv1.Trigger) (eventing.Queue, int, error) {
	if cfg.BrokerURL == "" {
		q, err := embedded.Open(s.db, broker)
		return q, 0, err
	}
	q, err := rabbitmq.Open(ctx, rabbitmq.Params{
		URL:            cfg.BrokerURL,
		Broker:         broker,
		Namespace:      cfg.Namespace,
		Triggers:       triggers,
		QueueType:      cfg.QueueType,
		Dedupe:         s.published,
		ConnectionName: "ferry " + string(cfg.Role),
		Logger:         s.log,
	})
	if err != nil {
		return nil, 0, fmt.Errorf("broker %s on RabbitMQ: %w", broker, err)
	}
	s.closers = append(s.closers, q.Close)
	s.ready = append(s.ready, q.Ready)
	if cfg.Role.dispatches() {
		if err := q.StartConsuming(ctx); err != nil {
			return nil, 0, fmt.Errorf("broker %s: consume: %w", broker, err)
		}
	}
	return q, q.Parallelism(), nil
}
