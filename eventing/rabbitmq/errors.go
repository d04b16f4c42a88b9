package rabbitmq

import (
	"errors"
	"fmt"

	"github.com/ferryfn/ferry/eventing"
)

// Conditions that callers and tests act on. Every error of Put means the
// event was not accepted: the Broker answers them with
// eventing.ErrBrokerUnavailable, and the producer tries again.
var (
	// ErrUnavailable: the Queue has no connection to RabbitMQ right now; it
	// is redialing in the background.
	ErrUnavailable = errors.New("rabbitmq unavailable")
	// ErrBlocked: RabbitMQ blocked the connection because of a resource
	// alarm (memory or disk); publishing resumes when it lifts.
	ErrBlocked = errors.New("rabbitmq blocked the connection")
	// ErrNacked: RabbitMQ refused the message (a queue full with
	// reject-publish, an internal error).
	ErrNacked = errors.New("rabbitmq refused the message")
	// ErrConfirmTimeout: no publisher confirm came within the publish
	// timeout. The message may or may not be stored.
	ErrConfirmTimeout = errors.New("no publisher confirm in time")
	// ErrUnroutable: a buried message found no dead queue to go to.
	ErrUnroutable = errors.New("message unroutable")
	// ErrDeliveryGone: the delivery is no longer held by this Queue: the
	// channel it came on closed, and RabbitMQ delivers it again.
	ErrDeliveryGone = fmt.Errorf("delivery no longer held: %w",
		eventing.ErrDeliveryReturned)
	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("queue closed")
	// ErrNoExchange: Params.Exchange names no exchange on the server.
	ErrNoExchange = errors.New("exchange not found")
	// ErrNotOwner: a Queue on another broker's exchange cannot consume.
	ErrNotOwner = errors.New("the exchange belongs to another broker")
)
