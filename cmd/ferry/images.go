package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/image"
	"github.com/ferryfn/ferry/render"
)

// runImages builds the OCI image of every function under --functions and
// of the ingress (--ingress), or of the ones named as arguments, into
// <out>/<name>/, each named as `ferry render` names it in the manifests.
func runImages(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	functions := fs.String("functions", renderFunctionsDefault,
		"folder whose sub-folders are kn func projects")
	ingressDir := fs.String("ingress", renderIngressDefault,
		"folder of the ingress's func.yaml (\"\" builds no ingress)")
	out := fs.String("out", "bin/images", "folder of the OCI layouts")
	registry := fs.String("registry", render.RegistryDefault,
		"image prefix of functions whose func.yaml names no image")
	platform := fs.String("platform", "", "os/arch of the images "+
		"(default linux and this machine's architecture)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "ferry images:", err)
		return 2
	}
	var plat v1.Platform
	if *platform != "" {
		p, err := v1.ParsePlatform(*platform)
		if err != nil {
			fmt.Fprintln(stderr, "ferry images: --platform:", err)
			return 2
		}
		plat = *p
	}

	fns, err := funcyaml.Discover(*functions)
	if err != nil {
		fmt.Fprintln(stderr, "ferry images:", err)
		return 1
	}
	if *ingressDir != "" {
		f, err := funcyaml.Load(*ingressDir)
		if err != nil {
			fmt.Fprintln(stderr, "ferry images: ingress:", err)
			return 1
		}
		fns = append(fns, f)
	}
	if want := fs.Args(); len(want) > 0 {
		fns = slices.DeleteFunc(fns, func(f *funcyaml.Function) bool {
			return !slices.Contains(want, f.Name)
		})
		if len(fns) != len(want) {
			fmt.Fprintf(stderr, "ferry images: no function among %s\n",
				strings.Join(want, ", "))
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	for _, f := range fns {
		r, err := image.Build(ctx, image.Params{
			Function: f,
			Ref:      render.Image(f, *registry),
			OutDir:   filepath.Join(*out, f.Name),
			Platform: plat,
			Logger:   log,
		})
		if err != nil {
			fmt.Fprintln(stderr, "ferry images:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", filepath.Join(*out, f.Name), r.Ref,
			r.Digest)
	}
	return 0
}
