package eventing

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
)

// ErrDeliveryReturned is wrapped by a Queue's error for a delivery it no
// longer holds because the connection it came on is gone: the backend
// (RabbitMQ) delivers it again, so nothing is lost; it is only late.
var ErrDeliveryReturned = errors.New("delivery returned to its queue")

// Queue is the durable store behind a Broker: its events and their pending
// deliveries. Every method that changes it returns only once the change is
// on disk (or confirmed by the server).
type Queue interface {
	// Put stores e and one pending delivery per named Trigger, atomically.
	// If an event with e's source and id was stored before, Put writes
	// nothing and returns that earlier event; else it returns nil.
	Put(ctx context.Context, e *event.Event, triggers []string) (
		*event.Event, error)
	// Claim hands out up to max deliveries that are due at now, marking
	// them claimed until Done, Retry or Bury. It also returns when the next
	// unclaimed delivery falls due (zero when none is waiting).
	Claim(now time.Time, max int) ([]Delivery, time.Time)
	// Done ends d and, atomically, stores reply (if not nil) with one
	// pending delivery per named Trigger.
	Done(ctx context.Context, d Delivery, reply *event.Event,
		triggers []string) error
	// Retry stores d's new state (attempts, dead letter phase) and makes it
	// due again at when.
	Retry(ctx context.Context, d Delivery, when time.Time) error
	// Bury ends d without delivery, keeping a record of it and why.
	Bury(ctx context.Context, d Delivery, reason string) error
	// Wake signals (without blocking the sender) when Put or Retry made a
	// delivery due.
	Wake() <-chan struct{}
}

// RecordingQueue is a Queue that reports to the Broker's Observer itself,
// in the same commits as its own changes: each new event it stores, and
// each delivery's outcome when it ends the delivery with DoneRecorded (the
// embedded backend with its task store in the same file). When
// RecordsTasks is true the Broker makes no Routed report of its own for a
// new event, and ends a delivered event with DoneRecorded instead of an
// Attempted report and Done.
type RecordingQueue interface {
	Queue
	RecordsTasks() bool
	// DoneRecorded is Done with a, the delivery's outcome, recorded in the
	// same commit. When it fails nothing was changed, and the delivery
	// stays claimed: the caller tries again.
	DoneRecorded(ctx context.Context, d Delivery, a Attempt,
		reply *event.Event, triggers []string) error
}

// Delivery is one pending delivery of an event to a Trigger's subscriber.
type Delivery struct {
	// ID identifies the delivery within its Queue.
	ID uint64
	// Event is the event to deliver.
	Event *event.Event
	// Trigger is the name of the Trigger whose subscriber gets the event.
	Trigger string
	// Attempts counts the attempts already made in the current phase.
	Attempts int
	// DeadLetter is set once the delivery to the subscriber failed for good
	// and the event is on its way to the dead letter sink.
	DeadLetter bool
	// ErrCode and ErrData describe the failed delivery to the subscriber,
	// for the dead letter's knativeerrorcode and knativeerrordata.
	ErrCode int
	ErrData []byte
}

// protectData marks e's data for base64 in the CloudEvents JSON format when
// that format would not carry it as is: bytes that are not UTF-8, or data
// of a media type the SDK writes as a JSON value (application/json, or
// none) that is not JSON, which makes the SDK write an invalid document.
// Queues and task stores keep events in that format. The attributes and
// the data bytes do not change. The Broker applies it to every event it
// takes in, producers' and replies alike.
func protectData(e *event.Event) {
	if e.SpecVersion() != event.CloudEventsVersionV1 || e.DataBase64 ||
		len(e.DataEncoded) == 0 {
		return
	}
	media, _, _ := mime.ParseMediaType(e.DataContentType())
	switch media {
	case "", event.ApplicationJSON, event.TextJSON,
		event.ApplicationCloudEventsJSON, event.ApplicationCloudEventsBatchJSON:
		e.DataBase64 = !json.Valid(e.DataEncoded)
	default:
		e.DataBase64 = !utf8.Valid(e.DataEncoded)
	}
}
