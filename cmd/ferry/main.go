// Command ferry is Ferry's one binary.
//
//	ferry dev    run the whole flow in one process (ingress, embedded Broker,
//	             dispatcher, functions, task store)
//	ferry ingress   the HTTP API alone, publishing to RabbitMQ, tasks in Redis
//	ferry dispatch  deliver events to functions from RabbitMQ, tasks in Redis
//	ferry send   post a file as a CloudEvent, optionally wait for its result
//	ferry validate  check config/ manifests and func.yaml files before a deploy
//	ferry render    write the functions' Knative manifests to config/functions
//	ferry images    build the OCI images of the functions and the ingress
//	ferry status    show the functions of a running ferry dev
//	ferry logs      print a function's output under ferry dev
//
// Run `ferry <command> -h` for a command's flags.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const usage = `ferry: a function platform for Go on Knative

Usage:
  ferry dev  [flags]        run ingress, broker, functions and task store
  ferry ingress [flags]     the HTTP API alone, on RabbitMQ and Redis
  ferry dispatch [flags]    deliver events to functions, on RabbitMQ and Redis
  ferry send [flags] FILE   post FILE as a CloudEvent (- for stdin)
  ferry validate [flags]    check config/ and functions/ as a cluster would
  ferry render [flags]      write config/functions/ from each func.yaml
  ferry images [flags] [NAME...]  build OCI images into bin/images/
  ferry status [flags]      show the functions of a running ferry dev
  ferry logs [flags] FUNCTION  print a function's log (-f to follow)
  ferry bench [flags]       measure Ferry against RabbitMQ's raw ceiling

Run 'ferry <command> -h' for its flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "dev":
		return runDev(args[1:], stdout, stderr)
	case "ingress":
		return runIngress(args[1:], stdout, stderr)
	case "dispatch":
		return runDispatch(args[1:], stdout, stderr)
	case "send":
		return runSend(args[1:], stdout, stderr)
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "render":
		return runRender(args[1:], stdout, stderr)
	case "images":
		return runImages(args[1:], stdout, stderr)
	case "status":
		return runStatus(args[1:], stdout, stderr)
	case "logs":
		return runLogs(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// newLogger returns a readable text logger at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error",
			level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
