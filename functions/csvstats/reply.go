package function

import (
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// The failure convention, the same in every Ferry example function:
//
// An input that can never succeed is answered with a normal 2xx reply of
// type FailedType (the input type plus ".failed") whose data is an RFC 9457
// problem details object (ProblemContentType). It is never answered with a
// 4xx: Knative's RabbitMQ broker drops non-retryable 4xx answers without
// dead-lettering them, so the task would vanish. Ferry's task store marks a
// task failed, with the problem's Detail as the reason, when it sees a reply
// whose type ends in ".failed". A Go error, which the runtime turns into a
// 5xx that the broker retries, is kept for transient trouble such as a
// canceled context.

// ProblemContentType is the datacontenttype of a FailedType reply.
const ProblemContentType = "application/problem+json"

// ProblemInvalidInput is the problem type of data that cannot be read, for
// example a truncated image or a CSV with ragged rows.
const ProblemInvalidInput = "https://ferry.dev/problems/invalid-input"

// Problem is the data of a FailedType reply.
type Problem struct {
	// Type is a URI naming the kind of problem, one of the Problem*
	// constants; it stays the same across releases.
	Type string `json:"type"`
	// Title summarises the kind; it is the same for every problem of a Type.
	Title string `json:"title"`
	// Detail says what is wrong with this one input, for example
	// "decode image: unexpected EOF".
	Detail string `json:"detail"`
}

// brokenInput is the error for an input that can never succeed: retrying
// it would give the same answer, so it becomes a FailedType reply.
type brokenInput struct {
	typ   string
	title string
	err   error
}

func (b *brokenInput) Error() string { return b.err.Error() }

func (b *brokenInput) Unwrap() error { return b.err }

// invalidInput marks err as a ProblemInvalidInput.
func invalidInput(err error) error {
	return &brokenInput{typ: ProblemInvalidInput, title: "Invalid input", err: err}
}

// newReply starts a reply to in: a new id, this function's Source, the
// subject of in, and the Correlation extension: in's correlationid (the
// task) and in's id as causationid. Ferry's embedded Broker would add them,
// Knative's brokers on a cluster do not, and the ingress finds the task of
// a reply by them.
func newReply(in event.Event, typ string) event.Event {
	out := event.New()
	out.SetID(uuid.NewString())
	out.SetSource(Source)
	out.SetType(typ)
	out.SetTime(time.Now().UTC())
	if s := in.Subject(); s != "" {
		out.SetSubject(s)
	}
	if id, ok := in.Extensions()["correlationid"]; ok {
		out.SetExtension("correlationid", id)
	}
	out.SetExtension("causationid", in.ID())
	return out
}

// failedReply is the FailedType reply to in for the broken input b.
func failedReply(in event.Event, b *brokenInput) (*event.Event, error) {
	out := newReply(in, FailedType)
	p := Problem{Type: b.typ, Title: b.title, Detail: b.Error()}
	if err := out.SetData(ProblemContentType, p); err != nil {
		return nil, err
	}
	return &out, nil
}
