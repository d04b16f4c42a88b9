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
	return runStack(devstack.RoleAll, devstack.AddrDefault, args, stdout, stderr)
}

// runIngress is `ferry ingress`: the HTTP API alone, publishing to RabbitMQ
// and serving tasks from Redis. Run as many as needed.
func runIngress(args []string, stdout, stderr io.Writer) int {
	return runStack(devstack.RoleIngress, devstack.AddrDefault, args, stdout, stderr)
}

// runDispatch is `ferry dispatch`: consumers of every Trigger's queue, the
// functions they deliver to, and task records into Redis. Run as many as
// needed; each also serves the HTTP API (health, tasks) on --addr.
func runDispatch(args []string, stdout, stderr io.Writer) int {
	return runStack(devstack.RoleDispatch, "127.0.0.1:8081", args, stdout, stderr)
}

// runStack parses the flags shared by dev, ingress and dispatch, runs the
// stack in role until SIGINT or SIGTERM, then shuts it down gracefully: no
// new requests, those in flight finished, connections closed.
func runStack(role devstack.Role, addr string, args []string,
	stdout, stderr io.Writer) int {
	name := "ferry " + string(role)
	if role == devstack.RoleAll {
		name = "ferry dev"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// A ferry process runs for long and rests often: it hands back the
	// memory it holds but does not use at rest (devstack/rest.go).
	cfg := devstack.Config{Role: role, ReleaseIdleMemory: true}
	fs.StringVar(&cfg.Addr, "addr", addr, "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data-dir", devstack.DataDirDefault,
		"where events, tasks, builds and function logs are kept")
	brokerHelp := "RabbitMQ URL (amqp://user:pass@host:5672/vhost); empty: " +
		"the embedded store (env FERRY_BROKER_URL)"
	redisHelp := "Redis URL for the task store (redis://host:6379/0); " +
		"empty: the data directory (env FERRY_REDIS_URL)"
	if role != devstack.RoleAll {
		brokerHelp = "RabbitMQ URL (amqp://user:pass@host:5672/vhost), " +
			"required (env FERRY_BROKER_URL)"
		redisHelp = "Redis URL for the task store (redis://host:6379/0), " +
			"required (env FERRY_REDIS_URL)"
	}
	functionsNote := ""
	if role == devstack.RoleIngress {
		// Accepted, so that every process can share one set of flags.
		functionsNote = " (unused: ferry ingress runs no function)"
	}
	fs.StringVar(&cfg.FunctionsDir, "functions", devstack.FunctionsDirDefault,
		"folder whose sub-folders are kn func projects"+functionsNote)
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Second,
		"scale a function to zero after this long without requests"+
			functionsNote)
	fs.StringVar(&cfg.ConfigDir, "config", devstack.ConfigDirDefault,
		"folder of Broker, Trigger and PingSource manifests")
	fs.StringVar(&cfg.Namespace, "namespace", devstack.NamespaceDefault,
		"namespace the Brokers and Triggers live in")
	fs.StringVar(&cfg.BrokerURL, "broker", os.Getenv("FERRY_BROKER_URL"),
		brokerHelp)
	fs.StringVar(&cfg.QueueType, "queue-type", "quorum", "RabbitMQ queue type: quorum or classic")
	fs.StringVar(&cfg.RedisURL, "redis", os.Getenv("FERRY_REDIS_URL"),
		redisHelp)
	fs.DurationVar(&cfg.Retention, "retention", 24*time.Hour,
		"with --redis: how long a task is kept after its last update")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if role != devstack.RoleAll && (cfg.BrokerURL == "" || cfg.RedisURL == "") {
		fmt.Fprintf(stderr, "%s: --broker and --redis are required: processes "+
			"share RabbitMQ and Redis (one process alone: ferry dev)\n", name)
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	cfg.Logger = log

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	printSummary(stdout, name, stack)
	<-ctx.Done()
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := stack.Close(sctx); err != nil {
		fmt.Fprintf(stderr, "%s: shutdown: %v\n", name, err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// printSummary says where the ingress listens and what was found.
func printSummary(w io.Writer, name string, s *devstack.Stack) {
	fmt.Fprintf(w, "%s: listening on %s\n", name, s.URL())
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
