package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The targets of issue 4 on a 2-core machine.
const (
	// TargetIngressRatio: ingress at concurrency 64 reaches at least this
	// share of the raw publish ceiling at 64.
	TargetIngressRatio = 0.9
	// TargetDispatchRatio: dispatch at parallelism 100 reaches at least
	// this share of the raw consume ceiling.
	TargetDispatchRatio = 0.8
	// TargetStoredP50 bounds the median submit-to-result-stored latency.
	TargetStoredP50 = 1500 * time.Microsecond
)

// The points the targets are set at.
const (
	targetConcurrency = 64
	targetParallelism = 100
)

// Report is the outcome of a Run. Maps are keyed by concurrency or
// parallelism; a point that was not measured is missing.
type Report struct {
	// Run names the run: its namespaces are ferry-bench-<Run>-<point>.
	Run     string
	Machine Machine
	Started time.Time
	Took    time.Duration
	// Duration, Warmup, Events and Runs are the options of the run.
	Duration, Warmup time.Duration
	Events, Runs     int

	Ceiling  Ceiling
	Floor    Floor
	Ingress  map[int]Throughput
	Dispatch map[int]Drain
	// RoundTrip is nil when not measured.
	RoundTrip *RoundTrip

	EmbeddedIngress   map[int]Throughput
	EmbeddedRoundTrip *RoundTrip

	// Errors name the points that failed, with why.
	Errors []string
}

func newReport(o Options) *Report {
	return &Report{
		Started:  time.Now(),
		Duration: o.Duration, Warmup: o.Warmup,
		Events: o.Events, Runs: o.Runs,
		Ceiling: Ceiling{Publish: map[int]Throughput{}},
		Floor: Floor{Ingress: map[int]Throughput{},
			Dispatch: map[int]Drain{}},
		Ingress:         map[int]Throughput{},
		Dispatch:        map[int]Drain{},
		EmbeddedIngress: map[int]Throughput{},
	}
}

// Floor is what HTTP in front of RabbitMQ reaches with none of Ferry in
// it (see floor.go), keyed as Report.Ingress and Report.Dispatch.
type Floor struct {
	Ingress  map[int]Throughput
	Dispatch map[int]Drain
}

// row is one line of the table; empty cells print as "–". The CPU time
// of the processes over span, when measured, goes to the CPU table.
type row struct {
	id, what, setting, rate, p50, p99, ratio, target string

	cpu    CPU
	events int
	span   time.Duration
}

// Markdown renders the report: the machine and the settings in a few
// lines, then one table with a row per point, then the failed points.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s.\n\n", r.Started.UTC().Format(
		"2006-01-02 15:04 MST"), r.Machine)
	fmt.Fprintf(&b, "Each throughput point: %s warm-up, then a %s window; "+
		"dispatch drains %s events, the raw consume %s; submit-to-stored "+
		"times %d posts after %d warm-ups. Message: %d B of JSON data",
		r.Warmup, r.Duration, formatCount(r.Events),
		formatCount(consumeFactor*r.Events), r.Runs, roundTripWarmups,
		BodySize)
	if n := r.Ceiling.MessageBytes; n > 0 {
		fmt.Fprintf(&b, ", about %d B with its headers", n)
	}
	fmt.Fprintf(&b, ". Whole run: %.0f s.\n\n", r.Took.Seconds())
	b.WriteString("| | measured | setting | events/s | p50 | p99 | " +
		"ratio to ceiling | target |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---|\n")
	for _, rw := range r.rows() {
		cells := []string{rw.id, rw.what, rw.setting, rw.rate, rw.p50,
			rw.p99, rw.ratio, rw.target}
		for i, c := range cells {
			if c == "" {
				cells[i] = "–"
			}
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	r.writeBounds(&b)
	writeCPU(&b, r.rows())
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\nFAILED: %s\n", e)
	}
	return b.String()
}

func (r *Report) rows() []row {
	var rows []row
	for _, c := range Concurrencies {
		if t, ok := r.Ceiling.Publish[c]; ok {
			rows = append(rows, throughputRow("a", "RabbitMQ raw: "+
				"persistent publish + confirm (amqp091-go, 4 channels)",
				fmt.Sprintf("c=%d", c), t))
		}
	}
	if d := r.Ceiling.Consume; d.Events > 0 {
		rows = append(rows, drainRow("a", "RabbitMQ raw: consume + ack "+
			"(prefetch 100, 1 consumer)", "", d))
	}
	rows = append(rows, r.publishRows("f", "Floor, no Ferry: HTTP → bare "+
		"net/http handler → raw publish + confirm → 202", r.Floor.Ingress,
		false)...)
	rows = append(rows, r.consumeRows("f", "Floor, no Ferry: raw consume → "+
		"HTTP POST to the trivial subscriber → ack", r.Floor.Dispatch,
		false)...)
	rows = append(rows, r.publishRows("b", "Ferry ingress: binary CloudEvent "+
		"over HTTP → 202 (RabbitMQ + Redis)", r.Ingress, true)...)
	rows = append(rows, r.consumeRows("c", "Ferry dispatch → trivial "+
		"subscriber (RabbitMQ + Redis)", r.Dispatch, true)...)
	if rt := r.RoundTrip; rt != nil && len(rt.Stored) > 0 {
		rw := roundTripRow("d", "Ferry submit → result stored "+
			"(RabbitMQ + Redis, Redis polled)", *rt)
		rw.target = verdict("p50 ≤ "+formatDuration(TargetStoredP50),
			rt.Stored.P50() <= TargetStoredP50)
		rows = append(rows, rw, acceptedRow("d", *rt))
	}
	for _, c := range Concurrencies {
		if t, ok := r.EmbeddedIngress[c]; ok {
			rows = append(rows, throughputRow("emb", "ferry dev "+
				"(embedded bbolt): binary CloudEvent over HTTP → 202, "+
				"dispatcher running", fmt.Sprintf("c=%d", c), t))
		}
	}
	if rt := r.EmbeddedRoundTrip; rt != nil && len(rt.Stored) > 0 {
		rows = append(rows, roundTripRow("emb", "ferry dev (embedded "+
			"bbolt): submit → result stored (GET /v1/tasks polled)", *rt),
			acceptedRow("emb", *rt))
	}
	return rows
}

// publishRows are rows of HTTP posts by concurrency, each with its ratio
// to the raw publish at the same concurrency; with target, the one at
// targetConcurrency is judged against TargetIngressRatio.
func (r *Report) publishRows(id, what string, points map[int]Throughput,
	target bool) []row {
	var rows []row
	for _, c := range Concurrencies {
		t, ok := points[c]
		if !ok {
			continue
		}
		rw := throughputRow(id, what, fmt.Sprintf("c=%d", c), t)
		if ratio, ok := r.publishRatio(t, c); ok {
			rw.ratio = fmt.Sprintf("%.2f of raw publish c=%d", ratio, c)
			if target && c == targetConcurrency {
				rw.target = verdict(fmt.Sprintf("≥ %.2f",
					TargetIngressRatio), ratio >= TargetIngressRatio)
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

// consumeRows are rows of drains by parallelism, each with its ratio to
// the raw consume; with target, the one at targetParallelism is judged
// against TargetDispatchRatio (and missed unless every event came).
func (r *Report) consumeRows(id, what string, points map[int]Drain,
	target bool) []row {
	var rows []row
	for _, p := range Parallelisms {
		d, ok := points[p]
		if !ok {
			continue
		}
		rw := drainRow(id, what, fmt.Sprintf("p=%d", p), d)
		if ratio, ok := r.consumeRatio(d); ok {
			rw.ratio = fmt.Sprintf("%.2f of raw consume", ratio)
			if target && p == targetParallelism {
				rw.target = verdict(fmt.Sprintf("≥ %.2f",
					TargetDispatchRatio), ratio >= TargetDispatchRatio &&
					d.Complete())
			}
		}
		rows = append(rows, rw)
	}
	return rows
}

// publishRatio is t's rate over the raw publish's at concurrency c, when
// that was measured.
func (r *Report) publishRatio(t Throughput, c int) (float64, bool) {
	raw, ok := r.Ceiling.Publish[c]
	if !ok || raw.Rate() <= 0 {
		return 0, false
	}
	return t.Rate() / raw.Rate(), true
}

// consumeRatio is d's rate over the raw consume's, when that was
// measured.
func (r *Report) consumeRatio(d Drain) (float64, bool) {
	if raw := r.Ceiling.Consume.Rate(); raw > 0 {
		return d.Rate() / raw, true
	}
	return 0, false
}

func throughputRow(id, what, setting string, t Throughput) row {
	return row{id: id, what: what, setting: setting,
		rate: formatRate(t.Rate()), p50: formatDuration(t.Latency.P50()),
		p99: formatDuration(t.Latency.P99()),
		cpu: t.CPU, events: t.Count, span: t.Elapsed}
}

func drainRow(id, what, setting string, d Drain) row {
	if setting != "" {
		setting += ", "
	}
	setting += fmt.Sprintf("%s events", formatCount(d.Events))
	if !d.Complete() {
		setting += fmt.Sprintf(" (only %s came out)", formatCount(d.Distinct))
	}
	return row{id: id, what: what, setting: setting, rate: formatRate(d.Rate()),
		cpu: d.CPU, events: d.Distinct - 1, span: d.Span}
}

func roundTripRow(id, what string, rt RoundTrip) row {
	return row{id: id, what: what,
		setting: fmt.Sprintf("c=1, %d posts", len(rt.Stored)),
		p50:     formatDuration(rt.Stored.P50()),
		p99:     formatDuration(rt.Stored.P99())}
}

// acceptedRow shows the 202 latency of a round trip's posts.
func acceptedRow(id string, rt RoundTrip) row {
	return row{id: id, what: "… of which the POST until its 202",
		setting: fmt.Sprintf("c=1, %d posts", len(rt.Accepted)),
		p50:     formatDuration(rt.Accepted.P50()),
		p99:     formatDuration(rt.Accepted.P99())}
}

func verdict(target string, met bool) string {
	if met {
		return target + ": met"
	}
	return target + ": **missed**"
}

// formatDuration prints d in milliseconds, with two decimals below 10 ms.
func formatDuration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return ""
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.1f ms", ms)
	}
}

// formatRate prints a rate rounded to a whole number, in thousands.
func formatRate(r float64) string {
	if r <= 0 {
		return ""
	}
	return formatCount(int(r + 0.5))
}

// formatCount prints n with commas between thousands.
func formatCount(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
