package runner

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// transport is the http.RoundTripper of one function.
type transport struct {
	f *function
}

// RoundTrip delivers req to an instance of the function, starting one if
// it is at zero. The request counts as in flight until the response body
// is closed.
//
// A request that could not even connect (the instance died a moment ago,
// before the runner noticed) is sent once more to another instance, if
// its body can be read again (no body, or req.GetBody set, as
// http.NewRequest does for in-memory bodies) and no connection was ever
// had for it: nothing of it reached the function. (http.Transport itself
// sends an idempotent request again after a reused connection breaks; the
// dial that fails then is not taken as a request that never arrived.) A
// request that fails after it was sent is not retried here; the Broker's
// delivery spec decides.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.send(req, req.Body)
	var dial *dialError
	if errors.As(err, &dial) {
		t.f.discard(dial.inst)
		if body, ok := replayBody(req); ok {
			resp, err = t.send(req, body)
		}
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

// dialError is a request that failed to connect to inst.
type dialError struct {
	inst *instance
	err  error
}

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// replayBody returns a fresh copy of req's body for a second attempt, and
// whether there can be one.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	return body, err == nil
}

// send makes one attempt at delivering req with body.
func (t transport) send(req *http.Request, body io.ReadCloser) (
	*http.Response, error) {
	f := t.f
	inst, err := f.acquire(req.Context())
	if err != nil {
		return nil, err
	}

	var connected atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	out := req.Clone(ctx) // a RoundTripper must not modify req
	out.URL.Scheme = "http"
	out.URL.Host = inst.addr
	out.Body = body
	resp, err := f.transport.RoundTrip(out)
	if err != nil {
		f.release(inst)
		err = fmt.Errorf("function %s (pid %d): %w", f.spec.Name, inst.pid,
			err)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && !connected.Load() {
			return nil, &dialError{inst: inst, err: err}
		}
		return nil, err
	}

	resp.Request = req
	resp.Body = &inflightBody{
		ReadCloser: resp.Body,
		release:    func() { f.release(inst) },
	}
	return resp, nil
}

// inflightBody is a response body whose Close ends the request's time in
// flight (once, however often Close is called).
type inflightBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *inflightBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
