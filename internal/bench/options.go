package bench

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
)

// Defaults of Options, sized so that a full run takes about a minute and
// a half on a 2-core machine.
const (
	AMQPURLDefault  = "amqp://guest:guest@127.0.0.1:5672/"
	RedisURLDefault = "redis://127.0.0.1:6379/0"
	// DurationDefault is the measuring window of each throughput point.
	DurationDefault = 5 * time.Second
	// WarmupDefault runs before each window and is not counted.
	WarmupDefault = 500 * time.Millisecond
	// EventsDefault is how many events each dispatch point drains.
	EventsDefault = 10000
	// RunsDefault is how many posts each submit-to-stored point times.
	RunsDefault = 300
	// DrainTimeoutDefault bounds one dispatch point; what was delivered
	// by then is reported, marked incomplete.
	DrainTimeoutDefault = 30 * time.Second
)

// The phases of a run, in the order Run measures them; Options.Only names
// a subset.
const (
	PhaseCeiling   = "ceiling"
	PhaseFloor     = "floor"
	PhaseIngress   = "ingress"
	PhaseDispatch  = "dispatch"
	PhaseRoundTrip = "roundtrip"
	PhaseEmbedded  = "embedded"
)

// Phases lists every phase in order.
var Phases = []string{PhaseCeiling, PhaseFloor, PhaseIngress,
	PhaseDispatch, PhaseRoundTrip, PhaseEmbedded}

// Concurrencies are the publisher and HTTP client counts of the ceiling
// and ingress points; Parallelisms the Trigger parallelism of the
// dispatch points.
var (
	Concurrencies = []int{1, 16, 64}
	Parallelisms  = []int{1, 10, 100}
)

// ConsumePrefetch is the prefetch of the raw consumer, Ferry's default
// (rabbitmq.PrefetchDefault).
const ConsumePrefetch = 100

// Options configure Run. Zero fields take the defaults above.
type Options struct {
	AMQPURL  string
	RedisURL string
	Duration time.Duration
	Warmup   time.Duration
	Events   int
	Runs     int
	// DrainTimeout bounds each dispatch point.
	DrainTimeout time.Duration
	// Only, when not empty, names the phases to run (see Phases).
	Only []string
	// Logger gets the stacks' logs and the run's progress; nil means
	// warnings and errors to stderr.
	Logger *slog.Logger
	// Progress, when set, gets one line per point as it is measured.
	Progress io.Writer
}

// OptionsFromEnv returns Options with the service URLs from FERRY_AMQP_URL
// and FERRY_REDIS_URL, else the loopback defaults.
func OptionsFromEnv() Options {
	return Options{
		AMQPURL:  envOr("FERRY_AMQP_URL", AMQPURLDefault),
		RedisURL: envOr("FERRY_REDIS_URL", RedisURLDefault),
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// withDefaults fills in the zero fields, or names the first bad one.
func (o Options) withDefaults() (Options, error) {
	setS := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setS(&o.AMQPURL, AMQPURLDefault)
	setS(&o.RedisURL, RedisURLDefault)
	if o.Duration <= 0 {
		o.Duration = DurationDefault
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Events == 0 {
		o.Events = EventsDefault
	}
	if o.Runs == 0 {
		o.Runs = RunsDefault
	}
	if o.Events < 2 || o.Runs < 1 {
		return o, fmt.Errorf("bench options: need at least 2 events and "+
			"1 run, got %d and %d", o.Events, o.Runs)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DrainTimeoutDefault
	}
	for _, p := range o.Only {
		if !slices.Contains(Phases, p) {
			return o, fmt.Errorf("bench options: unknown phase %q (known: %s)",
				p, strings.Join(Phases, ", "))
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr,
			&slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o, nil
}

// runs reports whether phase is to be measured.
func (o Options) runs(phase string) bool {
	return len(o.Only) == 0 || slices.Contains(o.Only, phase)
}
