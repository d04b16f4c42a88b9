package ingress

import (
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// IdempotencyKeyHeader names the header whose value becomes the id of the
// event that POST /v1/tasks/{type} wraps around a plain body. The Broker
// absorbs an event whose source and id it has seen, so a retried request
// with the same key is the same task and answers 202 with "duplicate":
// true. All wrapped events share Params.Source, so a key must be unique
// across every type posted to the ingress; a key reused with another type
// or body still names the first task, and nothing compares the two. The
// value may be a bare token or a quoted string, as in the IETF draft
// "The Idempotency-Key HTTP Header Field"; without the header every
// request gets a new random id.
const IdempotencyKeyHeader = "Idempotency-Key"

// plainContentTypeDefault is the datacontenttype of a plain body posted
// without a Content-Type.
const plainContentTypeDefault = "application/octet-stream"

// tokenMax is the longest task type and idempotency key, in bytes.
const tokenMax = 255

// postPlain serves POST /v1/tasks/{type}: the body of a producer that does
// not speak CloudEvents becomes the data of a 1.0 event of that type.
func (s *Server) postPlain(c *gin.Context) {
	e, p := s.wrapPlain(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	s.accept(c, e)
}

// wrapPlain builds the event around the request's body: id from the
// Idempotency-Key or random, source Params.Source, time now, and the
// request's Content-Type as datacontenttype.
func (s *Server) wrapPlain(c *gin.Context) (*event.Event, *Problem) {
	typ := c.Param("type")
	if !isToken(typ) {
		return nil, newProblem(ProblemInvalidParameter, fmt.Sprintf(
			"invalid task type %q: a type is 1 to %d printable ASCII "+
				"characters without spaces, such as com.example.resize",
			typ, tokenMax))
	}
	id, p := idempotencyKey(c)
	if p != nil {
		return nil, p
	}
	contentType, p := plainContentType(c)
	if p != nil {
		return nil, p
	}

	body, p := s.readBody(c)
	if p != nil {
		return nil, p
	}

	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(s.source)
	e.SetType(typ)
	e.SetTime(time.Now().UTC())
	e.SetDataContentType(contentType)
	if len(body) > 0 {
		e.DataEncoded = body
	}
	if p := validate(&e); p != nil {
		return nil, p
	}
	protectData(&e)
	return &e, nil
}

// idempotencyKey returns the request's Idempotency-Key, unquoted, or a new
// random id when it has none.
func idempotencyKey(c *gin.Context) (string, *Problem) {
	values, ok := c.Request.Header[IdempotencyKeyHeader]
	if !ok {
		return uuid.NewString(), nil
	}
	key := strings.TrimSpace(values[0])
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
	}
	if !isToken(key) {
		return "", newProblem(ProblemInvalidParameter, fmt.Sprintf(
			"invalid %s header %q: a key is 1 to %d printable ASCII "+
				"characters without spaces, such as a UUID",
			IdempotencyKeyHeader, values[0], tokenMax))
	}
	return key, nil
}

// plainContentType returns the request's Content-Type, or
// application/octet-stream when it has none. A CloudEvent is refused: it
// belongs on POST /v1/events, not inside another event.
func plainContentType(c *gin.Context) (string, *Problem) {
	ct := c.GetHeader("Content-Type")
	if ct == "" {
		return plainContentTypeDefault, nil
	}
	media, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return "", newProblem(ProblemInvalidParameter, fmt.Sprintf(
			"invalid Content-Type header %q: %v", ct, err))
	case strings.HasPrefix(media, "application/cloudevents"):
		return "", newProblem(ProblemUnsupportedMediaType, fmt.Sprintf(
			"Content-Type %s is a CloudEvent: post it to POST /v1/events",
			media))
	}
	return ct, nil
}

// isToken reports whether s is 1 to tokenMax printable ASCII characters
// other than space: what a CloudEvents type or id can carry through every
// binding (an HTTP header, an AMQP property) unchanged.
func isToken(s string) bool {
	if s == "" || len(s) > tokenMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
