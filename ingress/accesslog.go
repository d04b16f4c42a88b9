package ingress

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/eventing"
)

// noteKey is the gin context key of a request's *requestNote.
const noteKey = "ferry.ingress.note"

// requestNote is what handlers tell the access log beyond the HTTP basics.
type requestNote struct {
	eventID   string
	eventType string
	task      string
	duplicate bool
	problem   ProblemType
}

// accessLog logs one line per request once it is answered: method, path,
// status and duration, and what the handlers noted (event id and type,
// task, problem kind). Probes of /healthz and /readyz log at debug, 5xx at
// error (503 at warn: the Broker or the ingress is briefly unavailable).
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	n := &requestNote{}
	c.Set(noteKey, n)

	c.Next()

	status := c.Writer.Status()
	ctx, level := c.Request.Context(), accessLevel(c, status)
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
	)
	if n.eventID != "" {
		attrs = append(attrs,
			slog.String("event_id", n.eventID),
			slog.String("event_type", n.eventType))
	}
	if n.task != "" {
		attrs = append(attrs, slog.String("task", n.task))
		if n.eventID != "" {
			attrs = append(attrs, slog.Bool("duplicate", n.duplicate))
		}
	}
	if n.problem != "" {
		attrs = append(attrs, slog.String("problem", string(n.problem)))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// accessLevel is the level of a request's access log line.
func accessLevel(c *gin.Context, status int) slog.Level {
	switch {
	case status == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case status >= 500:
		return slog.LevelError
	case c.FullPath() == "/healthz" || c.FullPath() == "/readyz":
		return slog.LevelDebug
	default:
		return slog.LevelInfo
	}
}

// note returns the request's note, or a throwaway one when the access log
// did not run (it always does under Handler).
func note(c *gin.Context) *requestNote {
	if v, ok := c.Get(noteKey); ok {
		if n, ok := v.(*requestNote); ok {
			return n
		}
	}
	return &requestNote{}
}

// noteEvent records the event a request posted, for the access log.
func noteEvent(c *gin.Context, e *event.Event) {
	n := note(c)
	n.eventID, n.eventType = e.ID(), e.Type()
}

// noteReceipt records the task the Broker put the event in.
func noteReceipt(c *gin.Context, r eventing.Receipt) {
	n := note(c)
	n.task, n.duplicate = r.TaskID, r.Duplicate
}

// noteProblem records the kind of problem a request was answered with.
func noteProblem(c *gin.Context, t ProblemType) { note(c).problem = t }

// recovered answers a request whose handler panicked with 500 and logs the
// panic with its stack.
func (s *Server) recovered(c *gin.Context, rec any) {
	s.log.Error("panic serving request",
		"method", c.Request.Method, "path", c.Request.URL.Path,
		"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
	writeProblem(c, newProblem(ProblemInternal, "the ingress failed"))
}
