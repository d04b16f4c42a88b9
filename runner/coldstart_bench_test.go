package runner

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkColdStart measures cold starts from zero: a CloudEvent sent to
// a built function that has no instance, until its reply is read. Between
// runs the function scales to zero (10 ms idle) and its process exits. It
// reports the p50 and p99 of the runs; `go test -run '^$' -bench
// ColdStart -benchtime 50x ./runner` gives them over 50 cold starts.
func BenchmarkColdStart(b *testing.B) {
	echo := project(b, "echo", echoHandle)
	r, _ := newRunner(b, Params{IdleTimeout: 10 * time.Millisecond}, echo)
	if err := r.Build(context.Background()); err != nil {
		b.Fatal(err)
	}
	f := r.fns["echo"]
	atZero := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.live) == 0 && len(f.ready) == 0
	}

	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		waitFor(b, 10*time.Second, "at zero", atZero)
		b.StartTimer()

		begin := time.Now()
		mustSend(b, r, "echo", "test.ping", "cold-"+string(rune('a'+i%26)))
		took = append(took, time.Since(begin))
	}
	b.StopTimer()

	if s := statusOf(b, r, "echo"); s.ColdStarts != b.N {
		b.Fatalf("%d cold starts for %d runs, want every run cold",
			s.ColdStarts, b.N)
	}
	slices.Sort(took)
	pct := func(p int) float64 {
		return float64(took[(len(took)-1)*p/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(99), "p99-ms")
}
