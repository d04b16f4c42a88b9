package rabbitmq_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
)

// A dispatcher process: Open for publishing replies and dead letters,
// StartConsuming for the Triggers' queues, a Broker over the Queue. An
// ingress process does the same without StartConsuming and Run, and serves
// Ready on /readyz.
func Example_dispatcher() {
	var triggers []*eventingv1.Trigger // from the manifests
	var resolver eventing.Resolver     // finds the subscribers

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	// Wait up to a minute for RabbitMQ, then give up.
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	q, err := rabbitmq.Open(openCtx, rabbitmq.Params{
		URL:      "amqp://guest:guest@127.0.0.1:5672/",
		Broker:   "default",
		Triggers: triggers,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close() // after Run returned: nothing is still being completed
	if err := q.StartConsuming(openCtx); err != nil {
		log.Fatal(err)
	}

	b, err := eventing.NewBroker(eventing.Params{
		Name: "default", Namespace: "default", Triggers: triggers,
		Queue: q, Resolver: resolver,
		// Enough for every Trigger to reach its own parallelism.
		Parallelism: q.Parallelism(),
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = b.Run(ctx) // until SIGTERM, then waits for deliveries in flight
}
