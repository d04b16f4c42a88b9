package ingress

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/tasks"
)

// PublishTimeout bounds how long a post waits for the Broker (and the task
// store) to take its event before the answer is 503 broker-unavailable.
const PublishTimeout = 10 * time.Second

// Acceptance is the body of a 202 answer to an event post.
type Acceptance struct {
	// ID is the id of the task the event belongs to.
	ID string `json:"id"`
	// EventID, Type and Source are those of the accepted event.
	EventID string `json:"eventId"`
	Type    string `json:"type"`
	Source  string `json:"source"`
	// State is always tasks.Accepted: the Broker has stored the event. The
	// task's current state is at Href.
	State tasks.State `json:"state"`
	// Duplicate is set when the event had been accepted before; ID is then
	// the task of that first post.
	Duplicate bool `json:"duplicate"`
	// Href is the task's path, GET /v1/tasks/{id}; the Location header
	// has it too.
	Href string `json:"href"`
}

// postEvent serves POST / and POST /v1/events: one CloudEvent.
func (s *Server) postEvent(c *gin.Context) {
	e, p := s.readEvent(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	s.accept(c, e)
}

// accept publishes e and answers 202 with its Acceptance once the Broker
// has stored it, or the problem of why it did not.
func (s *Server) accept(c *gin.Context, e *event.Event) {
	s.acceptTo(c, s.publisher, e)
}

// acceptTo is accept with the Broker to publish to.
func (s *Server) acceptTo(c *gin.Context, pub eventing.Publisher, e *event.Event) {
	noteEvent(c, e)
	// A broker or store that stops answering must not hold the producer:
	// past PublishTimeout the answer is 503, try again.
	ctx, cancel := context.WithTimeout(c.Request.Context(), PublishTimeout)
	defer cancel()
	r, err := pub.Publish(ctx, e)
	if err != nil {
		writeProblem(c, s.publishProblem(e, err))
		return
	}
	if r.TaskID == "" {
		s.log.Error("publisher returned no task id",
			"event_id", e.ID(), "event_type", e.Type())
		writeProblem(c, newProblem(ProblemInternal,
			"the Broker named no task for the event"))
		return
	}
	noteReceipt(c, r)

	a := Acceptance{
		ID:        r.TaskID,
		EventID:   e.ID(),
		Type:      e.Type(),
		Source:    e.Source(),
		State:     tasks.Accepted,
		Duplicate: r.Duplicate,
		Href:      taskPath(r.TaskID),
	}
	c.Header("Location", a.Href)
	c.JSON(http.StatusAccepted, a)
}

// publishProblem is the answer to a failed Publish. Only the Broker being
// unavailable is the producer's to retry as such; other errors are logged
// and answered with a short message that leaks nothing.
func (s *Server) publishProblem(e *event.Event, err error) *Problem {
	if errors.Is(err, eventing.ErrTaskNotRecorded) {
		s.log.Warn("task store unavailable", "event_id", e.ID(),
			"event_type", e.Type(), "err", err)
		return newProblem(ProblemStoreUnavailable,
			"the event was stored, but the task store could not record its "+
				"task; post it again with the same source and id: it is taken "+
				"as the same event and its task recorded")
	}
	if errors.Is(err, eventing.ErrBrokerUnavailable) {
		s.log.Warn("broker unavailable", "event_id", e.ID(),
			"event_type", e.Type(), "err", err)
		return newProblem(ProblemBrokerUnavailable,
			"the Broker could not store the event; nothing was accepted, "+
				"post it again")
	}
	s.log.Error("publish failed", "event_id", e.ID(),
		"event_type", e.Type(), "err", err)
	return newProblem(ProblemInternal, "the event could not be published")
}

// taskPath is the path of the task with the given id.
func taskPath(id string) string { return "/v1/tasks/" + url.PathEscape(id) }
