package rabbitmq

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// Defaults of Params.
const (
	// QueueTypeQuorum is the default queue type, as eventing-rabbitmq's
	// RabbitmqBrokerConfig queueType.
	QueueTypeQuorum = "quorum"
	// QueueTypeClassic selects classic queues.
	QueueTypeClassic = "classic"
	// PrefetchDefault is how many unacked messages each Trigger's consumer
	// holds when Params.Prefetch is 0, as eventing-rabbitmq's dispatcher.
	PrefetchDefault = 100
	// PrefetchMax is the most RabbitMQ's basic.qos takes.
	PrefetchMax = 65535
	// ParallelismDefault is a Trigger's parallelism when neither
	// Params.Parallelism nor its annotation sets one: one delivery at a
	// time, in order.
	ParallelismDefault = 1
	// ParallelismMax bounds the parallelism annotation, as
	// eventing-rabbitmq's validation does.
	ParallelismMax = 1000
	// PublishTimeoutDefault bounds the wait for a publisher confirm.
	PublishTimeoutDefault = 5 * time.Second
	// NamespaceDefault is the namespace when Params.Namespace is empty.
	NamespaceDefault = "default"
	// ConnectionNameDefault starts the client-provided connection name.
	ConnectionNameDefault = "ferry"
)

// ParallelismAnnotation is the Trigger annotation of eventing-rabbitmq that
// sets how many deliveries of the Trigger are made at once (1 to 1000).
const ParallelismAnnotation = "rabbitmq.eventing.knative.dev/parallelism"

// Params configure a Queue.
type Params struct {
	// URL is the AMQP URL, amqp://user:password@host:5672/vhost.
	URL string
	// Broker and Namespace name the Broker; they make the names of its
	// exchange and queues (see the package doc). Namespace defaults to
	// NamespaceDefault.
	Broker    string
	Namespace string
	// Triggers are the Broker's Triggers: one queue and binding each.
	Triggers []*eventingv1.Trigger
	// QueueType is QueueTypeQuorum (the default) or QueueTypeClassic. A
	// queue that exists with another type makes Open fail.
	QueueType string
	// Prefetch is how many unacked messages each Trigger's consumer holds;
	// 0 means PrefetchDefault. It is raised to the Trigger's parallelism
	// when lower, so that the parallelism can be reached.
	Prefetch int
	// Parallelism is how many deliveries of one Trigger are made at once
	// when its annotation does not say; 0 means ParallelismDefault.
	Parallelism int
	// Exchange, when set, is an existing headers exchange to publish to
	// instead of Ferry's own topology: that of a Broker another broker
	// implementation owns (Knative's RabbitMQ broker names it after the
	// Broker's UID). The Queue then declares nothing (Open fails with
	// ErrNoExchange if the exchange is missing), publishes every event
	// there without the mandatory flag (an event no binding wants is
	// dropped by RabbitMQ, as a Knative Broker drops it), and cannot
	// consume.
	Exchange string
	// Dedupe, when set, recognises events published before (same source
	// and id), which RabbitMQ cannot.
	Dedupe Deduper
	// PublishTimeout bounds the wait for each publisher confirm; 0 means
	// PublishTimeoutDefault.
	PublishTimeout time.Duration
	// ConnectionName starts the connection_name client property of the
	// Queue's connections (" publish" or " consume" is added), so that an
	// operator can tell them apart; empty means ConnectionNameDefault.
	ConnectionName string
	// Logger gets the Queue's log lines; nil means slog.Default().
	Logger *slog.Logger

	// dial, when set, opens the sockets of the publishing connection
	// instead of dialBatched: tests watch and break them with it.
	dial func(network, addr string) (net.Conn, error)
}

// withDefaults returns p with its zero values replaced by the defaults, or
// an error naming the first value that is out of range.
func (p Params) withDefaults() (Params, error) {
	if p.URL == "" || p.Broker == "" {
		return p, fmt.Errorf("rabbitmq params: URL and Broker are required")
	}
	if p.Namespace == "" {
		p.Namespace = NamespaceDefault
	}
	switch p.QueueType {
	case "":
		p.QueueType = QueueTypeQuorum
	case QueueTypeQuorum, QueueTypeClassic:
	default:
		return p, fmt.Errorf("rabbitmq params: queue type %q is neither "+
			"%q nor %q", p.QueueType, QueueTypeQuorum, QueueTypeClassic)
	}
	if p.Prefetch < 0 || p.Prefetch > PrefetchMax {
		return p, fmt.Errorf("rabbitmq params: prefetch %d is not within "+
			"0 and %d", p.Prefetch, PrefetchMax)
	}
	if p.Prefetch == 0 {
		p.Prefetch = PrefetchDefault
	}
	if p.Parallelism < 0 || p.Parallelism > ParallelismMax {
		return p, fmt.Errorf("rabbitmq params: parallelism %d is not within "+
			"0 and %d", p.Parallelism, ParallelismMax)
	}
	if p.Parallelism == 0 {
		p.Parallelism = ParallelismDefault
	}
	if p.PublishTimeout <= 0 {
		p.PublishTimeout = PublishTimeoutDefault
	}
	if p.ConnectionName == "" {
		p.ConnectionName = ConnectionNameDefault
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.dial == nil {
		p.dial = dialBatched(DialTimeout)
	}
	return p, nil
}

// parallelism returns t's parallelism: its annotation's, else fallback.
func parallelism(t *eventingv1.Trigger, fallback int) (int, error) {
	v, ok := t.Annotations[ParallelismAnnotation]
	if !ok {
		return fallback, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > ParallelismMax {
		return 0, fmt.Errorf("trigger %s: annotation %s: %q is not a whole "+
			"number from 1 to %d", t.Name, ParallelismAnnotation, v,
			ParallelismMax)
	}
	return n, nil
}
