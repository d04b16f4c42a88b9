package bench

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"
)

// serviceTimeout bounds the check that RabbitMQ and Redis answer.
const serviceTimeout = 5 * time.Second

// checkServices makes sure RabbitMQ and Redis answer before anything is
// measured: the stacks wait for an unreachable RabbitMQ instead of
// failing, which would hold a run up point after point.
func checkServices(ctx context.Context, o Options) error {
	conn, err := amqp.DialConfig(o.AMQPURL, amqp.Config{
		Dial: amqp.DefaultDial(serviceTimeout)})
	if err != nil {
		return fmt.Errorf("reach RabbitMQ (FERRY_AMQP_URL): %w", err)
	}
	conn.Close()

	opts, err := redis.ParseURL(o.RedisURL)
	if err != nil {
		return fmt.Errorf("FERRY_REDIS_URL: %w", err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("reach Redis (FERRY_REDIS_URL): %w", err)
	}
	return nil
}
