package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/ferryfn/ferry/internal/bench"
)

// runBench is `ferry bench`: Ferry measured against RabbitMQ's raw
// ceiling on this machine, printed as one markdown table (see
// docs/performance.md). Progress goes to stderr, the table to stdout.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.OptionsFromEnv()
	fs.StringVar(&o.AMQPURL, "amqp", o.AMQPURL,
		"RabbitMQ URL (env FERRY_AMQP_URL)")
	fs.StringVar(&o.RedisURL, "redis", o.RedisURL,
		"Redis URL (env FERRY_REDIS_URL)")
	fs.DurationVar(&o.Duration, "duration", bench.DurationDefault,
		"measuring window of each throughput point")
	fs.DurationVar(&o.Warmup, "warmup", bench.WarmupDefault,
		"warm-up before each window, not counted")
	fs.IntVar(&o.Events, "events", bench.EventsDefault,
		"events each dispatch point drains (the raw consume 4 times as many)")
	fs.IntVar(&o.Runs, "runs", bench.RunsDefault,
		"posts each submit-to-stored point times")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", bench.DrainTimeoutDefault,
		"longest wait for one dispatch point's events")
	only := fs.String("only", "", "comma-separated phases to run: "+
		strings.Join(bench.Phases, ", ")+" (default all)")
	cpuProfile := fs.String("cpuprofile", "",
		"write a CPU profile of the whole run to this file")
	level := fs.String("log-level", "warn",
		"log level of the measured stacks: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintf(stderr, "ferry bench: %v\n", err)
		return 2
	}
	o.Logger, o.Progress = log, stderr

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "ferry bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "ferry bench: cpu profile: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	report, err := bench.Run(ctx, o)
	if report != nil {
		fmt.Fprint(stdout, report.Markdown())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ferry bench: %v\n", err)
		return 1
	}
	return 0
}
