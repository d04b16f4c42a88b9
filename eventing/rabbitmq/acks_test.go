package rabbitmq

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
)

// fakeChannel records what is acked and nacked, as a channel would get it.
type fakeChannel struct {
	mu   sync.Mutex
	sent []string
}

func (c *fakeChannel) Ack(tag uint64, multiple bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if multiple {
		c.sent = append(c.sent, fmt.Sprintf("ack ..%d", tag))
	} else {
		c.sent = append(c.sent, fmt.Sprintf("ack %d", tag))
	}
	return nil
}

func (c *fakeChannel) Nack(tag uint64, multiple, requeue bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, fmt.Sprintf("nack %d", tag))
	return nil
}

func (c *fakeChannel) Reject(tag uint64, requeue bool) error {
	return c.Nack(tag, false, requeue)
}

// take returns what was sent since the last take.
func (c *fakeChannel) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	sent := c.sent
	c.sent = nil
	return sent
}

// newTestAcks has tags 1 to n received on a fake channel, in session 0.
func newTestAcks(n int) (*acks, *fakeChannel, []amqp.Delivery) {
	a := &acks{}
	ch := &fakeChannel{}
	var ds []amqp.Delivery
	for tag := uint64(1); tag <= uint64(n); tag++ {
		a.received(0, ch, tag)
		ds = append(ds, amqp.Delivery{Acknowledger: ch, DeliveryTag: tag})
	}
	return a, ch, ds
}

func wantSent(t *testing.T, ch *fakeChannel, step string, want ...string) {
	t.Helper()
	if got := ch.take(); !slices.Equal(got, want) {
		t.Fatalf("%s: sent %q, want %q", step, got, want)
	}
}

// wantSentLater waits up to 10 s for the first frames ch sends (a held
// ack's timer) and checks them against want.
func wantSentLater(t *testing.T, ch *fakeChannel, step string,
	want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		got = ch.take()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: sent %q, want %q", step, got, want)
	}
}

func TestAcksOfFinishedMessagesGoInOneFrame(t *testing.T) {
	a, ch, ds := newTestAcks(4)
	a.timer = time.NewTimer(time.Hour) // the held acks wait for the oldest
	for _, i := range []int{2, 1} {
		if err := a.ack(0, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	wantSent(t, ch, "tags 3 and 2 finished")
	if err := a.ack(0, ds[0]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 1 finished", "ack ..3")
	if err := a.ack(0, ds[3]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 4 finished, the oldest", "ack 4")
}

// With prefetch to spare, messages that finish in order (parallelism 1)
// are acked together: the oldest waits until more than holdMax are
// finished, or for the timer.
func TestAcksOfInOrderMessagesWaitForOthers(t *testing.T) {
	a, ch, ds := newTestAcks(4)
	a.holdMax = 2
	for _, i := range []int{0, 1} {
		if err := a.ack(0, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	wantSent(t, ch, "tags 1 and 2 finished")
	if err := a.ack(0, ds[2]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 3 finished, one more than holdMax", "ack ..3")

	if err := a.ack(0, ds[3]); err != nil {
		t.Fatal(err)
	}
	wantSentLater(t, ch, "tag 4 alone, from the timer", "ack 4")
}

// A message still out (being delivered, or waiting to retry) is never
// acked with the finished ones after it; those are acked on their own.
func TestHeldAcksNeverCoverAnUnfinishedMessage(t *testing.T) {
	a, ch, ds := newTestAcks(4)
	a.timer = time.NewTimer(time.Hour)
	for _, i := range []int{1, 2} {
		if err := a.ack(0, ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	a.flushHeld()
	wantSent(t, ch, "held acks flushed", "ack 2", "ack 3")
	a.timer = time.NewTimer(time.Hour)
	if err := a.ack(0, ds[3]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 4 finished, tag 1 still out")
	if err := a.ack(0, ds[0]); err != nil {
		t.Fatal(err)
	}
	// RabbitMQ acks the unacked tags up to 4: 1 and 4.
	wantSent(t, ch, "tag 1 finished", "ack ..4")
}

// A held ack goes out by itself soon, without waiting for the older
// message.
func TestHeldAckIsSentWithoutTheOldest(t *testing.T) {
	a, ch, ds := newTestAcks(2)
	if err := a.ack(0, ds[1]); err != nil {
		t.Fatal(err)
	}
	wantSentLater(t, ch, "tag 2 alone, from the timer", "ack 2")
}

// A nack of the oldest message (an unreadable one that could not be
// buried) is sent in order, and lets the finished ones after it go.
func TestSettlingTheOldestSendsTheFinishedAfterIt(t *testing.T) {
	a, ch, ds := newTestAcks(3)
	a.timer = time.NewTimer(time.Hour)
	if err := a.ack(0, ds[1]); err != nil {
		t.Fatal(err)
	}
	err := a.settle(0, ds[0], func() error {
		return ds[0].Nack(false, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 1 nacked", "nack 1", "ack 2")
	if err := a.ack(0, ds[2]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "tag 3 finished", "ack 3")
}

// After a lost connection, a message of the old one is acked as it came
// (and fails, in life); nothing of the old channel is held.
func TestAcksForgetALostConnection(t *testing.T) {
	a, ch, ds := newTestAcks(2)
	a.timer = time.NewTimer(time.Hour)
	if err := a.ack(0, ds[1]); err != nil {
		t.Fatal(err)
	}
	a.reset(1)
	if err := a.flush(); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "flushed after the loss")
	if err := a.ack(0, ds[0]); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "old message finished", "ack 1")

	fresh := &fakeChannel{}
	a.received(1, fresh, 1)
	if err := a.ack(1, amqp.Delivery{Acknowledger: fresh,
		DeliveryTag: 1}); err != nil {
		t.Fatal(err)
	}
	wantSent(t, fresh, "new connection's tag 1", "ack 1")
}

func TestFlushSendsHeldAcks(t *testing.T) {
	a, ch, ds := newTestAcks(3)
	a.timer = time.NewTimer(time.Hour)
	if err := a.ack(0, ds[2]); err != nil {
		t.Fatal(err)
	}
	if err := a.flush(); err != nil {
		t.Fatal(err)
	}
	wantSent(t, ch, "flush", "ack 3")
}

// On RabbitMQ: messages finished out of order are acked (the oldest's
// multiple ack taken by the channel), and one still out, waiting for its
// retry, is not: it returns to the queue at Close.
func TestAcksOnRabbitMQLeaveOnlyUnfinishedMessages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retried bool // the oldest waits for a retry instead of finishing
		want    int
	}{
		{name: "all finished", want: 0},
		{name: "oldest retrying", retried: true, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
				trig("wide", nil, 4)}})
			for i := range 4 {
				put(t, q, newEvent(fmt.Sprint("a", i), "dev.ferry.test"))
			}
			consume(t, q)
			ds := claimN(t, q, 4)
			slices.SortFunc(ds, func(a, b eventing.Delivery) int {
				return strings.Compare(a.Event.ID(), b.Event.ID())
			})
			ctx := context.Background()
			for _, i := range []int{2, 1, 3} {
				if err := q.Done(ctx, ds[i], nil, nil); err != nil {
					t.Fatalf("done %s: %v", ds[i].Event.ID(), err)
				}
			}
			if tc.retried {
				err := q.Retry(ctx, ds[0], time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
			} else if err := q.Done(ctx, ds[0], nil, nil); err != nil {
				t.Fatalf("done %s: %v", ds[0].Event.ID(), err)
			}
			queue := queueOf(t, q, "wide")
			q.Close()
			if n := ready(t, queue); n != tc.want {
				t.Errorf("queue holds %d messages after Close, want %d", n,
					tc.want)
			}
		})
	}
}

// A new channel of the same session (a reconnect whose set-up failed half
// way, so the session was not renewed): each tag is acked on the channel
// it came from, never on the new one, where the same number names another
// message.
func TestAcksGoToTheChannelTheMessageCameFrom(t *testing.T) {
	a, old, ds := newTestAcks(3)
	if err := a.ack(0, ds[1]); err != nil { // tag 2 held behind tag 1
		t.Fatal(err)
	}
	wantSent(t, old, "tag 2 finished behind tag 1")

	fresh := &fakeChannel{}
	a.received(0, fresh, 1)
	a.received(0, fresh, 2)
	wantSent(t, old, "a new channel's first message: the old one's held ack flushed",
		"ack 2")

	if err := a.ack(0, ds[0]); err != nil { // the old tag 1
		t.Fatal(err)
	}
	wantSent(t, old, "the old channel's tag 1", "ack 1")
	wantSent(t, fresh, "nothing on the new channel for the old tag")

	if err := a.ack(0, amqp.Delivery{Acknowledger: fresh, DeliveryTag: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.ack(0, amqp.Delivery{Acknowledger: fresh, DeliveryTag: 1}); err != nil {
		t.Fatal(err)
	}
	wantSent(t, fresh, "the new channel's tags, oldest first", "ack ..2")
	wantSent(t, old, "nothing more on the old channel")
}
