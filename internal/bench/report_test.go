package bench

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestQuantileIsNearestRank(t *testing.T) {
	ms := func(v ...int) Latencies {
		var l Latencies
		for _, n := range v {
			l = append(l, time.Duration(n)*time.Millisecond)
		}
		return l
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // descending: Quantile must sort
	}
	tests := []struct {
		name string
		l    Latencies
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four is the second", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"max", ms(hundred...), 1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestFormatCountGroupsThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000",
		12345: "12,345", 1234567: "1,234,567"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestJSONBodyHasTheSizeAsked(t *testing.T) {
	if len(body) != BodySize {
		t.Fatalf("body is %d bytes, want %d", len(body), BodySize)
	}
	if !strings.HasPrefix(string(body), "{") || !strings.HasSuffix(string(body), "}") {
		t.Fatalf("body is not a JSON object: %.40s...", body)
	}
}

// sampleReport is a report with a ratio of 0.5 at ingress c=64, 0.85 at
// dispatch p=100 and a p50 of 2 ms.
func sampleReport() *Report {
	r := newReport(Options{Duration: time.Second, Events: 100, Runs: 3})
	tp := func(n int) Throughput {
		return Throughput{Count: n, Elapsed: time.Second,
			Latency: Latencies{time.Millisecond}}
	}
	for _, c := range Concurrencies {
		r.Ceiling.Publish[c] = tp(1000 * c)
		r.Ingress[c] = tp(500 * c)
	}
	r.Ceiling.Consume = Drain{Events: 400, Distinct: 400, Span: time.Second}
	// 99 intervals at 339.15/s against 399/s: 0.85.
	rate := 339.15
	span := time.Duration(99 / rate * float64(time.Second))
	for _, p := range Parallelisms {
		r.Dispatch[p] = Drain{Events: 100, Distinct: 100, Span: span}
	}
	r.RoundTrip = &RoundTrip{
		Stored:   Latencies{2 * time.Millisecond},
		Accepted: Latencies{time.Millisecond},
	}
	return r
}

func TestMarkdownJudgesEachTarget(t *testing.T) {
	md := sampleReport().Markdown()
	for _, want := range []string{
		"| b | Ferry ingress",
		"0.50 of raw publish c=64 | ≥ 0.90: **missed** |",
		"0.50 of raw publish c=1 | – |",
		"0.85 of raw consume | ≥ 0.80: met |",
		"| 2.00 ms | 2.00 ms | – | p50 ≤ 1.50 ms: **missed** |",
		"| 64,000 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "FAILED") {
		t.Errorf("a report without errors shows a failure:\n%s", md)
	}
}

func TestMarkdownMissesDispatchTargetWhenDrainIsIncomplete(t *testing.T) {
	r := sampleReport()
	d := r.Dispatch[targetParallelism]
	d.Distinct = 90
	r.Dispatch[targetParallelism] = d
	md := r.Markdown()
	if !strings.Contains(md, "(only 90 came out)") ||
		!strings.Contains(md, "≥ 0.80: **missed**") {
		t.Errorf("an incomplete drain is not marked as missed:\n%s", md)
	}
}

func TestDriveCountsTheWindowAndStopsAtTheFirstError(t *testing.T) {
	ctx := context.Background()
	tp, err := drive(ctx, 4, 20*time.Millisecond, 100*time.Millisecond, nil,
		func(ctx context.Context, seq int64) error {
			time.Sleep(time.Millisecond)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Count == 0 || tp.Count != len(tp.Latency) ||
		tp.Issued < int64(tp.Count) || tp.Elapsed < 100*time.Millisecond {
		t.Fatalf("throughput %+v: want counted latencies within the issued",
			tp)
	}

	boom := errors.New("boom")
	var calls atomic.Int64
	tp, err = drive(ctx, 4, 0, time.Minute, nil,
		func(ctx context.Context, seq int64) error {
			if calls.Add(1) == 10 {
				return boom
			}
			return nil
		})
	if !errors.Is(err, boom) {
		t.Fatalf("drive = %v, want the op's error", err)
	}
	if tp.Issued < 10 {
		t.Fatalf("issued %d after a failure at the 10th, want it kept for "+
			"the clean-up", tp.Issued)
	}
}

func TestFanOutMakesEachCallOnce(t *testing.T) {
	var seen [101]atomic.Int32
	err := fanOut(context.Background(), 8, 100,
		func(ctx context.Context, seq int64) error {
			seen[seq].Add(1)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("call %d made %d times", i, n)
		}
	}
	if seen[0].Load() != 0 {
		t.Fatal("seq starts at 1")
	}
}
