package bench

import (
	"math"
	"slices"
	"time"
)

// Latencies are the durations of measured operations.
type Latencies []time.Duration

// Quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method:
// the smallest latency that at least q of them do not exceed. It is 0
// for no latencies.
func (l Latencies) Quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// P50 is the median.
func (l Latencies) P50() time.Duration { return l.Quantile(0.50) }

// P99 is the 99th percentile.
func (l Latencies) P99() time.Duration { return l.Quantile(0.99) }
