package ingress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// InvokePath is the route that calls a function directly, as a request to
// its Knative Service's URL would: any method, to
// /v1/functions/{name}/invoke/{path}, where {path} (and the query) is what
// the function sees.
const InvokePath = FunctionsPath + "/:name/invoke"

// ErrNoSuchFunction is what Params.Invoke returns for a name it does not
// run; the route answers 404 function-not-found.
var ErrNoSuchFunction = errors.New("no such function")

// invokeReplayMax is the largest body a call keeps in memory, so that
// the runner can send it again to another instance when the one it picked
// died before the request reached it (as it does for Trigger deliveries).
// A larger body, or one of unknown length, streams through and is not
// sent again.
const invokeReplayMax = 1 << 20

// invokeFunction serves InvokePath and InvokePath/*path, for every method
// (those gin has no route for come through noMethod): it passes the
// request on to the function through the transport that Params.Invoke
// gives (under ferry dev, the runner's: it starts an instance when the
// function is at zero and holds the request while it starts), and streams
// the function's answer back as it is, status, headers and body. The path
// after /invoke, escaped as it came, and the query are what the function
// sees; a Location the function answers with is put back under the
// invoke path. No task is made and nothing is stored: that is what POST
// /v1/events is for.
//
// A body over Params.MaxBodyBytes gets 413 body-too-large; a function that
// cannot be reached (its build fails, it never gets ready, it exits
// mid-request) 502 function-unavailable, with the reason.
func (s *Server) invokeFunction(c *gin.Context) {
	name, rest, _ := invokeTarget(c.Request.URL.EscapedPath())
	rt, err := s.invoke(name)
	if errors.Is(err, ErrNoSuchFunction) {
		writeProblem(c, newProblem(ProblemFunctionNotFound,
			fmt.Sprintf("this process runs no function named %q", name)))
		return
	}
	if err != nil {
		writeProblem(c, newProblem(ProblemFunctionUnavailable, err.Error()))
		return
	}
	if c.Request.ContentLength > s.maxBodyBytes {
		writeProblem(c, newProblem(ProblemBodyTooLarge, fmt.Sprintf(
			"the body is %d bytes; a function takes at most %d",
			c.Request.ContentLength, s.maxBodyBytes)))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body,
		s.maxBodyBytes)
	if err := replayable(c.Request); err != nil {
		s.invokeFailed(c, name, err)
		return
	}

	path, err := url.PathUnescape(rest)
	if err != nil {
		writeProblem(c, newProblem(ProblemInvalidParameter,
			fmt.Sprintf("path %q: %v", rest, err)))
		return
	}
	base := FunctionsPath + "/" + url.PathEscape(name) + "/invoke"
	proxy := &httputil.ReverseProxy{
		Transport: rt,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = name
			r.Out.URL.Path, r.Out.URL.RawPath = path, rest
			r.Out.Host = name
			r.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			loc := resp.Header.Get("Location")
			if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
				resp.Header.Set("Location", base+loc)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.invokeFailed(c, name, err)
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
}

// invokeTarget splits an escaped request path under InvokePath into the
// function's name and the path the function gets ("/" at least); ok is
// false for any other path.
func invokeTarget(escaped string) (name, rest string, ok bool) {
	tail, ok := strings.CutPrefix(escaped, FunctionsPath+"/")
	if !ok {
		return "", "", false
	}
	escName, tail, _ := strings.Cut(tail, "/")
	tail, ok = strings.CutPrefix("/"+tail, "/invoke")
	if !ok || (tail != "" && !strings.HasPrefix(tail, "/")) {
		return "", "", false
	}
	name, err := url.PathUnescape(escName)
	if err != nil || name == "" {
		return "", "", false
	}
	if tail == "" {
		tail = "/"
	}
	return name, tail, true
}

// replayable reads a body of known length up to invokeReplayMax into
// memory and lets the request give it again (GetBody).
func replayable(r *http.Request) error {
	if r.Body == nil || r.ContentLength <= 0 ||
		r.ContentLength > invokeReplayMax {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
	return nil
}

// invokeFailed answers a call that got no answer from the function.
func (s *Server) invokeFailed(c *gin.Context, name string, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeProblem(c, newProblem(ProblemBodyTooLarge, fmt.Sprintf(
			"the body is over %d bytes, the most a function takes",
			tooLarge.Limit)))
	case errors.Is(err, context.Canceled):
		// The caller went away; nobody reads an answer.
		c.Abort()
	default:
		s.log.Warn("invoke failed", "function", name, "err", err)
		writeProblem(c, newProblem(ProblemFunctionUnavailable,
			fmt.Sprintf("function %s: %v", name, err)))
	}
}
