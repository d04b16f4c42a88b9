package devstack

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// waitReleases waits until r has released n times, or fails the test.
func waitReleases(t *testing.T, r *rest, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if r.releases.Load() >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d releases, want %d", r.releases.Load(), n)
}

// every is the rest check interval of the tests.
const every = 50 * time.Millisecond

// startRest runs a rest watch until the test ends and waits for its
// release after start-up.
func startRest(t *testing.T, atZero func() bool) *rest {
	t.Helper()
	r := &rest{atZero: atZero,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.run(ctx, every)
	waitReleases(t, r, 1)
	return r
}

func TestRestReleasesAfterStartAndAfterEachSpellOfWork(t *testing.T) {
	var busy atomic.Bool
	r := startRest(t, func() bool { return !busy.Load() })
	time.Sleep(5 * every)
	if n := r.releases.Load(); n != 1 {
		t.Fatalf("%d releases with no work since start-up, want 1", n)
	}

	srv := httptest.NewServer(r.handler(http.NotFoundHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitReleases(t, r, 2) // after the request, once at rest
	time.Sleep(5 * every)
	if n := r.releases.Load(); n != 2 {
		t.Fatalf("%d releases after one request, want 2", n)
	}

	// A function process keeps the process from rest, however quiet.
	busy.Store(true)
	r.touch()
	time.Sleep(5 * every)
	if n := r.releases.Load(); n != 2 {
		t.Fatalf("released while a function runs (%d releases)", n)
	}
	busy.Store(false)
	waitReleases(t, r, 3)
}

func TestRestWaitsWhileWorkGoesOn(t *testing.T) {
	r := startRest(t, nil)

	// Work more often than the interval: never a whole interval at rest.
	for end := time.Now().Add(10 * every); time.Now().Before(end); {
		r.touch()
		time.Sleep(every / 10)
	}
	if n := r.releases.Load(); n != 1 {
		t.Fatalf("%d releases while work went on, want 1", n)
	}
	waitReleases(t, r, 2)
}

func TestRestWaitsForARequestInFlight(t *testing.T) {
	r := startRest(t, nil)

	release := make(chan struct{})
	srv := httptest.NewServer(r.handler(http.HandlerFunc(
		func(w http.ResponseWriter, req *http.Request) { <-release })))
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.Get(srv.URL); err == nil {
			resp.Body.Close()
		}
	}()
	for r.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	before := r.releases.Load()
	time.Sleep(6 * every)
	if n := r.releases.Load(); n != before {
		t.Fatalf("%d releases while a request was in flight", n-before)
	}
	close(release)
	<-done
	waitReleases(t, r, 2)
}
