// Package runner builds the Go functions of a Ferry project the way kn
// func's host builder does, runs each as local processes, and scales them
// as Knative Serving's autoscaler (KPA) and activator would scale the
// function's Knative Service. It is the local stand-in for Knative Serving
// under `ferry dev`: the dispatcher delivers to a function through
// Runner.RoundTripper as it would post to the function's Service.
//
// # Building
//
// A function's folder (func.yaml, go.mod, a library package) is wrapped in
// a generated module in <BuildDir>/<name>/<hash>/: its go.mod requires the
// function's module (replaced by the folder) and knative.dev/func-go
// v0.22.0, and copies the function's replace directives with relative
// folders made absolute; its main.go passes f.New() (instanced shape), a
// DefaultHandler around f.Handle (static shape; an adapter for kn func's
// static-http Handle(w, r)) to func-go's cloudevents or http Start, as
// func.yaml's invoke says. `go mod tidy` and `go build` run there with
// GOFLAGS=-mod=mod -buildvcs=false and GOWORK=off. The hash covers every
// file of the function's folder (not .git, .func, nor the runner's build
// and log folders), the scaffolding's version, the Go version, the shape
// and Handle's arity; a folder holding the binary and a completion marker
// is up to date and is not built again. A build is written to a temporary
// folder and renamed into place, so a crash never leaves a half build that
// counts as done; older builds of the function are removed. Builds run one
// at a time. A build that failed is not tried again on demand until the
// sources change (the error is returned at once); Build tries it again.
//
// # Starting an instance
//
// Every start checks the build against the sources, resolves run.envs
// (see below), runs the binary in the function's folder with the parent's
// environment, the resolved variables and LISTEN_ADDRESS=127.0.0.1:<free
// port>, its output appended to <LogDir>/<name>.log, and probes GET
// /health/readiness (or deploy.healthEndpoints.readiness) every 5 ms until
// it answers 200. The start fails, wrapping ErrStartFailed and with the
// last 20 lines of the log, if the process exits first or is not ready
// within run.startTimeout (else Params.StartTimeout, else 60 s). Each
// process has its own process group and is killed by the kernel if Ferry
// dies.
//
// # Scaling
//
// Each function has Knative's settings, read from func.yaml, with
// Knative's defaults for what is not given:
//
//	L  container concurrency  resources.limits.concurrency; 0 = no limit
//	T  target per instance    scale.target; else L when L > 0; else 100
//	                          (metric concurrency) or 200 (metric rps);
//	                          a concurrency target above L is cut to L
//	U  utilization            scale.utilization, 1-100; default 70
//	m  min scale              scale.min; default 0
//	M  max scale              scale.max; 0 or unset = Params.MaxScale
//	                          (default 10, Knative has no cap)
//	G  window and grace       Params.IdleTimeout, default 30 s
//
// The demand D is, for metric concurrency, the requests in flight on
// instances plus those waiting for one; for metric rps, the requests that
// arrived within the last second (counted in 100 ms slices). The instances
// wanted are
//
//	W = min(M, max(m, ceil(D / (T × U/100))))   and at least 1 if D > 0
//
// so with L = 10 and U = 70, 7 requests in flight want 1 instance, 8 want
// 2, and 200 want 29, cut to M. W is evaluated on every request's arrival
// and end, and every tick (G/10, from 10 ms to 1 s):
//
//   - Scaling up is immediate, as in Knative's panic mode: when ready plus
//     starting instances are fewer than W, the difference is started at
//     once. After a failed start or a crash, starts wait 1 s, doubling to
//     30 s while failures go on (forgotten once an instance has been up
//     10 s); a request that finds nothing ready or starting always gets a
//     start.
//   - Scaling down follows the peak: the runner keeps max(m, the highest W
//     of the last G). Instances beyond it are drained, fewest in flight
//     first: they take no new request and get SIGTERM once their last one
//     ends (SIGKILL 5 s later). With m = 0 and no request for G, the
//     function is at zero and costs no process and no goroutine.
//
// A request is in flight from the moment it gets a slot until its response
// body is closed; a caller that never closes a body keeps an instance up.
//
// # Requests and the activator
//
// A request goes to the ready instance with the fewest in flight that is
// below L. When there is none (the function is at zero, or every instance
// carries L), it waits in a first-come, first-served queue, as Knative's
// activator holds requests, until a slot frees or a new instance is ready,
// or its context ends. Concurrent first requests share the starts W calls
// for. So no instance ever carries more than L requests, and a request
// never fails for want of an instance; it fails only when its context ends
// or when a start fails with nothing else ready or starting, in which case
// every waiting request gets the start's error (ErrStartFailed) and the
// dispatcher retries it per the Trigger's delivery spec.
//
// # Health and faults
//
// A ready instance's GET /health/liveness (or
// deploy.healthEndpoints.liveness) is probed every 3 s
// (Params.LivenessInterval) with a 1 s timeout; after 3 failures in a row
// it is stopped and replaced. An instance that exits on its own crashed:
// requests in flight on it fail (the Broker's delivery spec retries them)
// and another is started if W or m calls for it. A request that could not
// even connect to an instance (it died a moment ago) is sent once more to
// another, when its body can be read again and no connection was had.
//
// # Environment
//
// run.envs values may hold kn func's templates: {{ env:NAME }} (Ferry's own
// environment; an error if unset), {{ secret:name:key }} and
// {{ configMap:name:key }}, read from the files <SecretsDir>/<name>/<key>
// and <ConfigMapsDir>/<name>/<key> byte for byte, and, in an entry without
// a name, {{ secret:name }} and {{ configMap:name }}, which import every
// file of the folder whose name is a variable name. Named entries win over
// imported ones, as env wins over envFrom. The environment is resolved by
// New, which fails naming the function, the variable and the file, and
// again at each start, so an edited file reaches the next instance.
//
// # Rebuilding while running
//
// With Params.Watch, Start watches every function's folder: every 500 ms
// (Params.WatchInterval) it compares a hash of each file's path, size,
// mode and modification time and, when that changed, the content hash. A
// content change seen on two checks in a row is built; then as many
// instances as run the old build are started on the new one, and once at
// least one is ready the old ones are drained (no request is dropped: they
// finish what they carry). A build that fails, or a new build that never
// gets ready, leaves the old instances serving and the status reports it;
// but where Knative would keep routing to the old revision, instances
// started later (scaling up, or from zero) run the newest build that
// compiled.
// Without Watch, an edited function is rebuilt on its next start.
//
// # Limitations
//
// Scaling is by the instantaneous demand and the window's peak, not by
// Knative's averaged stable (60 s) and panic (6 s) windows, and scale-down
// is not rate-limited (Knative halves at most per tick). Max scale 0 is
// capped at Params.MaxScale. During a rollout the instances may number up
// to twice the max scale. run.volumes are not mounted (a warning is
// logged). The watcher rebuilds on any change, func.yaml's included, but
// the func.yaml that New was given stays in force: new scale settings,
// run.envs or health endpoints apply at the next ferry dev start. Changes
// to folders outside the function's folder that its
// replace directives point to change neither the hash nor the watch. The
// free port is picked, then released for the function to listen on, so
// another process may take it in between (that start fails). A compile of
// a newer build can remove the binary a concurrent start is about to run
// (that start fails and is retried). Go functions only, built with the go
// command found in PATH.
package runner
