package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ferryfn/ferry/validate"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "config", "folder of Knative and Kubernetes manifests")
	functions := fs.String("functions", "functions", "folder whose sub-folders are kn func projects")
	strict := fs.Bool("strict", false, "fail on warnings too")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	r, err := validate.Project(*config, *functions)
	if err != nil {
		fmt.Fprintln(stderr, "ferry validate:", err)
		return 1
	}
	for _, f := range r.Findings {
		fmt.Fprintln(stdout, f)
	}
	warnings := len(r.Findings) - r.Errors()
	fmt.Fprintf(stdout, "checked %s: %d error(s), %d warning(s)\n",
		describeChecked(r.Checked), r.Errors(), warnings)
	if r.Errors() > 0 || (*strict && warnings > 0) {
		return 1
	}
	return 0
}

func describeChecked(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
