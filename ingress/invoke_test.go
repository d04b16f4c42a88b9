package ingress_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/ingress"
)

// backendTransport sends every request to the server at url, as the
// runner's transport sends them to a function's instance.
type backendTransport struct{ url string }

func (b backendTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host = "http", strings.TrimPrefix(b.url, "http://")
	out.RequestURI = ""
	return http.DefaultTransport.RoundTrip(out)
}

func invokeHarness(t *testing.T, h http.HandlerFunc) *harness {
	t.Helper()
	backend := httptest.NewServer(h)
	t.Cleanup(backend.Close)
	return newHarness(t, func(p *ingress.Params) {
		p.MaxBodyBytes = 1024
		p.Invoke = func(name string) (http.RoundTripper, error) {
			switch name {
			case "echo":
				return backendTransport{backend.URL}, nil
			case "broken":
				return nil, errors.New("build broken: syntax error")
			case "gone":
				return backendTransport{"http://127.0.0.1:1"}, nil
			}
			return nil, fmt.Errorf("%w: %q", ingress.ErrNoSuchFunction, name)
		}
	})
}

func TestInvokePassesTheRequestAndItsAnswerThrough(t *testing.T) {
	h := invokeHarness(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.URL.RequestURI()+" "+
			r.Header.Get("X-Mine")+" "+r.Host)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "OK %s", body)
	})

	resp, body := h.do(t, http.MethodPut,
		"/v1/functions/echo/invoke/orders/7?full=1",
		map[string]string{"X-Mine": "yes"}, strings.NewReader("hello"))
	if resp.StatusCode != http.StatusCreated || string(body) != "OK hello" {
		t.Fatalf("answer %d %q, want 201 \"OK hello\"", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Seen"); got != "PUT /orders/7?full=1 yes echo" {
		t.Errorf("the function saw %q", got)
	}

	resp, body = h.do(t, http.MethodGet, "/v1/functions/echo/invoke", nil, nil)
	if resp.StatusCode != http.StatusCreated ||
		!strings.HasPrefix(resp.Header.Get("X-Seen"), "GET / ") {
		t.Errorf("invoke without a path: %d %q %s", resp.StatusCode,
			resp.Header.Get("X-Seen"), body)
	}
}

func TestInvokeProblems(t *testing.T) {
	h := invokeHarness(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	tests := []struct {
		name, path, body string
		status           int
		typ              ingress.ProblemType
		detail           string
	}{
		{"unknown function", "/v1/functions/nope/invoke/", "", 404,
			ingress.ProblemFunctionNotFound, `no function named "nope"`},
		{"function that does not build", "/v1/functions/broken/invoke", "",
			502, ingress.ProblemFunctionUnavailable, "syntax error"},
		{"function that cannot be reached", "/v1/functions/gone/invoke", "",
			502, ingress.ProblemFunctionUnavailable, "function gone"},
		{"body too large", "/v1/functions/echo/invoke",
			strings.Repeat("x", 2048), 413, ingress.ProblemBodyTooLarge,
			"at most 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, http.MethodPost, tt.path, nil,
				strings.NewReader(tt.body))
			wantProblem(t, resp, body, tt.status, tt.typ, tt.detail)
		})
	}
}

func TestInvokeWithoutFunctionsIs404(t *testing.T) {
	h := newHarness(t)
	resp, body := h.do(t, http.MethodPost, "/v1/functions/echo/invoke", nil,
		strings.NewReader("{}"))
	wantProblem(t, resp, body, http.StatusNotFound,
		ingress.ProblemFunctionNotFound, "runs no function")
}

func TestInvokeKeepsEscapesMethodsAndLocations(t *testing.T) {
	h := invokeHarness(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Method+" "+r.URL.EscapedPath())
		w.Header().Set("Location", "/elsewhere?x=1")
		w.WriteHeader(http.StatusOK)
	})

	resp, body := h.do(t, "PROPFIND", "/v1/functions/echo/invoke/p/q%2Fr/s%3Ft",
		nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PROPFIND: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Seen"); got != "PROPFIND /p/q%2Fr/s%3Ft" {
		t.Errorf("the function saw %q, want the method and escaped path kept", got)
	}
	if got := resp.Header.Get("Location"); got !=
		"/v1/functions/echo/invoke/elsewhere?x=1" {
		t.Errorf("Location %q, want it under the invoke path", got)
	}
}

// replayCheck is a transport that reads a request's body, then the body
// GetBody gives, as the runner does to send a request again.
type replayCheck struct{ got chan string }

func (r replayCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	first, _ := io.ReadAll(req.Body)
	again := "no GetBody"
	if req.GetBody != nil {
		b, _ := req.GetBody()
		data, _ := io.ReadAll(b)
		again = string(data)
	}
	r.got <- string(first) + "|" + again
	return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody,
		Header: http.Header{}, Request: req}, nil
}

func TestInvokeBodyCanBeSentAgain(t *testing.T) {
	got := make(chan string, 1)
	h := newHarness(t, func(p *ingress.Params) {
		p.Invoke = func(string) (http.RoundTripper, error) {
			return replayCheck{got}, nil
		}
	})
	resp, body := h.do(t, http.MethodPost, "/v1/functions/echo/invoke",
		nil, strings.NewReader("payload"))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("answer %d %s", resp.StatusCode, body)
	}
	if g := <-got; g != "payload|payload" {
		t.Errorf("body then body again: %q, want payload|payload", g)
	}
}
