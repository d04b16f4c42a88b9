package ingress

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/tasks"
)

// RecordsPath is where a cluster's results Trigger and the Broker's dead
// letter sink deliver: POST /v1/records.
const RecordsPath = "/v1/records"

// Knative's dead letter extensions, set by the dispatcher on an event it
// could not deliver.
const (
	extErrorDest = "knativeerrordest"
	extErrorCode = "knativeerrorcode"
	extErrorData = "knativeerrordata"
)

// reasonMax caps the reason recorded for a dead letter, in bytes.
const reasonMax = 512

// The kinds of event POST /v1/records tells apart, for the access log.
const (
	recordReply      = "reply"
	recordDeadLetter = "deadletter"
	recordIgnored    = "ignored"
)

// postRecord serves POST /v1/records: one event from the cluster's Broker,
// either a follow-up that the results Trigger routed here or a dead letter
// from the Broker's dead letter sink, recorded in the task store through
// Params.Observer. It answers 204 with no body (no reply event) once the
// store has it, 503 not-ready when the store fails (the Broker retries),
// and 400 for a request that is no CloudEvent.
//
// On a cluster the ingress does not see deliveries, so it reports them as
// one pseudo-delivery per event named after the Broker (as eventing.Sink
// does): a follow-up marks the delivery of the event it answers (its
// causationid) as delivered; a dead letter marks the dead-lettered event's
// delivery as failed for good.
//
// Events that belong to no task are answered 204 and not recorded: those
// without correlationid, and a task's own accepted event, which a results
// Trigger that cannot filter (the RabbitMQ broker's) routes here too.
func (s *Server) postRecord(c *gin.Context) {
	e, p := s.readEvent(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	noteEvent(c, e)

	kind, err := s.record(c.Request.Context(), e)
	if err != nil {
		s.log.Error("record event", "event_id", e.ID(), "event_type", e.Type(),
			"kind", kind, "err", err)
		writeProblem(c, newProblem(ProblemNotReady,
			"the task store could not record the event; deliver it again"))
		return
	}
	s.log.Debug("recorded", "event_id", e.ID(), "event_type", e.Type(),
		"kind", kind, "task", eventing.StringExtension(e, eventing.ExtCorrelationID))
	c.Status(http.StatusNoContent)
}

// record files e as a reply or a dead letter and says which it took it for.
func (s *Server) record(ctx context.Context, e *event.Event) (string, error) {
	if _, dead := e.Extensions()[extErrorCode]; dead {
		if !failedAtRecords(e) {
			return recordDeadLetter, s.recordDeadLetter(ctx, e)
		}
		// The results Trigger could not deliver e here: it is a
		// follow-up that reached the ingress late, not a failed task.
		e = withoutErrorExtensions(e)
	}
	taskID := eventing.StringExtension(e, eventing.ExtCorrelationID)
	if taskID == "" {
		return recordIgnored, nil
	}

	t, err := s.tasks.Get(ctx, taskID)
	switch {
	case errors.Is(err, tasks.ErrNotFound):
		t = nil
	case err != nil:
		return recordReply, fmt.Errorf("read task %s: %w", taskID, err)
	}
	if t != nil && t.EventID == e.ID() && t.Source == e.Source() {
		return recordIgnored, nil // the task's own accepted event
	}
	return recordReply, s.recordReply(ctx, e, t)
}

// recordReply records reply as a follow-up of its task, then the delivery
// of the event it answers as done, so that the task is never finished
// without its result. The answered event is reply's causationid, or the
// task's accepted event when the reply names none.
func (s *Server) recordReply(ctx context.Context, reply *event.Event,
	t *tasks.Task) error {
	if err := s.records.Routed(ctx, eventing.KindReply, reply, nil); err != nil {
		return fmt.Errorf("record reply %s: %w", reply.ID(), err)
	}

	causeID := eventing.StringExtension(reply, eventing.ExtCausationID)
	if causeID == "" && t != nil {
		causeID = t.EventID
	}
	if causeID == "" {
		return nil // nothing to mark delivered
	}
	cause := event.New()
	cause.SetID(causeID)
	if t != nil && causeID == t.EventID {
		cause.SetSource(t.Source)
		cause.SetType(t.Type)
	}
	cause.SetExtension(eventing.ExtCorrelationID,
		eventing.StringExtension(reply, eventing.ExtCorrelationID))

	err := s.records.Attempted(ctx, eventing.Attempt{
		Event:   &cause,
		Trigger: s.recordBroker,
		Number:  1,
		Outcome: eventing.OutcomeDelivered,
		Code:    http.StatusOK,
		Reply:   reply,
		At:      time.Now(),
	})
	if err != nil {
		return fmt.Errorf("record delivery of %s: %w", causeID, err)
	}
	return nil
}

// recordDeadLetter records that e failed for good: its delivery is
// dead-lettered with Knative's error code and the failed answer's body as
// the reason.
func (s *Server) recordDeadLetter(ctx context.Context, e *event.Event) error {
	if eventing.StringExtension(e, eventing.ExtCorrelationID) == "" {
		return nil // not an event of Ferry's ingress
	}
	code, _ := types.ToInteger(e.Extensions()[extErrorCode])
	dest := eventing.StringExtension(e, extErrorDest)
	err := s.records.Attempted(ctx, eventing.Attempt{
		Event:      withoutErrorExtensions(e),
		Trigger:    s.recordBroker,
		Subscriber: dest,
		Number:     1,
		Outcome:    eventing.OutcomeDeadLettered,
		Code:       int(code),
		Reason:     deadLetterReason(dest, int(code), eventing.StringExtension(e, extErrorData)),
		At:         time.Now(),
	})
	if err != nil {
		return fmt.Errorf("record dead letter %s: %w", e.ID(), err)
	}
	return nil
}

// failedAtRecords reports whether dead letter e failed on its way to this
// endpoint (its knativeerrordest is a /v1/records URL).
func failedAtRecords(e *event.Event) bool {
	u, err := url.Parse(eventing.StringExtension(e, extErrorDest))
	return err == nil && strings.HasSuffix(u.Path, RecordsPath)
}

// withoutErrorExtensions is a copy of e without Knative's dead letter
// extensions, the event as it was published.
func withoutErrorExtensions(e *event.Event) *event.Event {
	c := e.Clone()
	for _, name := range []string{extErrorDest, extErrorCode, extErrorData} {
		c.SetExtension(name, nil)
	}
	return &c
}

// deadLetterReason says why a delivery failed for good, in words.
// knativeerrordata is the failed answer's body in base64 from Knative's
// reference dispatcher, plain text from others; either is shown as text.
func deadLetterReason(dest string, code int, data string) string {
	where := "delivery"
	if dest != "" {
		where = "delivery to " + dest
	}
	var r string
	if code > 0 {
		r = fmt.Sprintf("%s failed for good with HTTP %d", where, code)
	} else {
		r = where + " failed for good without an HTTP answer"
	}
	if data == "" {
		return r
	}
	if raw, err := base64.StdEncoding.DecodeString(data); err == nil &&
		utf8.Valid(raw) {
		data = string(raw)
	}
	r += ": " + strings.TrimSpace(data)
	if len(r) > reasonMax {
		r = strings.ToValidUTF8(r[:reasonMax], "") + "..."
	}
	return r
}
