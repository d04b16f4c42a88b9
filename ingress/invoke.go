package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
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

// invokeFunction serves InvokePath and InvokePath/*path: it passes the
// request on to the function through the transport that Params.Invoke
// gives (under ferry dev, the runner's: it starts an instance when the
// function is at zero and holds the request while it starts), and streams
// the function's answer back as it is, status, headers and body. No task
// is made and nothing is stored: that is what POST /v1/events is for.
//
// A body over Params.MaxBodyBytes gets 413 body-too-large; a function that
// cannot be reached (its build fails, it never gets ready, it exits
// mid-request) 502 function-unavailable, with the reason.
func (s *Server) invokeFunction(c *gin.Context) {
	name := c.Param("name")
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

	path := "/" + strings.TrimPrefix(c.Param("path"), "/")
	proxy := &httputil.ReverseProxy{
		Transport: rt,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = name
			r.Out.URL.Path, r.Out.URL.RawPath = path, ""
			r.Out.Host = name
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.invokeFailed(c, name, err)
		},
	}
	proxy.ServeHTTP(c.Writer, c.Request)
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
