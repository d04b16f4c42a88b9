package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/render"
)

// Defaults of `ferry render`.
const (
	renderFunctionsDefault = "functions"
	renderOutDefault       = "config/functions"
	renderIngressDefault   = "."
)

// runRender writes the Knative Services and Triggers of every function
// under --functions, and the ingress's Service from --ingress, into --out,
// removing generated files of functions and subscriptions that are gone. With --check it changes nothing and exits 1
// when --out is out of date.
func runRender(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	functions := fs.String("functions", renderFunctionsDefault,
		"folder whose sub-folders are kn func projects")
	out := fs.String("out", renderOutDefault,
		"folder of the generated manifests")
	ingressDir := fs.String("ingress", renderIngressDefault,
		"folder of the ingress's func.yaml (\"\" renders no ingress)")
	var opts render.Options
	fs.StringVar(&opts.Registry, "registry", render.RegistryDefault,
		"image prefix of functions whose func.yaml names no image")
	fs.StringVar(&opts.Namespace, "namespace", "",
		"namespace written into the manifests (default: none, kustomize sets it)")
	check := fs.Bool("check", false,
		"change nothing; exit 1 when --out is not what render would write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ferry render: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	fns, err := funcyaml.Discover(*functions)
	if err != nil {
		fmt.Fprintln(stderr, "ferry render:", err)
		return 1
	}
	if *ingressDir != "" {
		f, err := funcyaml.Load(*ingressDir)
		if err != nil {
			fmt.Fprintln(stderr, "ferry render: ingress:", err)
			return 1
		}
		fns = append(fns, f)
	}
	files, err := render.Files(fns, opts)
	if err != nil {
		fmt.Fprintln(stderr, "ferry render:", err)
		return 1
	}

	if *check {
		c, err := render.Diff(*out, files)
		if err != nil {
			fmt.Fprintln(stderr, "ferry render:", err)
			return 1
		}
		if c.Empty() {
			fmt.Fprintf(stdout, "%s is up to date (%d functions)\n", *out,
				len(fns))
			return 0
		}
		printChange(stderr, *out, c)
		fmt.Fprintln(stderr, "ferry render: out of date; run `make render`")
		return 1
	}

	c, err := render.Write(*out, files)
	if err != nil {
		fmt.Fprintln(stderr, "ferry render:", err)
		return 1
	}
	printChange(stdout, *out, c)
	fmt.Fprintf(stdout, "%s: %d functions, %d written, %d removed\n", *out,
		len(fns), len(c.Written), len(c.Removed))
	return 0
}

func printChange(w io.Writer, dir string, c render.Change) {
	for _, f := range c.Written {
		fmt.Fprintln(w, "  write ", filepath.Join(dir, f))
	}
	for _, f := range c.Removed {
		fmt.Fprintln(w, "  remove", filepath.Join(dir, f))
	}
}
