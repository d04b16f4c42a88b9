package devstack

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ferryfn/ferry/internal/idlememory"
)

// restCheckInterval is how often the process looks whether it is at rest.
// It hands its idle memory back after one whole interval with no HTTP
// request, no delivery and no function process, so 10 to 20 s after the
// last of them, and once per rest.
const restCheckInterval = 10 * time.Second

// rest hands idle memory back to the operating system when the process is
// at rest: right after start-up, and again after each spell of work once
// it is over (see internal/idlememory; on `ferry dev` with the example
// functions, 45-60 MB resident before, about 12-24 MB after). Work is an
// HTTP request of the ingress (from its start to its end), a delivery
// (each attempt resolves its subscriber) or a function process of the
// runner.
type rest struct {
	activity atomic.Uint64
	inFlight atomic.Int64 // HTTP requests being served
	releases atomic.Uint64
	atZero   func() bool // no function process; nil when there is none
	log      *slog.Logger
}

// touch notes work.
func (r *rest) touch() { r.activity.Add(1) }

// handler notes each request to h, at its start and at its end, and
// counts it in flight meanwhile: a slow upload or a long poll keeps the
// process from rest however long it lasts.
func (r *rest) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.touch()
		r.inFlight.Add(1)
		defer func() {
			r.inFlight.Add(-1)
			r.touch()
		}()
		h.ServeHTTP(w, req)
	})
}

// run releases idle memory now, then after each spell of work once a
// whole interval has passed without any, until ctx ends.
func (r *rest) run(ctx context.Context, every time.Duration) {
	r.release()
	seen, worked := r.activity.Load(), false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := r.activity.Load()
		if now != seen {
			seen, worked = now, true
			continue
		}
		if worked && r.inFlight.Load() == 0 &&
			(r.atZero == nil || r.atZero()) {
			r.release()
			worked = false
		}
	}
}

func (r *rest) release() {
	released, err := idlememory.Release()
	r.releases.Add(1)
	if err != nil {
		r.log.Warn("releasing idle memory", "err", err)
		return
	}
	r.log.Debug("released idle memory", "image_bytes", released.ImageBytes)
}
