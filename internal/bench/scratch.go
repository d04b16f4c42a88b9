package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/tasks"
)

// Names every measurement uses inside its own namespace.
const (
	brokerName  = "default"
	triggerName = "bench"
	// eventType is the type of the measured events, which the bench
	// Trigger filters on; replies have another type, so they are not
	// routed back to it.
	eventType = "dev.ferry.bench"
	replyType = "dev.ferry.bench.result"
)

// scratch is one measurement's namespace on RabbitMQ and in Redis: the
// Broker's exchange, its Trigger queue and dead queue, and the keys of
// the tasks its events start.
type scratch struct {
	ns     string
	source string // the source of its events: unique to the namespace
}

// newScratch names a namespace for phase, unique to this run.
func newScratch(run, phase string) scratch {
	ns := "ferry-bench-" + run + "-" + phase
	return scratch{ns: ns, source: "/ferry/bench/" + ns}
}

// runID is a random name part that sets one run's namespaces apart.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The names Ferry gives a Broker's topology (see eventing/rabbitmq).
func (s scratch) exchange() string { return "b." + s.ns + "." + brokerName }
func (s scratch) queue() string {
	return s.ns + "." + triggerName + "." + brokerName
}
func (s scratch) deadQueue() string { return s.exchange() + ".dead" }

// eventID is the id of the seq-th event of the namespace.
func (s scratch) eventID(seq int64) string { return strconv.FormatInt(seq, 10) }

// taskID is the task the seq-th event starts, as the Broker derives it.
func (s scratch) taskID(seq int64) string {
	e := event.New()
	e.SetSource(s.source)
	e.SetID(s.eventID(seq))
	return eventing.TaskID(&e)
}

// dropTopology deletes the exchange and queues of the namespace.
func (s scratch) dropTopology(amqpURL string) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return fmt.Errorf("clean up %s: %w", s.ns, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("clean up %s: %w", s.ns, err)
	}
	var errs []error
	for _, q := range []string{s.queue(), s.deadQueue()} {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			errs = append(errs, fmt.Errorf("delete queue %s: %w", q, err))
		}
	}
	if err := ch.ExchangeDelete(s.exchange(), false, false); err != nil {
		errs = append(errs, fmt.Errorf("delete exchange %s: %w",
			s.exchange(), err))
	}
	return errors.Join(errs...)
}

// dropTasks deletes the Redis keys of the tasks of events 1 to n (see
// tasks.RedisStore): the task, its events, its result pointer and the
// record that its event was published.
func (s scratch) dropTasks(ctx context.Context, redisURL string,
	n int64) error {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("clean up %s: %w", s.ns, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()

	const batch = 500
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := c.Unlink(ctx, keys...).Err()
		keys = keys[:0]
		return err
	}
	p := tasks.NamespacePrefix(s.ns)
	for seq := int64(1); seq <= n; seq++ {
		task := p + "task:{" + s.taskID(seq) + "}"
		keys = append(keys, task, task+":events", task+":result",
			p+"event:"+s.source+"\x00"+s.eventID(seq))
		if len(keys) >= batch {
			if err := flush(); err != nil {
				return fmt.Errorf("clean up %s: %w", s.ns, err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("clean up %s: %w", s.ns, err)
	}
	return nil
}
