// Package render writes the Kubernetes manifests of Ferry's functions from
// their func.yaml files, the objects `kn func deploy` would create, so that
// a cluster install is reviewed and applied from config/ (`ferry render`
// writes them to config/functions/, where they are checked in).
//
// Per function, one file <name>.yaml holds:
//
//   - a Knative Service (serving.knative.dev/v1) named like the function,
//     with kn func's labels (function.knative.dev/name, .../runtime,
//     boson.dev/function) and deploy.labels, deploy.annotations, the
//     autoscaling annotations of deploy.options.scale on the revision
//     template (min-scale, max-scale, metric, target,
//     target-utilization-percentage), containerConcurrency from
//     deploy.options.resources.limits.concurrency, the container's
//     requests and limits, run.envs (literal values, {{ secret:... }} and
//     {{ configMap:... }}), readiness and liveness probes on
//     /health/readiness and /health/liveness (deploy.healthEndpoints may
//     move them) at port 8080, and a non-root, read-only security context;
//   - one Trigger per deploy.subscriptions entry, exactly as
//     eventing.FunctionTriggers derives them under `ferry dev`: named
//     <function>-<8 hex digits of the subscription>, so a name stays the
//     same while its subscription does, and annotated ferry.dev/local:
//     "false" so that `ferry dev`, which derives them from func.yaml
//     itself, does not load them twice.
//
// A kustomization.yaml lists the files. Write replaces the folder's
// generated files (those that start with GeneratedHeader) by exactly the
// current set and removes the others, so a function or subscription that
// was removed leaves no stale Trigger behind (kn func leaves them). Output
// is deterministic: keys sorted, Triggers by name, files by function.
//
// The image is func.yaml's deploy.image, else build.image, else
// <Options.Registry>/<name>:latest (RegistryDefault, a name Knative does
// not try to resolve; override it with a kustomize images: entry).
//
// Differences from `kn func deploy`: requests and limits default to
// ResourcesDefault when func.yaml sets none; the security context also
// sets readOnlyRootFilesystem (the images of `make images` write nothing);
// {{ env:NAME }} templates and run.volumes are refused, since
// their result would depend on the machine that renders; Triggers carry no
// owner reference (kubectl cannot set one) and are named by hash, not
// position.
package render
