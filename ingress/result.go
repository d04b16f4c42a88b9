package ingress

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/tasks"
)

// resultContentTypeDefault is the Content-Type of a result whose event
// has no datacontenttype.
const resultContentTypeDefault = "application/octet-stream"

// getResult serves GET /v1/tasks/{id}/result: the data of the task's
// result event, raw, as a binary-mode CloudEvent (the datacontenttype is
// the Content-Type; Ce-Id, Ce-Type, Ce-Source and the other attributes and
// extensions are headers), so that a thumbnail comes back as image/png.
//
// With ?wait= it first waits for the task to finish, as GET /v1/tasks/{id}
// does. Then: a failed task answers 409 task-failed with the task's
// reason; a task with no result event yet answers 409 result-not-ready
// with Retry-After: 1, unless it has finished, when it never will: then the
// answer is 204 No Content.
func (s *Server) getResult(c *gin.Context) {
	id := c.Param("id")
	wait, p := s.waitParam(c)
	if p != nil {
		writeProblem(c, p)
		return
	}

	ctx := c.Request.Context()
	t, err := s.awaitTask(ctx, id, wait)
	if clientGone(c) {
		return
	}
	if err != nil {
		writeProblem(c, s.storeProblem(id, err))
		return
	}
	note(c).task = t.ID
	if t.State == tasks.Failed {
		writeProblem(c, taskFailed(t))
		return
	}

	e, err := s.tasks.Result(ctx, id)
	switch {
	case clientGone(c):
	case errors.Is(err, tasks.ErrNoResult) && t.State.Finished():
		c.Status(http.StatusNoContent)
	case errors.Is(err, tasks.ErrNoResult):
		writeProblem(c, newProblem(ProblemResultNotReady, fmt.Sprintf(
			"task %q has no result yet (state %s)", id, t.State)))
	case err != nil:
		writeProblem(c, s.storeProblem(id, err))
	default:
		s.writeResult(c, e)
	}
}

// taskFailed is the problem of reading the result of failed task t.
func taskFailed(t *tasks.Task) *Problem {
	reason := t.Reason
	if reason == "" {
		reason = fmt.Sprintf("task %q failed", t.ID)
	}
	return newProblem(ProblemTaskFailed, reason)
}

// writeResult answers with e in binary mode.
func (s *Server) writeResult(c *gin.Context, e *event.Event) {
	if e.DataContentType() == "" {
		c.Header("Content-Type", resultContentTypeDefault)
	}
	err := cehttp.WriteResponseWriter(c.Request.Context(),
		binding.ToMessage(e), http.StatusOK, c.Writer)
	if err != nil {
		// The status may be out already: all there is to do is log.
		s.log.Warn("writing result failed", "task", note(c).task,
			"event_id", e.ID(), "err", err)
	}
}
