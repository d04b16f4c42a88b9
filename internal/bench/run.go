package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// bencher is one run: its options, its name part and its results.
type bencher struct {
	o      Options
	run    string
	tmp    string
	report *Report
	// cpu reads the CPU time of this process and the local servers.
	cpu *cpuMeter
}

// Run measures every phase of o (all of them by default) and returns the
// report, with the points that failed named in its Errors and joined into
// the error. Each point that fails leaves its row empty; the others are
// still measured.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(tmp)

	r := newReport(o)
	r.Run = runID()
	b := &bencher{o: o, run: r.Run, tmp: tmp, report: r,
		cpu: newCPUMeter(o)}
	if err := checkServices(ctx, o); err != nil {
		return nil, err
	}
	r.Machine = describeMachine(ctx, o)
	fmt.Fprintf(o.Progress, "machine: %s\n", r.Machine)

	for _, ph := range []struct {
		name    string
		measure func(context.Context)
	}{
		{PhaseCeiling, b.measureCeiling},
		{PhaseFloor, b.measureFloor},
		{PhaseIngress, b.measureIngress},
		{PhaseDispatch, b.measureDispatch},
		{PhaseRoundTrip, b.measureRoundTrip},
		{PhaseEmbedded, b.measureEmbedded},
	} {
		if o.runs(ph.name) {
			ph.measure(ctx)
		}
	}
	r.Took = time.Since(r.Started)
	return r, r.err()
}

// measurement measures one point and sums it up in a progress line.
type measurement func(ctx context.Context) (string, error)

func (b *bencher) measureCeiling(ctx context.Context) {
	r := b.report
	for _, c := range Concurrencies {
		name := fmt.Sprintf("raw publish c=%d", c)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			t, err := b.rawPublish(ctx, c)
			r.Ceiling.Publish[c] = t
			return throughputLine(t), err
		})
	}
	b.point(ctx, "raw consume", func(ctx context.Context) (string, error) {
		d, err := b.rawConsume(ctx)
		r.Ceiling.Consume = d
		return drainLine(d), err
	})
}

func (b *bencher) measureFloor(ctx context.Context) {
	r := b.report
	for _, c := range Concurrencies {
		name := fmt.Sprintf("floor ingress c=%d", c)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			t, err := b.floorIngress(ctx, c)
			r.Floor.Ingress[c] = t
			return throughputLine(t), err
		})
	}
	for _, p := range Parallelisms {
		name := fmt.Sprintf("floor dispatch p=%d", p)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			d, err := b.floorDispatch(ctx, p)
			r.Floor.Dispatch[p] = d
			return drainLine(d), err
		})
	}
}

func (b *bencher) measureIngress(ctx context.Context) {
	r := b.report
	for _, c := range Concurrencies {
		name := fmt.Sprintf("ingress c=%d", c)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			t, err := b.ingress(ctx, onRabbit, c)
			r.Ingress[c] = t
			return throughputLine(t), err
		})
	}
}

func (b *bencher) measureDispatch(ctx context.Context) {
	r := b.report
	for _, p := range Parallelisms {
		name := fmt.Sprintf("dispatch p=%d", p)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			d, err := b.dispatch(ctx, p)
			r.Dispatch[p] = d
			return drainLine(d), err
		})
	}
}

func (b *bencher) measureRoundTrip(ctx context.Context) {
	b.point(ctx, "submit-to-stored", func(ctx context.Context) (string, error) {
		rt, err := b.roundTrip(ctx, onRabbit)
		b.report.RoundTrip = &rt
		return roundTripLine(rt), err
	})
}

func (b *bencher) measureEmbedded(ctx context.Context) {
	r := b.report
	for _, c := range Concurrencies {
		name := fmt.Sprintf("embedded ingress c=%d", c)
		b.point(ctx, name, func(ctx context.Context) (string, error) {
			t, err := b.ingress(ctx, embedded, c)
			r.EmbeddedIngress[c] = t
			return throughputLine(t), err
		})
	}
	name := "embedded submit-to-stored"
	b.point(ctx, name, func(ctx context.Context) (string, error) {
		rt, err := b.roundTrip(ctx, embedded)
		r.EmbeddedRoundTrip = &rt
		return roundTripLine(rt), err
	})
}

// pointSlack is how much longer than its windows and drain timeout one
// point may take (stacks starting and closing, pre-publishing) before it
// is given up.
const pointSlack = time.Minute

// point measures one point, notes its progress and keeps its error. A
// point that hangs (a service gone mid-run) is cut off after its windows,
// its drain timeout and pointSlack.
func (b *bencher) point(ctx context.Context, name string,
	measure measurement) {
	limit := b.o.Warmup + b.o.Duration + b.o.DrainTimeout + pointSlack
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	line, err := measure(ctx)
	if err != nil {
		b.report.Errors = append(b.report.Errors, fmt.Sprintf("%s: %v",
			name, err))
		fmt.Fprintf(b.o.Progress, "%-28s failed: %v\n", name, err)
		return
	}
	fmt.Fprintf(b.o.Progress, "%-28s %s (%.1fs)\n", name, line,
		time.Since(start).Seconds())
}

// tempDir is the folder of a measurement's config and data.
func (b *bencher) tempDir(s scratch) string {
	return filepath.Join(b.tmp, s.ns)
}

// dropTopology deletes s's exchange and queues; a failure is logged, not
// fatal to the run.
func (b *bencher) dropTopology(s scratch) {
	if err := s.dropTopology(b.o.AMQPURL); err != nil {
		b.o.Logger.Warn("bench clean-up", "namespace", s.ns, "err", err)
	}
}

// dropTasks deletes the Redis keys of s's events 1 to n.
func (b *bencher) dropTasks(s scratch, n int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.dropTasks(ctx, b.o.RedisURL, n); err != nil {
		b.o.Logger.Warn("bench clean-up", "namespace", s.ns, "err", err)
	}
}

func throughputLine(t Throughput) string {
	return fmt.Sprintf("%.0f/s p50 %s p99 %s (%d in %.1fs)", t.Rate(),
		formatDuration(t.Latency.P50()), formatDuration(t.Latency.P99()),
		t.Count, t.Elapsed.Seconds())
}

func drainLine(d Drain) string {
	return fmt.Sprintf("%.0f/s (%d of %d in %.2fs, %d repeated)", d.Rate(),
		d.Distinct, d.Events, d.Span.Seconds(), d.Repeats)
}

func roundTripLine(rt RoundTrip) string {
	return fmt.Sprintf("stored p50 %s p99 %s, 202 p50 %s (%d runs)",
		formatDuration(rt.Stored.P50()), formatDuration(rt.Stored.P99()),
		formatDuration(rt.Accepted.P50()), len(rt.Stored))
}

// err joins the report's errors.
func (r *Report) err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	errs := make([]error, len(r.Errors))
	for i, e := range r.Errors {
		errs[i] = errors.New(e)
	}
	return fmt.Errorf("bench: %d point(s) failed: %w", len(errs),
		errors.Join(errs...))
}
