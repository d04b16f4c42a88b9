package rabbitmq

import (
	"slices"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferryfn/ferry/eventing"
)

// lane is one Trigger's share of the dispatcher: the messages its consumer
// received and has not acked, in queue order, and how many of them are
// being delivered. It is guarded by its Queue's mutex.
type lane struct {
	trigger     string
	queue       string
	parallelism int
	prefetch    int

	msgs []*message
	busy int // messages claimed and not yet ended or retried

	// acks sends the acks of the lane's channel; it has its own lock.
	acks acks
}

// message is one unacked delivery from RabbitMQ and where its delivery to
// the Trigger's subscriber stands.
type message struct {
	id      uint64
	lane    *lane
	raw     amqp.Delivery // acks on the channel it came on
	session uint64        // the consumer connection it came on
	event   *event.Event
	state   eventing.Delivery // attempts and dead letter phase
	due     time.Time         // zero: due at once
	claimed bool
}

// claim appends to out up to max of the lane's messages that are due at
// now, within its parallelism, and returns when the first of those not yet
// due falls due (zero when none). With parallelism 1 only the oldest
// message can go: a younger one waits while it is out or waits to retry.
func (l *lane) claim(now time.Time, max int, out []eventing.Delivery) (
	[]eventing.Delivery, time.Time) {
	var next time.Time
	for _, m := range l.msgs {
		if l.busy >= l.parallelism {
			break
		}
		if m.claimed {
			continue
		}
		if m.due.After(now) {
			next = earliest(next, m.due)
			if l.parallelism == 1 {
				break
			}
			continue
		}
		if len(out) >= max {
			break
		}
		m.claimed = true
		l.busy++
		out = append(out, m.delivery())
	}
	return out, next
}

// unclaim makes a claimed m wait again until due.
func (l *lane) unclaim(m *message, due time.Time) {
	if m.claimed {
		m.claimed = false
		l.busy--
	}
	m.due = due
}

// remove takes m out of the lane.
func (l *lane) remove(m *message) {
	i := slices.Index(l.msgs, m)
	if i < 0 {
		return
	}
	if m.claimed {
		m.claimed = false
		l.busy--
	}
	l.msgs = slices.Delete(l.msgs, i, i+1)
}

func (m *message) delivery() eventing.Delivery {
	d := m.state
	d.ID, d.Event, d.Trigger = m.id, m.event, m.lane.trigger
	return d
}

// earliest returns the earlier of two times, a zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
