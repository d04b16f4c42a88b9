package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// Binding arguments, as eventing-rabbitmq writes them.
const (
	argMatch = "x-match"
	// argTrigger names the Trigger of a binding. RabbitMQ leaves arguments
	// that start with "x-" out of a headers match.
	argTrigger = "x-knative-trigger"
)

// topology is the layout of one Broker in RabbitMQ: its exchange, a queue
// and binding per Trigger, and the dead queue.
type topology struct {
	exchange  string
	dead      string
	queueType string
	bindings  []binding
}

// binding is a Trigger's queue and the arguments that bind it.
type binding struct {
	trigger string
	queue   string
	args    amqp.Table
	// inOrder (parallelism 1) makes the queue single-active-consumer:
	// with several dispatchers only one consumes it at a time, so the
	// order holds across processes.
	inOrder bool
}

// newTopology names the exchange and queues of p's Broker.
func newTopology(p Params) (topology, error) {
	base := "b." + p.Namespace + "." + p.Broker
	t := topology{exchange: base, dead: base + ".dead", queueType: p.QueueType}
	if p.Exchange != "" {
		t.exchange = p.Exchange
	}
	seen := map[string]bool{}
	for _, tr := range p.Triggers {
		if seen[tr.Name] {
			return t, fmt.Errorf("broker %s: two Triggers named %q", p.Broker,
				tr.Name)
		}
		seen[tr.Name] = true
		ns := tr.Namespace
		if ns == "" {
			ns = p.Namespace
		}
		n, err := parallelism(tr, p.Parallelism)
		if err != nil {
			return t, err
		}
		t.bindings = append(t.bindings, binding{
			trigger: tr.Name,
			queue:   ns + "." + tr.Name + "." + p.Broker,
			args:    bindingArgs(tr),
			inOrder: n == 1,
		})
	}
	return t, nil
}

// bindingArgs are the headers a message needs to reach tr's queue: all of
// its filter.attributes, unless it uses spec.filters, which bindings cannot
// express (the Broker filters those in the dispatcher).
func bindingArgs(tr *eventingv1.Trigger) amqp.Table {
	args := amqp.Table{argMatch: "all", argTrigger: tr.Name}
	if len(tr.Spec.Filters) > 0 || tr.Spec.Filter == nil {
		return args
	}
	for k, v := range tr.Spec.Filter.Attributes {
		if v != "" { // "" means any value in Knative
			args[k] = v
		}
	}
	return args
}

// queueArgs are the arguments of every queue the topology declares.
func (t topology) queueArgs(deadLetters bool) amqp.Table {
	args := amqp.Table{"x-queue-type": t.queueType}
	if deadLetters {
		args["x-dead-letter-exchange"] = ""
		args["x-dead-letter-routing-key"] = t.dead
	}
	return args
}

// declare makes sure the exchange, the queues and the bindings exist. It
// is idempotent; a queue that exists with other arguments (another queue
// type) makes it fail with RabbitMQ's PRECONDITION_FAILED.
func (t topology) declare(ch *amqp.Channel) error {
	err := ch.ExchangeDeclare(t.exchange, amqp.ExchangeHeaders, true, false,
		false, false, nil)
	if err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.exchange, err)
	}
	if _, err := ch.QueueDeclare(t.dead, true, false, false, false,
		t.queueArgs(false)); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.dead, err)
	}
	for _, b := range t.bindings {
		args := t.queueArgs(true)
		if b.inOrder {
			args["x-single-active-consumer"] = true
		}
		if _, err := ch.QueueDeclare(b.queue, true, false, false, false,
			args); err != nil {
			return fmt.Errorf("declare queue %s: %w", b.queue, err)
		}
		if err := ch.QueueBind(b.queue, "", t.exchange, false,
			b.args); err != nil {
			return fmt.Errorf("bind queue %s: %w", b.queue, err)
		}
	}
	return nil
}
