package conformance

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// waitMax bounds every wait of the suite for something to happen. It is a
// deadline for a poll, not a claim about speed.
const waitMax = 20 * time.Second

// request is one request a subscriber or sink received.
type request struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// ce returns the binary-mode attribute header ce-<name>.
func (r request) ce(name string) string { return r.Header.Get("Ce-" + name) }

// answer writes the answer to the n-th request (n counts from 1).
type answer func(n int, w http.ResponseWriter, r *http.Request)

// subscriber is an HTTP server on 127.0.0.1 standing in for a Trigger's
// subscriber or a dead letter sink: it records every request and answers
// it with its answer func.
type subscriber struct {
	srv    *httptest.Server
	answer answer

	mu  sync.Mutex
	got []request
}

// newSubscriber starts a subscriber; it is closed when the test ends,
// after the stack (which the test starts later).
func newSubscriber(t *testing.T, a answer) *subscriber {
	t.Helper()
	s := &subscriber{answer: a}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.got = append(s.got, request{Header: r.Header.Clone(), Body: body,
		At: time.Now()})
	n := len(s.got)
	s.mu.Unlock()
	if s.answer == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s.answer(n, w, r)
}

// URL is the subscriber's address, for a manifest.
func (s *subscriber) URL() string { return s.srv.URL + "/" }

// received returns the requests so far.
func (s *subscriber) received() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.got...)
}

// await waits until the subscriber has received n requests and returns
// them; it fails the test if that takes longer than waitMax.
func (s *subscriber) await(t *testing.T, n int) []request {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for time.Now().Before(deadline) {
		if got := s.received(); len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("subscriber %s received %d requests within %s, want %d",
		s.URL(), len(s.received()), waitMax, n)
	return nil
}

// accept answers 202 with no body: the event is taken, no reply.
func accept(int, http.ResponseWriter, *http.Request) {}

// failFirst answers code to the first n requests and 202 after.
func failFirst(n, code int) answer {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i <= n {
			http.Error(w, "failing on purpose", code)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// always answers code with body to every request.
func always(code int, body []byte) answer {
	return func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}
}

// reply answers 200 with a binary-mode CloudEvent reply built by mk.
func reply(mk func(n int, r *http.Request) (hdr map[string]string,
	body []byte)) answer {
	return func(n int, w http.ResponseWriter, r *http.Request) {
		hdr, body := mk(n, r)
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// closedURL is the address of a port on 127.0.0.1 that nothing listens
// on: connecting to it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}
