package runner

import (
	"testing"
	"time"

	"github.com/ferryfn/ferry/funcyaml"
)

func ptr[T any](v T) *T { return &v }

func TestScalePolicyFillsKnativeDefaults(t *testing.T) {
	tests := []struct {
		name  string
		scale *funcyaml.Scale
		limit int64
		want  scalePolicy
	}{
		{
			name: "nothing given",
			want: scalePolicy{max: MaxScaleDefault, metric: "concurrency",
				target: 100, utilization: 70},
		},
		{
			name:  "container concurrency is the target",
			limit: 10,
			want: scalePolicy{max: MaxScaleDefault, metric: "concurrency",
				target: 10, utilization: 70, limit: 10},
		},
		{
			name:  "a target above the limit is cut to it",
			scale: &funcyaml.Scale{Target: ptr(50.0)},
			limit: 4,
			want: scalePolicy{max: MaxScaleDefault, metric: "concurrency",
				target: 4, utilization: 70, limit: 4},
		},
		{
			name: "every field",
			scale: &funcyaml.Scale{Min: ptr(int64(1)), Max: ptr(int64(3)),
				Metric: "concurrency", Target: ptr(5.0),
				Utilization: ptr(50.0)},
			limit: 8,
			want: scalePolicy{min: 1, max: 3, metric: "concurrency",
				target: 5, utilization: 50, limit: 8},
		},
		{
			name:  "rps defaults to 200 whatever the limit",
			scale: &funcyaml.Scale{Metric: "rps"},
			limit: 2,
			want: scalePolicy{max: MaxScaleDefault, metric: "rps",
				target: 200, utilization: 70, limit: 2},
		},
		{
			name:  "max 0 is no limit: the runner's cap",
			scale: &funcyaml.Scale{Max: ptr(int64(0))},
			want: scalePolicy{max: MaxScaleDefault, metric: "concurrency",
				target: 100, utilization: 70},
		},
		{
			name:  "min above the cap raises max",
			scale: &funcyaml.Scale{Min: ptr(int64(12))},
			want: scalePolicy{min: 12, max: 12, metric: "concurrency",
				target: 100, utilization: 70},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &funcyaml.Function{}
			spec.Deploy.Options.Scale = tt.scale
			if tt.limit > 0 {
				spec.Deploy.Options.Resources = &funcyaml.Resources{
					Limits: &funcyaml.ResourceLimits{
						Concurrency: ptr(tt.limit)}}
			}
			if got := newScalePolicy(spec, MaxScaleDefault); got != tt.want {
				t.Errorf("policy %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDesiredInstancesIsCeilOfDemandOverTargetTimesUtilization(t *testing.T) {
	// limit 10, utilization 70: 7 requests per instance.
	p := scalePolicy{min: 0, max: 4, metric: "concurrency", target: 10,
		utilization: 70, limit: 10}
	for _, tt := range []struct {
		demand float64
		want   int
	}{
		{0, 0}, {0.5, 1}, {1, 1}, {7, 1}, {7.5, 2}, {14, 2}, {15, 3},
		{21, 3}, {22, 4}, {200, 4},
	} {
		if got := p.desired(tt.demand); got != tt.want {
			t.Errorf("desired(%g) = %d, want %d", tt.demand, got, tt.want)
		}
	}

	p.min = 2
	if got := p.desired(0); got != 2 {
		t.Errorf("desired(0) with min 2 = %d, want 2", got)
	}
}

func TestScaleWindowKeepsThePeakOfTheWindow(t *testing.T) {
	w := newScaleWindow(10*time.Second, 5)
	t0 := time.Unix(1000, 0)

	if got := w.stable(t0); got != 0 {
		t.Fatalf("stable of an empty window = %d, want 0", got)
	}
	w.observe(t0, 4)
	w.observe(t0.Add(3*time.Second), 1)
	for _, tt := range []struct {
		at   time.Duration
		want int
	}{
		{0, 4}, {9 * time.Second, 4}, {10 * time.Second, 1},
		{12 * time.Second, 1}, {13 * time.Second, 0},
	} {
		if got := w.stable(t0.Add(tt.at)); got != tt.want {
			t.Errorf("stable at +%s = %d, want %d", tt.at, got, tt.want)
		}
	}

	w.observe(t0, 9) // more than max: capped
	if got := w.stable(t0); got != 5 {
		t.Errorf("stable after observing 9 of 5 = %d, want 5", got)
	}
}

func TestArrivalRateCountsTheLastSecond(t *testing.T) {
	var a arrivalRate
	t0 := time.Unix(2000, 0)
	for i := range 30 {
		a.add(t0.Add(time.Duration(i) * 10 * time.Millisecond)) // 0-290ms
	}
	if got := a.perSecond(t0.Add(300 * time.Millisecond)); got != 30 {
		t.Errorf("rate right after 30 arrivals = %g, want 30", got)
	}
	if got := a.perSecond(t0.Add(1050 * time.Millisecond)); got != 20 {
		t.Errorf("rate 1.05 s later = %g, want 20 (the first 100 ms gone)",
			got)
	}
	if got := a.perSecond(t0.Add(5 * time.Second)); got != 0 {
		t.Errorf("rate 5 s later = %g, want 0", got)
	}
}

func TestRPSMetricScalesOnArrivals(t *testing.T) {
	spec := &funcyaml.Function{}
	spec.Deploy.Options.Scale = &funcyaml.Scale{Metric: "rps",
		Target: ptr(10.0), Utilization: ptr(100.0), Max: ptr(int64(5))}
	r := &Runner{idleTimeout: time.Second, maxScale: MaxScaleDefault}
	f := &function{r: r, policy: newScalePolicy(spec, MaxScaleDefault)}

	now := time.Now()
	for range 25 {
		f.arrivals.add(now)
	}
	if got := f.wantLocked(now); got != 3 {
		t.Errorf("instances for 25 rps at target 10 = %d, want 3", got)
	}
	if got := f.wantLocked(now.Add(2 * time.Second)); got != 0 {
		t.Errorf("instances after the arrivals left the window = %d, "+
			"want 0", got)
	}
}
