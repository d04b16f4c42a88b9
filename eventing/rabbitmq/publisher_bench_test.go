package rabbitmq

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// payload is the ~1 KB body of the benchmarks' messages.
var payload = bytes.Repeat([]byte("ferry-bench-"), 1024/12+1)[:1024]

// parallel runs n calls of f over c goroutines and reports calls per
// second.
func parallel(b *testing.B, c int, f func(i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	b.ResetTimer()
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// benchEvent is a 1 KB binary event with the extensions the Broker adds.
func benchEvent(id string) *event.Event {
	e := event.New()
	e.SetID(id)
	e.SetSource("/ferry/bench")
	e.SetType("dev.ferry.bench")
	_ = e.SetData("application/octet-stream", payload)
	e.SetExtension("correlationid", "0b8f6c1e-3f0a-5a43-9c1e-8f6b2f0d7a11")
	e.SetExtension("knativebrokerttl", 255)
	return &e
}

// BenchmarkPut measures Put of 1 KB binary events with confirms into a
// quorum queue, at concurrency 1 and 64.
func BenchmarkPut(b *testing.B) {
	for _, c := range []int{1, 64} {
		b.Run(fmt.Sprint("concurrency=", c), func(b *testing.B) {
			q := openQueue(b, Params{Triggers: []*eventingv1.Trigger{
				trig("all", nil, 0)}})
			ctx := context.Background()
			parallel(b, c, func(i int64) error {
				e := benchEvent(fmt.Sprint("bench-", i))
				_, err := q.Put(ctx, e, []string{"all"})
				return err
			})
		})
	}
}

// BenchmarkRawPublish is the ceiling Put is measured against: amqp091-go
// alone publishing a 1 KB persistent message with confirms into the same
// kind of exchange and quorum queue, on as many channels as Put uses:
// bare (no headers) and with the headers of Put's message.
func BenchmarkRawPublish(b *testing.B) {
	e := benchEvent("bench-raw")
	for _, headers := range []bool{false, true} {
		for _, c := range []int{1, 64} {
			name := fmt.Sprintf("headers=%v/concurrency=%d", headers, c)
			b.Run(name, func(b *testing.B) {
				msg := amqp.Publishing{DeliveryMode: amqp.Persistent,
					Body: payload, ContentType: "application/octet-stream"}
				if headers {
					msg = publishing(e)
				}
				rawPublish(b, PublisherChannels, c, msg)
			})
		}
	}
}

func rawPublish(b *testing.B, chans, c int, msg amqp.Publishing) {
	q := openQueue(b, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	conn, err := amqp.Dial(amqpURL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var channels []*amqp.Channel
	for range chans {
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			b.Fatal(err)
		}
		channels = append(channels, ch)
	}
	parallel(b, c, func(i int64) error {
		ch := channels[i%int64(len(channels))]
		dc, err := ch.PublishWithDeferredConfirm(q.top.exchange, "", false,
			false, msg)
		if err != nil {
			return err
		}
		if !dc.Wait() {
			return ErrNacked
		}
		return nil
	})
}
