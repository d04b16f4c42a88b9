// Package runner builds the Go functions of a Ferry project the way kn
// func's host builder does, starts each as a local process on its first
// event, and stops it when it has been idle (scale to zero). It is the
// local stand-in for Knative Serving under `ferry dev`: the dispatcher
// delivers to a function through Runner.RoundTripper as it would post to
// the function's Knative Service.
//
// Building. A function's folder (func.yaml, go.mod, a library package) is
// wrapped in a generated module in <BuildDir>/<name>/<hash>/: its go.mod
// requires the function's module (replaced by the folder) and
// knative.dev/func-go v0.22.0, and copies the function's replace
// directives with relative folders made absolute; its main.go passes
// f.New() (instanced shape) or a DefaultHandler around f.Handle (static
// shape) to func-go's cloudevents or http Start, as func.yaml's invoke
// says. `go mod tidy` and `go build` run there with GOFLAGS=-mod=mod
// -buildvcs=false and GOWORK=off. The hash covers every file of the
// function's folder (not .git, .func, nor the runner's build and log
// folders), the scaffolding's version, the Go version and the shape; a
// folder holding the binary and a completion marker is up to date and is
// not built again. A build is written to a temporary folder and renamed
// into place, so a crash never leaves a half build that counts as done;
// older builds of the function are removed. Builds run one at a time. A
// build that failed is not tried again on demand until the sources change
// (the error is returned at once); Build tries it again.
//
// Starting. A request that finds its function at zero starts an instance
// and waits for it; requests that arrive meanwhile wait for the same start.
// A cold start first checks the build against the sources (so an edited
// function is rebuilt on its next cold start), then runs the binary in the
// function's folder with the parent's environment, func.yaml's run.envs
// and LISTEN_ADDRESS=127.0.0.1:<free port>, its output appended to
// <LogDir>/<name>.log, and probes GET /health/readiness every 5 ms until it
// answers 200. The start fails, with the last 20 lines of the log, if the
// process exits first or is not ready within StartTimeout (60 s by
// default). Each process has its own process group and is killed by the
// kernel if Ferry dies.
//
// Scaling to zero. A request is in flight until its response body is
// closed. When nothing has been in flight for IdleTimeout (30 s by
// default) the instance gets SIGTERM, and SIGKILL 5 s later if it is still
// running. An instance that exits on its own is a crash: requests in
// flight on it fail (the Broker's delivery spec retries them) and the next
// request starts a new one.
//
// Limitations: one instance per function (no scaling above one, no
// container concurrency limit); func.yaml env templates ({{ env:NAME }}
// and the like) are rejected by New; changes to folders outside the
// function's folder that its replace directives point to do not change
// the hash; the free port is picked, then released for the function to
// listen on, so another process may take it in between (that start fails);
// Go functions only, built with the go command found in PATH.
package runner
