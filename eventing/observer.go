package eventing

import (
	"context"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Observer is told what the Broker does with each event, so that a task
// store can answer "what happened to my task". Calls may repeat after a crash
// (delivery is at least once), so an Observer must apply them idempotently.
// The Broker reports a delivery's outcome before it commits it (and
// retries the report until it is taken), and an accepted event right after
// storing it: if that report fails the producer gets no 202, and its retry
// (a duplicate) reports the event again. An attempt's start is reported
// only when the attempt runs longer than StartedReportDelay, and always
// before its outcome.
type Observer interface {
	// Routed reports that e was stored and will be delivered to the named
	// Triggers (none when no Trigger's filter matched). Kind tells whether e
	// came from a producer or is a subscriber's reply; the Broker reports
	// the replies it routes with the attempt that got them (Attempt.Reply)
	// instead.
	Routed(ctx context.Context, kind EventKind, e *event.Event,
		triggers []string) error
	// Attempted reports the progress of one delivery.
	Attempted(ctx context.Context, a Attempt) error
}

// RoutedPreparer is an Observer that can do the work of a Routed report
// ahead of it: the Broker prepares the report of a new event while its
// Queue stores the event, so that only the writing of the report is left
// once the event is stored (at concurrency 1 the encoding of the task then
// overlaps the broker's confirm instead of following it).
//
// PrepareRouted records nothing and does no I/O; it only reads e, which
// must not change until the returned record has run or been dropped. The
// record makes the report Routed(ctx, kind, e, triggers) would make, with
// the same result and errors; a report prepared but never recorded leaves
// no trace. The record may be called once.
type RoutedPreparer interface {
	Observer
	PrepareRouted(kind EventKind, e *event.Event, triggers []string) (
		record func(context.Context) error)
}

// EventKind says where an event in the Broker came from.
type EventKind string

// The kinds of events a Broker carries.
const (
	// KindAccepted is an event a producer posted.
	KindAccepted EventKind = "accepted"
	// KindReply is a subscriber's reply, a follow-up event.
	KindReply EventKind = "reply"
)

// Outcome is where a delivery stands after an attempt.
type Outcome string

// The outcomes of a delivery attempt.
const (
	// OutcomeStarted: the attempt is being made.
	OutcomeStarted Outcome = "started"
	// OutcomeRetrying: the attempt failed and another is scheduled.
	OutcomeRetrying Outcome = "retrying"
	// OutcomeDelivered: the subscriber took the event (2xx).
	OutcomeDelivered Outcome = "delivered"
	// OutcomeDeadLettered: the delivery failed for good; the event went to
	// the dead letter path.
	OutcomeDeadLettered Outcome = "deadlettered"
)

// Attempt describes one step of delivering Event to Trigger.
type Attempt struct {
	Event   *event.Event
	Trigger string
	// Subscriber is where the event was sent, for display.
	Subscriber string
	// Number counts attempts from 1.
	Number  int
	Outcome Outcome
	// Code is the subscriber's HTTP status, 0 when there was no answer.
	Code int
	// Reason says why an attempt failed, in words.
	Reason string
	// Reply is the subscriber's reply, set with OutcomeDelivered when it
	// answered with a CloudEvent. It has already been stored, and is not
	// reported with Routed: the Observer records it with the attempt,
	// routed to ReplyTriggers (none when no Trigger's filter matched).
	Reply         *event.Event
	ReplyTriggers []string
	// NextAttempt is when the next attempt is due, with OutcomeRetrying.
	NextAttempt time.Time
	// At is when the step happened.
	At time.Time
	// StartUnreported is set on an outcome when the start of the same
	// attempt was not reported (it ended within StartedReportDelay) or
	// its report was not taken. A delivery that the store then still
	// has running was cut short by a crash or a restart before this
	// attempt, and that cut attempt counts too.
	StartUnreported bool
}
