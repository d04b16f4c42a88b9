package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/rabbitmq"
	"github.com/ferryfn/ferry/tasks"
)

// BodySize is the size of every measured event's data: a JSON object.
const BodySize = 1024

// body is the data of every measured event.
var body = jsonBody(BodySize)

// jsonBody is a JSON object of exactly n bytes (n ≥ 64), shaped like a
// small order.
func jsonBody(n int) []byte {
	head := `{"order":4242,"items":["tea","scones","jam"],"total":12.5,"note":"`
	tail := `"}`
	pad := max(n-len(head)-len(tail), 0)
	return []byte(head + strings.Repeat("x", pad) + tail)
}

// contentType is the datacontenttype of the measured events.
const contentType = "application/json"

// newRequest is the binary-mode CloudEvent post of the seq-th event of s
// to the ingress at base.
func newRequest(ctx context.Context, base string, s scratch, seq int64) (
	*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	h := req.Header
	h["Ce-Specversion"] = []string{event.CloudEventsVersionV1}
	h["Ce-Id"] = []string{s.eventID(seq)}
	h["Ce-Source"] = []string{s.source}
	h["Ce-Type"] = []string{eventType}
	h["Content-Type"] = []string{contentType}
	return req, nil
}

// newEvent is the seq-th event of s as the ingress decodes newRequest's
// post of it.
func newEvent(s scratch, seq int64) *event.Event {
	e := event.New()
	e.SetID(s.eventID(seq))
	e.SetSource(s.source)
	e.SetType(eventType)
	_ = e.SetData(contentType, body)
	return &e
}

// publisherBroker is a Broker on s's topology that only publishes: the
// way to write events exactly as Ferry's ingress does (stamped with
// correlationid and knativebrokerttl, encoded by the RabbitMQ backend),
// without HTTP. With a task store (withTasks) it also records each task
// and claims each event in Redis, as the ingress does, so that a
// dispatcher finds the tasks there as it would behind a real ingress.
// Close closes its queue and store.
type publisherBroker struct {
	*eventing.Broker
	queue *rabbitmq.Queue
	store *tasks.RedisStore // nil without a task store
}

func openPublisherBroker(ctx context.Context, o Options, s scratch,
	c config, withTasks bool) (*publisherBroker, error) {
	m, err := c.manifests()
	if err != nil {
		return nil, err
	}
	pb := &publisherBroker{}
	var observer eventing.Observer
	var dedupe rabbitmq.Deduper
	if withTasks {
		pb.store, err = tasks.OpenRedis(ctx, o.RedisURL, tasks.RedisOptions{
			Prefix: tasks.NamespacePrefix(s.ns), Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("open task store of %s: %w", s.ns, err)
		}
		observer, dedupe = pb.store, pb.store.Published()
	}
	pb.queue, err = rabbitmq.Open(ctx, rabbitmq.Params{
		URL: o.AMQPURL, Broker: brokerName, Namespace: s.ns,
		Triggers: m.Triggers, ConnectionName: "ferry bench",
		Dedupe: dedupe, Logger: o.Logger,
	})
	if err != nil {
		pb.closeStore()
		return nil, fmt.Errorf("open %s: %w", s.ns, err)
	}
	pb.Broker, err = eventing.NewBroker(eventing.Params{
		Name: brokerName, Namespace: s.ns, Triggers: m.Triggers,
		Queue: pb.queue, Resolver: noResolver{}, Observer: observer,
		Logger: o.Logger,
	})
	if err != nil {
		_ = pb.Close()
		return nil, err
	}
	return pb, nil
}

func (b *publisherBroker) Close() error {
	err := b.queue.Close()
	b.closeStore()
	return err
}

func (b *publisherBroker) closeStore() {
	if b.store != nil {
		_ = b.store.Close()
	}
}

// noResolver resolves nothing: a publisherBroker never delivers.
type noResolver struct{}

func (noResolver) Resolve(duckv1.Destination) (eventing.Subscriber, error) {
	return eventing.Subscriber{}, fmt.Errorf("bench publisher delivers nothing")
}

// messageTemplate publishes event 0 of s through Ferry and takes it back
// from the Trigger queue: the message, headers and body, that the raw
// ceiling publishes. It declares s's topology on the way.
func messageTemplate(ctx context.Context, o Options, s scratch,
	c config) (amqp.Publishing, error) {
	b, err := openPublisherBroker(ctx, o, s, c, false)
	if err != nil {
		return amqp.Publishing{}, err
	}
	_, err = b.Publish(ctx, newEvent(s, 0))
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("sample message: %w", err)
	}
	d, err := takeOne(o.AMQPURL, s.queue())
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("sample message: %w", err)
	}
	h := amqp.Table{}
	for k, v := range d.Headers {
		if k != hdrPublishTag {
			h[k] = v
		}
	}
	return amqp.Publishing{
		Headers: h, ContentType: d.ContentType, MessageId: d.MessageId,
		DeliveryMode: d.DeliveryMode, Body: d.Body,
	}, nil
}

// hdrPublishTag is the header Ferry's publisher adds to pair a returned
// message with its publish; the raw publisher sets its own.
const hdrPublishTag = "x-ferry-publish"

// takeOne gets and acks one message of queue.
func takeOne(amqpURL, queue string) (amqp.Delivery, error) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return amqp.Delivery{}, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return amqp.Delivery{}, err
	}
	d, ok, err := ch.Get(queue, false)
	switch {
	case err != nil:
		return d, fmt.Errorf("get from %s: %w", queue, err)
	case !ok:
		return d, fmt.Errorf("get from %s: queue is empty", queue)
	}
	return d, d.Ack(false)
}

// messageSize is the bytes of a message's body and headers as strings
// (an approximation of their AMQP encoding).
func messageSize(p amqp.Publishing) int {
	n := len(p.Body)
	for k, v := range p.Headers {
		n += len(k) + len(fmt.Sprint(v))
	}
	return n
}
