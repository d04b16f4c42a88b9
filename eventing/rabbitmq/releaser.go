package rabbitmq

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// releaser releases claims whose Claim failed (see Queue.claim). Such a
// claim may have reached the store with its answer lost, or may still be
// on its way (queued in the store's client, held up in the network) and
// land later; left there, it would hold every repost of its event off
// until it expires. So each is released at once and then again after the
// pauses of releaseGaps, until it expires, after which it cannot hold the
// key even if it lands. While the store fails, releases wait for it.
//
// One goroutine does this for every claim of a Queue, from a list of a few
// dozen bytes per claim: a long store outage with producers reposting
// makes tens of thousands of them, most of which never reached the store,
// and some of which land just after it comes back.
type releaser struct {
	dedupe  Deduper
	timeout time.Duration
	log     *slog.Logger
	stop    <-chan struct{}

	mu      sync.Mutex
	pending []unknownClaim
	dropped bool // a claim was not taken for want of room; logged once
	wake    chan struct{}
}

// unknownClaim is a claim of unknown outcome, when its next release is
// due and how many were sent.
type unknownClaim struct {
	c     claim
	id    string // the event's id, for the log
	next  time.Time
	tries int
}

// releaseGaps are the pauses after each release of a claim: short at first
// for a claim that lands a moment late, then steady until it expires
// (ClaimTTL after it was made): nine or ten releases in all.
var releaseGaps = []time.Duration{100 * time.Millisecond,
	400 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second,
	5 * time.Second}

// maxUnknownClaims bounds the claims a releaser keeps (about 200 bytes
// each); beyond it a claim is left to expire.
const maxUnknownClaims = 200_000

// releaseConcurrency is how many releases run at once: the store's client
// sends those in flight together (go-redis's automatic pipeline).
const releaseConcurrency = 64

// releaseTick is how often run looks for releases that are due.
const releaseTick = 50 * time.Millisecond

func newReleaser(d Deduper, timeout time.Duration, log *slog.Logger,
	stop <-chan struct{}) *releaser {
	r := &releaser{dedupe: d, timeout: timeout, log: log, stop: stop,
		wake: make(chan struct{}, 1)}
	go r.run()
	return r
}

// add schedules the releases of c, of the event with id, the first now.
func (r *releaser) add(c claim, id string) {
	r.mu.Lock()
	if len(r.pending) >= maxUnknownClaims {
		if !r.dropped {
			r.log.Warn("too many claims of unknown outcome: the rest expire",
				"max", maxUnknownClaims)
		}
		r.dropped = true
		r.mu.Unlock()
		return
	}
	r.pending = append(r.pending, unknownClaim{c: c, id: id,
		next: time.Now()})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// size is how many claims have releases to come.
func (r *releaser) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// run sends the releases that are due until stop is closed. With none to
// come it sleeps until add wakes it: an idle process has no timer firing.
func (r *releaser) run() {
	t := time.NewTimer(releaseTick)
	defer t.Stop()
	for {
		var tick <-chan time.Time
		if r.size() > 0 {
			t.Reset(releaseTick)
			tick = t.C
		}
		select {
		case <-r.stop:
			return
		case <-tick:
		case <-r.wake:
		}
		r.releaseDue()
	}
}

// releaseDue sends the releases that are due, releaseConcurrency at a
// time, and stops at the first group with a failure: the store is likely
// down, and those not sent stay due.
func (r *releaser) releaseDue() {
	now := time.Now()
	r.mu.Lock()
	var due []unknownClaim
	for _, u := range r.pending {
		if !u.next.After(now) {
			due = append(due, u)
		}
	}
	r.mu.Unlock()

	sent := map[string]bool{} // by token
	for len(due) > 0 {
		group := due[:min(len(due), releaseConcurrency)]
		due = due[len(group):]
		errs := make([]error, len(group))
		var wg sync.WaitGroup
		for i, u := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(),
					r.timeout)
				defer cancel()
				errs[i] = r.dedupe.Release(ctx, u.c.key, u.c.task, u.c.token)
			}()
		}
		wg.Wait()
		failed := false
		for i, u := range group {
			if errs[i] != nil {
				failed = true
				r.log.Debug("release claim", "id", u.id, "err", errs[i])
				continue
			}
			sent[u.c.token] = true
		}
		if failed {
			break
		}
	}

	now = time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.pending[:0]
	for _, u := range r.pending {
		switch {
		case !now.Before(u.c.expires):
			continue // it cannot hold the key any more
		case sent[u.c.token]:
			u.next = now.Add(releaseGaps[min(u.tries, len(releaseGaps)-1)])
			u.tries++
		}
		kept = append(kept, u)
	}
	clear(r.pending[len(kept):])
	r.pending = kept
}
