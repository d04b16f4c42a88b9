package ingress

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/tasks"
)

// getTask serves GET /v1/tasks/{id}: the task as JSON. With ?wait= it
// answers as soon as the task is finished, or when the wait is over with
// the task as it then is; 200 either way.
func (s *Server) getTask(c *gin.Context) {
	id := c.Param("id")
	wait, p := s.waitParam(c)
	if p != nil {
		writeProblem(c, p)
		return
	}

	t, err := s.awaitTask(c.Request.Context(), id, wait)
	if clientGone(c) {
		return
	}
	if err != nil {
		writeProblem(c, s.storeProblem(id, err))
		return
	}
	note(c).task = t.ID
	c.JSON(http.StatusOK, t)
}

// storeProblem is the answer to a failed read of task id.
func (s *Server) storeProblem(id string, err error) *Problem {
	if errors.Is(err, tasks.ErrNotFound) {
		return newProblem(ProblemTaskNotFound,
			fmt.Sprintf("no task with id %q", id))
	}
	s.log.Error("reading task failed", "task", id, "err", err)
	return newProblem(ProblemStoreUnavailable,
		"the task store did not answer; try again")
}
