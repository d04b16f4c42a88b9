package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferryfn/ferry/runner"
)

// statusTimeout bounds `ferry status`'s one request.
const statusTimeout = 10 * time.Second

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "http://127.0.0.1:8080",
		"a running ferry dev: a URL, or host:port as its --addr")
	raw := fs.Bool("json", false, "print the answer as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ferry status [flags]")
		fmt.Fprintln(stderr, "Shows the functions of a running ferry dev.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}

	*addr = baseURL(*addr)
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	body, err := getFunctions(ctx, *addr)
	if err != nil {
		fmt.Fprintln(stderr, "ferry status:", err)
		return 1
	}
	if *raw {
		stdout.Write(body)
		return 0
	}
	var list struct {
		Functions []runner.FunctionStatus `json:"functions"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		fmt.Fprintln(stderr, "ferry status: the answer is not a function "+
			"list:", err)
		return 1
	}
	printStatus(stdout, list.Functions, time.Now())
	return 0
}

// getFunctions reads GET /v1/functions of the ingress at addr.
func getFunctions(ctx context.Context, addr string) ([]byte, error) {
	url := strings.TrimRight(addr, "/") + "/v1/functions"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is ferry dev running at %s? %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status,
			strings.TrimSpace(string(body)))
	}
	return body, nil
}

// printStatus writes one row per function, then the errors, if any.
func printStatus(w io.Writer, fns []runner.FunctionStatus, now time.Time) {
	if len(fns) == 0 {
		fmt.Fprintln(w, "no functions")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREADY\tSTARTING\tIN-FLIGHT\tQUEUED\tSCALE\t"+
		"COLD-STARTS\tLAST-COLD-START\tBUILD")
	for _, f := range fns {
		fmt.Fprintf(tw, "%s\t%d/%d\t%d\t%d\t%d\t%d-%d\t%d\t%s\t%s\n",
			f.Name, f.Instances, f.Desired, f.Starting, f.InFlight,
			f.Queued, f.Scale.Min, f.Scale.Max, f.ColdStarts,
			lastColdStart(f, now), f.Build)
	}
	tw.Flush()
	for _, f := range fns {
		if f.BuildError != "" {
			fmt.Fprintf(w, "\n%s: build failed:\n%s\n", f.Name,
				indent(f.BuildError))
		} else if f.LastError != "" {
			fmt.Fprintf(w, "\n%s: %s\n", f.Name, f.LastError)
		}
	}
}

// lastColdStart says how long the last cold start took and how long ago
// it was: "310ms, 2m ago", or "-" before the first.
func lastColdStart(f runner.FunctionStatus, now time.Time) string {
	if f.LastColdStartAt.IsZero() {
		return "-"
	}
	ago := now.Sub(f.LastColdStartAt).Round(time.Second)
	return fmt.Sprintf("%s, %s ago", f.LastColdStart.Round(time.Millisecond),
		ago)
}

// indent prefixes every line of s with two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}
