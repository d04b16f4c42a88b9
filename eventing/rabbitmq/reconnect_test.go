package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// eventually retries f every 50 ms until it returns nil or 15 s passed.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 15 s", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPutFailsAtOnceWhileRabbitMQIsDownAndRecovers(t *testing.T) {
	px := startProxy(t)
	q := openQueue(t, Params{URL: px.url(), Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	put(t, q, newEvent("before", "dev.ferry.test"))

	px.Down()
	eventually(t, "Ready while down", func() error {
		if err := q.Ready(context.Background()); err == nil {
			return errors.New("ready")
		}
		return nil
	})
	for i := range 3 {
		start := time.Now()
		_, err := q.Put(context.Background(),
			newEvent(fmt.Sprint("down", i), "dev.ferry.test"), []string{"all"})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("put while down: %v, want ErrUnavailable", err)
		}
		// Never a hang: a down link refuses without waiting for a
		// confirm (whose timeout is 5 s).
		if d := time.Since(start); d > time.Second {
			t.Errorf("put while down took %s", d)
		}
	}

	px.Up()
	eventually(t, "put after RabbitMQ came back", func() error {
		_, err := q.Put(context.Background(), newEvent("after",
			"dev.ferry.test"), []string{"all"})
		return err
	})
	if err := q.Ready(context.Background()); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
	if n := ready(t, queueOf(t, q, "all")); n != 2 {
		t.Errorf("queue holds %d messages, want 2 (before and after)", n)
	}
}

func TestPutTimesOutWhenRabbitMQFallsSilent(t *testing.T) {
	px := startProxy(t)
	q := openQueue(t, Params{URL: px.url(), PublishTimeout: 300 *
		time.Millisecond, Triggers: []*eventingv1.Trigger{trig("all", nil, 0)}})
	put(t, q, newEvent("before", "dev.ferry.test"))

	px.Freeze(true)
	_, err := q.Put(context.Background(), newEvent("silent", "dev.ferry.test"),
		[]string{"all"})
	if !errors.Is(err, ErrConfirmTimeout) {
		t.Errorf("put while RabbitMQ is silent: %v, want ErrConfirmTimeout",
			err)
	}

	ctx, cancel := context.WithTimeout(context.Background(),
		50*time.Millisecond)
	defer cancel()
	_, err = q.Put(ctx, newEvent("cancelled", "dev.ferry.test"),
		[]string{"all"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("put with a short context: %v, want its deadline", err)
	}
	px.Freeze(false)
}

func TestConsumersRecoverAfterConnectionIsClosed(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	put(t, q, newEvent("held", "dev.ferry.test"))
	d := claimN(t, q, 1)[0]

	// Close only this Queue's connections, as a broker restart would.
	lost := q.lostCount()
	if n := closeConnections(t, q.p.ConnectionName+" "); n != 2 {
		t.Fatalf("closed %d connections of %q, want 2", n,
			q.p.ConnectionName)
	}
	eventually(t, "consumer connection lost", func() error {
		if q.lostCount() == lost {
			return errors.New("not noticed")
		}
		return nil
	})
	if err := q.Done(context.Background(), d, nil, nil); !errors.Is(err,
		ErrDeliveryGone) {
		t.Fatalf("done on a lost channel: %v, want ErrDeliveryGone", err)
	}

	// RabbitMQ delivers the unacked message again to the new consumer.
	again := claimN(t, q, 1)[0]
	if again.Event.ID() != "held" {
		t.Fatalf("redelivered %s, want held", again.Event.ID())
	}
	if err := q.Done(context.Background(), again, nil, nil); err != nil {
		t.Fatalf("done after recovery: %v", err)
	}
	put(t, q, newEvent("new", "dev.ferry.test"))
	if d := claimN(t, q, 1)[0]; d.Event.ID() != "new" {
		t.Errorf("claimed %s, want new", d.Event.ID())
	}
	if err := q.Ready(context.Background()); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
}

func TestDeletedTriggerQueueIsDeclaredAgain(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("all", nil, 0)}})
	consume(t, q)
	queue := queueOf(t, q, "all")
	if _, err := admin(t).QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}

	// RabbitMQ cancels the consumer; the Queue reconnects and declares
	// the queue and its binding again.
	eventually(t, "the trigger queue declared again", func() error {
		_, err := admin(t).QueueDeclarePassive(queue, true, false, false,
			false, nil)
		return err
	})
	eventually(t, "put after the queue came back", func() error {
		_, err := q.Put(context.Background(), newEvent("back", "dev.ferry.test"),
			[]string{"all"})
		return err
	})
	d := claimN(t, q, 1)[0]
	if d.Event.ID() != "back" {
		t.Errorf("claimed %s, want back", d.Event.ID())
	}
}
