package ferry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
)

// directSend is the publisher straight to the RabbitMQ broker's exchange,
// when c names one (FERRY_RABBITMQ_URL and FERRY_RABBITMQ_EXCHANGE), and
// nil otherwise (the ingress then posts to K_SINK). The trade-off is in
// docs/deploy.md: one hop less and one less service in the path, against
// bypassing the broker's ingress (its authentication, its event checks) and
// depending on eventing-rabbitmq's internal exchange name.
func directSend(ctx context.Context, c Config, log *slog.Logger) (
	send func(context.Context, *event.Event) error, closeSend func(), err error) {
	if c.RabbitMQURL == "" {
		return nil, func() {}, nil
	}
	q, err := rabbitmq.Open(ctx, rabbitmq.Params{
		URL:            c.RabbitMQURL,
		Broker:         c.Broker,
		Exchange:       c.Exchange,
		ConnectionName: "ferry ingress",
		Logger:         log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("publish straight to RabbitMQ: %w", err)
	}
	send = func(ctx context.Context, e *event.Event) error {
		if _, err := q.Put(ctx, e, nil); err != nil {
			return fmt.Errorf("%w: %v", eventing.ErrBrokerUnavailable, err)
		}
		return nil
	}
	return send, func() { _ = q.Close() }, nil
}
