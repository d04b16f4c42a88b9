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
// With a store that tells when a task finishes (tasks.Notifier), the poll
// answers the moment it does, and reads the task again only every
// notifiedPollInterval in case a notification was missed.
const (
	pollIntervalMin      = 25 * time.Millisecond
	pollIntervalMax      = 100 * time.Millisecond
	notifiedPollInterval = time.Second
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

// awaitTask reads the task until it is settled (finished, or matched by
// no Trigger) or wait has passed, and
// returns it as it then is. A task the store does not know is waited for
// too: in a distributed setup the store may learn of a task a moment after
// the 202. It returns the context's error when the client goes away, and
// the task as it is once EndWaits was called.
func (s *Server) awaitTask(ctx context.Context, id string,
	wait time.Duration) (*tasks.Task, error) {
	deadline := time.Now().Add(wait)
	notifier, _ := s.tasks.(tasks.Notifier)
	pause := pollIntervalMin
	if notifier != nil {
		pause = notifiedPollInterval
	}
	for {
		// The wait starts before the read, so that a task finishing
		// between the two is not missed.
		var finished <-chan struct{}
		stop := func() {}
		if notifier != nil {
			finished, stop = notifier.WaitFinished(id)
		}
		t, err := s.tasks.Get(ctx, id)
		left := time.Until(deadline)
		switch {
		case ctx.Err() != nil:
			stop()
			return nil, ctx.Err()
		case err != nil && !errors.Is(err, tasks.ErrNotFound) &&
			(left <= 0 || s.ending()):
			stop()
			return nil, err
		case err != nil && !errors.Is(err, tasks.ErrNotFound):
			// A store that fails for a moment (Redis restarting) does
			// not end the wait: the task is read again after the pause.
		case err == nil && t.Settled(), left <= 0, s.ending():
			stop()
			return t, err
		}

		timer := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-finished:
		case <-s.endWaits:
		}
		timer.Stop()
		stop()
		if notifier == nil {
			pause = min(2*pause, pollIntervalMax)
		}
	}
}

// ending reports whether EndWaits was called.
func (s *Server) ending() bool {
	select {
	case <-s.endWaits:
		return true
	default:
		return false
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
