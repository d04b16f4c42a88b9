package ingress

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// readBody reads the whole request body, at most s.maxBodyBytes of it. A
// body over the limit is refused with body-too-large, before it is read
// when its Content-Length says so.
func (s *Server) readBody(c *gin.Context) ([]byte, *Problem) {
	req := c.Request
	if enc := req.Header.Get("Content-Encoding"); enc != "" &&
		!strings.EqualFold(enc, "identity") {
		// The body would be stored as the event's data still encoded,
		// under a content type that says otherwise.
		return nil, newProblem(ProblemUnsupportedMediaType, fmt.Sprintf(
			"Content-Encoding %q is not supported: send the body "+
				"uncompressed", enc))
	}
	if req.ContentLength > s.maxBodyBytes {
		return nil, s.tooLarge()
	}
	r := http.MaxBytesReader(c.Writer, req.Body, s.maxBodyBytes)

	var body []byte
	var err error
	if req.ContentLength > 0 {
		// The server stops a body at its Content-Length: one read of
		// exactly that size is the whole of it.
		body = make([]byte, req.ContentLength)
		_, err = io.ReadFull(r, body)
	} else {
		body, err = io.ReadAll(r)
	}

	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, s.tooLarge()
	case err != nil:
		return nil, newProblem(ProblemInvalidEvent,
			"reading the request body: "+err.Error())
	}
	return body, nil
}

// tooLarge is the problem of a body over the limit.
func (s *Server) tooLarge() *Problem {
	return newProblem(ProblemBodyTooLarge, fmt.Sprintf(
		"request body is larger than the limit of %s", byteSize(s.maxBodyBytes)))
}

// byteSize writes n bytes for people: "16 MiB (16777216 bytes)".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
