package runner

import (
	"testing"
	"time"
)

// BenchmarkBurst200 sends 200 concurrent requests of 100 ms each to a
// function with max scale 4 and container concurrency 10, from zero, and
// reports the wall time of the burst beside the ideal 200 × 100 ms / (4 ×
// 10) = 500 ms, and the most instances seen at once. Every request must
// succeed and no instance may carry more than 10. This is the runner
// alone; through the Broker the dispatcher's parallelism also counts.
func BenchmarkBurst200(b *testing.B) {
	const n, sleep, maxScale, limit = 200, 100, 4, 10
	fn := withScale(httpProject(b, "busy", busyHandle), -1, maxScale, limit)
	r, _ := newRunner(b, Params{IdleTimeout: 50 * time.Millisecond}, fn)
	f := r.fns["busy"]
	atZero := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.live) == 0
	}

	var total time.Duration
	peak := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		waitFor(b, 10*time.Second, "at zero", atZero)
		w := watchPeak(r, "busy")
		b.StartTimer()

		begin := time.Now()
		reps, errs := burst(r, "busy", "/?sleep=100", n)
		total += time.Since(begin)

		b.StopTimer()
		p, _ := w.finish()
		peak = max(peak, p)
		for i, err := range errs {
			if err != nil {
				b.Fatalf("request %d: %v", i, err)
			}
			if reps[i].Peak > limit {
				b.Fatalf("an instance carried %d at once, above %d",
					reps[i].Peak, limit)
			}
		}
	}
	if peak > maxScale {
		b.Fatalf("%d instances at once, above max scale %d", peak, maxScale)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "burst-ms")
	b.ReportMetric(float64(n*sleep/(maxScale*limit)), "ideal-ms")
	b.ReportMetric(float64(peak), "peak-instances")
}
