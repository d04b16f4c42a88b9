package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/eventing"
)

// shutdownGrace is how long `ferry dev` lets requests and deliveries in
// flight finish after SIGINT or SIGTERM.
const shutdownGrace = 10 * time.Second

func runDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devstack.Config
	fs.StringVar(&cfg.Addr, "addr", devstack.AddrDefault, "ingress listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", devstack.DataDirDefault,
		"where events, tasks, builds and function logs are kept")
	fs.StringVar(&cfg.FunctionsDir, "functions", devstack.FunctionsDirDefault,
		"folder whose sub-folders are kn func projects")
	fs.StringVar(&cfg.ConfigDir, "config", devstack.ConfigDirDefault,
		"folder of Broker and Trigger manifests")
	fs.StringVar(&cfg.Namespace, "namespace", devstack.NamespaceDefault,
		"namespace the Brokers and Triggers live in")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Second,
		"scale a function to zero after this long without requests")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "ferry dev:", err)
		return 2
	}
	cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "ferry dev:", err)
		return 1
	}
	printSummary(stdout, stack)

	<-ctx.Done()
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := stack.Close(sctx); err != nil {
		fmt.Fprintln(stderr, "ferry dev: shutdown:", err)
		return 1
	}
	return 0
}

// printSummary says where the ingress listens and what was found.
func printSummary(w io.Writer, s *devstack.Stack) {
	fmt.Fprintf(w, "Ferry dev: ingress on %s\n", s.URL())
	fmt.Fprintf(w, "  POST %s/v1/events       a CloudEvent\n", s.URL())
	fmt.Fprintf(w, "  POST %s/v1/tasks/{type} any body\n", s.URL())
	fmt.Fprintf(w, "  GET  %s/v1/tasks/{id}   a task's state\n", s.URL())
	fmt.Fprintf(w, "Functions:\n")
	if len(s.Functions) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, f := range s.Functions {
		fmt.Fprintf(w, "  %-12s %s\n", f.Name, f.Dir)
	}
	fmt.Fprintf(w, "Triggers:\n")
	for _, b := range s.Brokers {
		for _, t := range b.Triggers() {
			fmt.Fprintf(w, "  %-22s broker %s, filter %s -> %s\n", t.Name(),
				b.Name(), describeFilter(t.Spec.Spec.Filter), describeSubscriber(t))
		}
	}
	if len(s.Pings) > 0 {
		fmt.Fprintf(w, "Schedules:\n")
	}
	for _, p := range s.Pings {
		tz := p.Spec.Spec.Timezone
		if tz == "" {
			tz = "local time"
		}
		fmt.Fprintf(w, "  %-22s %q (%s), next %s\n", p.Spec.Name, p.Spec.Spec.Schedule,
			tz, p.Next(time.Now()).Format(time.RFC3339))
	}
}

func describeFilter(f *eventingv1.TriggerFilter) string {
	if f == nil || len(f.Attributes) == 0 {
		return "(all events)"
	}
	var parts []string
	for k, v := range f.Attributes {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func describeSubscriber(t *eventing.Trigger) string {
	s := t.Spec.Spec.Subscriber
	switch {
	case s.Ref != nil:
		return s.Ref.Kind + "/" + s.Ref.Name
	case s.URI != nil:
		return s.URI.String()
	}
	return "?"
}
