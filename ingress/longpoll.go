package ingress

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/tasks"
)

// A long poll reads the task again after pollIntervalMin, doubling the
// pause up to pollIntervalMax: a quick task is seen finished within 25 ms,
// a slow one costs the store at most 10 reads a second per waiting client.
const (
	pollIntervalMin = 25 * time.Millisecond
	pollIntervalMax = 100 * time.Millisecond
)

// statusClientClosed is the status logged for a request whose client went
// away before the answer (nginx's 499); the client never sees it.
const statusClientClosed = 499

// waitParam reads ?wait=, a Go duration such as 10s, cut to s.waitMax. No
// parameter, or an empty one, means no wait.
func (s *Server) waitParam(c *gin.Context) (time.Duration, *Problem) {
	v := c.Query("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, newProblem(ProblemInvalidParameter, fmt.Sprintf(
			"invalid query parameter wait=%q: want a duration such as "+
				"10s or 500ms, at most %s", v, s.waitMax))
	}
	return min(d, s.waitMax), nil
}

// awaitTask reads the task until it is finished or wait has passed, and
// returns it as it then is. A task the store does not know is waited for
// too: in a distributed setup the store may learn of a task a moment after
// the 202. It returns the context's error when the client goes away.
func (s *Server) awaitTask(ctx context.Context, id string,
	wait time.Duration) (*tasks.Task, error) {
	deadline := time.Now().Add(wait)
	pause := pollIntervalMin
	for {
		t, err := s.tasks.Get(ctx, id)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil && !errors.Is(err, tasks.ErrNotFound):
			return nil, err
		case err == nil && t.State.Finished():
			return t, nil
		}

		left := time.Until(deadline)
		if left <= 0 {
			return t, err
		}
		timer := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
		pause = min(2*pause, pollIntervalMax)
	}
}

// clientGone reports whether the client of c went away, and if so marks
// the request for the access log and ends it.
func clientGone(c *gin.Context) bool {
	if c.Request.Context().Err() == nil {
		return false
	}
	c.AbortWithStatus(statusClientClosed)
	return true
}
