package ferry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferryfn/ferry"
	"github.com/ferryfn/ferry/internal/testservices"
)

// TestIngressPublishesStraightToTheRabbitMQBrokersExchange stands in for
// Knative's RabbitMQ broker with an exchange and a Trigger's queue declared
// as it declares them, and checks that the ingress, given that exchange,
// publishes accepted events there (with their attributes as headers) and
// still answers 202 for an event no binding wants.
func TestIngressPublishesStraightToTheRabbitMQBrokersExchange(t *testing.T) {
	amqpURL, _ := testservices.Services(t)
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("ferrydirect-%08x", rand.Uint32())
	exchange, queue := "b."+name+".default.uid", name+".csvstats"
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeHeaders, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.ExchangeDelete(exchange, false, false)
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	defer ch.QueueDelete(queue, false, false, false)
	err = ch.QueueBind(queue, "", exchange, false,
		amqp.Table{"x-match": "all", "type": "dev.ferry.csvstats"})
	if err != nil {
		t.Fatal(err)
	}

	f := ferry.New()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := map[string]string{
		ferry.KeyRabbitMQURL: amqpURL, ferry.KeyExchange: exchange,
		ferry.KeyDataDir: t.TempDir(), ferry.KeyLogLevel: "error",
	}
	if err := f.Start(ctx, cfg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer f.Stop(context.Background())

	if w := call(t, f, http.MethodPost, "/v1/events", photoEvent("direct-1"), "a,b\n1,2\n"); w.Code != http.StatusAccepted {
		t.Fatalf("post: %d %s", w.Code, w.Body)
	}
	other := photoEvent("direct-2")
	other["Ce-Type"] = "dev.ferry.nobody"
	if w := call(t, f, http.MethodPost, "/v1/events", other, "x"); w.Code != http.StatusAccepted {
		t.Errorf("event no binding wants: %d %s, want 202", w.Code, w.Body)
	}

	var got amqp.Delivery
	for deadline := time.Now().Add(10 * time.Second); ; {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got = d
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event never reached the Trigger's queue")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.Headers["id"] != "direct-1" || got.Headers["type"] != "dev.ferry.csvstats" ||
		string(got.Body) != "a,b\n1,2\n" || got.DeliveryMode != amqp.Persistent {
		t.Errorf("message headers %v body %q mode %d", got.Headers, got.Body, got.DeliveryMode)
	}
	if _, ok, _ := ch.Get(queue, true); ok {
		t.Error("the unwanted event reached the queue too")
	}
}

func TestDirectPublishingNeedsBothKeys(t *testing.T) {
	for _, cfg := range []map[string]string{
		{ferry.KeyRabbitMQURL: "amqp://127.0.0.1:1/"},
		{ferry.KeyExchange: "b.ns.default"},
	} {
		if _, err := ferry.ParseConfig(cfg); err == nil {
			t.Errorf("ParseConfig(%v) took half the direct configuration", cfg)
		}
	}
}
