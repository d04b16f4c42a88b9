package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// op is one operation of a load: seq numbers the operations of the load
// from 1, uniquely across its workers.
type op func(ctx context.Context, seq int64) error

// Throughput is what a load achieved in its measuring window.
type Throughput struct {
	// Count is the operations that completed within the window.
	Count   int
	Elapsed time.Duration
	// Latency holds the duration of each of them.
	Latency Latencies
	// Issued is every operation started, warm-up included, also when
	// the load failed: what a clean-up must remove.
	Issued int64
	// CPU is what the processes used during the window.
	CPU CPU
}

// Rate is operations per second.
func (t Throughput) Rate() float64 {
	if t.Elapsed <= 0 {
		return 0
	}
	return float64(t.Count) / t.Elapsed.Seconds()
}

// Phases of a load window.
const (
	loadWarming int32 = iota
	loadMeasuring
	loadDone
)

// drive runs c workers, each calling f in a loop, for warmup and then a
// window of d. It counts the calls that end within the window, whenever
// they began, and returns at the first error. meter (nil for none) reads
// the CPU time at the window's start and end.
func drive(ctx context.Context, c int, warmup, d time.Duration,
	meter *cpuMeter, f op) (Throughput, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		phase  atomic.Int32
		seq    atomic.Int64
		wg     sync.WaitGroup
		errOne sync.Once
		first  error
		lats   = make([]Latencies, c)
	)
	fail := func(err error) {
		errOne.Do(func() { first = err })
		cancel()
	}
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Load() != loadDone && ctx.Err() == nil {
				start := time.Now()
				if err := f(ctx, seq.Add(1)); err != nil {
					if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
						fail(err)
					}
					return
				}
				if phase.Load() == loadMeasuring {
					lats[w] = append(lats[w], time.Since(start))
				}
			}
		}()
	}

	if !pause(ctx, warmup) {
		wg.Wait()
		return Throughput{Issued: seq.Load()}, loadError(ctx, first)
	}
	cpu0 := meter.read()
	phase.Store(loadMeasuring)
	began := time.Now()
	ok := pause(ctx, d)
	phase.Store(loadDone)
	elapsed := time.Since(began)
	cpu := meter.read().Sub(cpu0)
	wg.Wait()
	if !ok || first != nil {
		return Throughput{Issued: seq.Load()}, loadError(ctx, first)
	}

	t := Throughput{Elapsed: elapsed, Issued: seq.Load(), CPU: cpu}
	for _, l := range lats {
		t.Latency = append(t.Latency, l...)
	}
	t.Count = len(t.Latency)
	return t, nil
}

// fanOut makes n calls of f over c workers, as fast as they go, and
// returns the first error.
func fanOut(ctx context.Context, c, n int, f op) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		seq    atomic.Int64
		wg     sync.WaitGroup
		errOne sync.Once
		first  error
	)
	for range min(c, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := seq.Add(1); i <= int64(n) && ctx.Err() == nil; i = seq.Add(1) {
				if err := f(ctx, i); err != nil {
					errOne.Do(func() { first = err })
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// pause waits d, or reports false when ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func loadError(ctx context.Context, first error) error {
	if first != nil {
		return first
	}
	return fmt.Errorf("load stopped: %w", context.Cause(ctx))
}
