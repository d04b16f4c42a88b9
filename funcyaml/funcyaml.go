// Package funcyaml reads the func.yaml file of a kn func project: the
// function's name, runtime, how it is invoked, how it is built, its run
// environment and its deploy options, including the Broker subscriptions
// that `kn func subscribe` writes. Ferry uses it to find the functions it
// runs locally, to derive their Triggers, and to render their Knative
// Services.
//
// The spec read is kn func's specVersion 0.36.0 (SpecVersion), every field
// of it. Reading is lenient, as kn func's own is: fields Ferry does not
// know are ignored and reported once, as one entry of Function.Warnings
// naming each of them by its path (deploy.options.scale.window). A file of
// an older specVersion (or of none, as kn func wrote before 0.19.0) is
// brought up to 0.36.0 in memory by kn func's migrations, in their order:
//
//	0.19.0  a created stamp for a function that has a name and a runtime
//	0.23.0  a custom builder image moves to builderImages.pack
//	0.25.0  version is replaced by specVersion
//	0.34.0  the top-level fields move under build, run and deploy
//	0.35.0  invocation.format becomes invoke (when it is not http)
//	0.36.0  run.volumes[].presistentVolumeClaim (a typo) is corrected
//
// The file itself is never rewritten; Function.MigratedFrom tells the
// version it had. A newer specVersion is read as 0.36.0 with a warning;
// its top-level scale (0.38.0) and build.source (0.37.0) are read into
// deploy.options.scale and build.git.
//
// Validation collects every problem, each with its field path and reason
// (see ValidationError): the name is a DNS-1035 label of at most 63
// characters; scale.min >= 0, scale.max >= scale.min, scale.metric is
// concurrency or rps, scale.target >= 0.01, scale.utilization within
// 1-100; resource quantities parse as Kubernetes quantities;
// resources.limits.concurrency >= 0; environment variable names are valid
// and unique and their templates well formed; each volume has exactly one
// kind and a unique absolute path.
//
// Limitations: the file is read as YAML 1.1 through JSON (as Kubernetes
// reads manifests), so an unquoted yes, no, on, off, y or n is a boolean,
// and a string field given one fails with "want a string, got bool",
// where kn func would take the text; quote such values. A type error in a
// list names the list's field without the index (run.envs.value).
package funcyaml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// FileName is the name of a kn func project's description file.
const FileName = "func.yaml"

// SpecVersion is the kn func spec version Ferry reads.
const SpecVersion = "0.36.0"

// Invoke values a func.yaml may give: how the function is called.
const (
	InvokeHTTP       = "http"
	InvokeCloudEvent = "cloudevent"
)

// ErrNoFunction is returned by Load when a folder holds no func.yaml.
var ErrNoFunction = errors.New("no " + FileName)

// Function is a kn func project as its func.yaml describes it.
type Function struct {
	// Dir is the project's folder, the one that holds func.yaml and go.mod.
	// It is set by Load, not read from the file.
	Dir string `json:"-"`
	// Warnings are what Load found odd but not wrong: unknown fields, a
	// specVersion newer than SpecVersion. Set by Load.
	Warnings []string `json:"-"`
	// MigratedFrom is the specVersion the file had when kn func's
	// migrations brought it up to SpecVersion ("none" for a file without
	// one), or "" when none was needed. Set by Load.
	MigratedFrom string `json:"-"`

	SpecVersion string `json:"specVersion"`
	Name        string `json:"name"`
	// Namespace is where kn func deployed the function (older specs).
	Namespace string `json:"namespace,omitempty"`
	// Domain is the route's domain, when not the cluster's default.
	Domain  string `json:"domain,omitempty"`
	Runtime string `json:"runtime"`
	// Registry and Image name the container image kn func builds.
	Registry    string `json:"registry,omitempty"`
	Image       string `json:"image,omitempty"`
	ImageDigest string `json:"imageDigest,omitempty"`
	// Invoke is "http" or "cloudevent"; empty means the runtime's default,
	// which for Go is http.
	Invoke  string `json:"invoke,omitempty"`
	Created string `json:"created,omitempty"`
	Build   Build  `json:"build,omitempty"`
	Run     Run    `json:"run,omitempty"`
	Deploy  Deploy `json:"deploy,omitempty"`
}

// Build holds the build section.
type Build struct {
	// Git is the repository an on-cluster build fetches.
	Git Git `json:"git,omitempty"`
	// BuilderImages are builder images by builder (pack, s2i).
	BuilderImages map[string]string `json:"builderImages,omitempty"`
	Buildpacks    []string          `json:"buildpacks,omitempty"`
	// Builder is pack, s2i or host; Ferry always builds as host does and
	// warns about the others.
	Builder string `json:"builder,omitempty"`
	// BuildEnvs are the build's environment variables.
	BuildEnvs []Env `json:"buildEnvs,omitempty"`
	// PVCSize and RemoteStorageClass size the volume of a remote build.
	PVCSize            string `json:"pvcSize,omitempty"`
	RemoteStorageClass string `json:"remoteStorageClass,omitempty"`
	// Image is kept for files that set it; kn func does not read it.
	Image string `json:"image,omitempty"`
}

// Git is a build's source repository.
type Git struct {
	URL        string `json:"url,omitempty"`
	Revision   string `json:"revision,omitempty"`
	ContextDir string `json:"contextDir,omitempty"`
}

// Run holds what the function's process gets when it runs.
type Run struct {
	// Volumes are mounted into the function's container.
	Volumes []Volume `json:"volumes,omitempty"`
	Envs    []Env    `json:"envs,omitempty"`
	// StartTimeout is how long the function may take to become ready.
	StartTimeout Duration `json:"startTimeout,omitempty"`
}

// Env is one environment variable. Value may hold kn func templates such as
// {{ env:NAME }}; they are resolved by whoever starts the process. An entry
// without a name imports a whole Secret or ConfigMap ({{ secret:name }}).
type Env struct {
	Name  *string `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Volume is one volume of run.volumes: exactly one of Secret, ConfigMap,
// PersistentVolumeClaim and EmptyDir, mounted at Path.
type Volume struct {
	Secret                *string                `json:"secret,omitempty"`
	ConfigMap             *string                `json:"configMap,omitempty"`
	PersistentVolumeClaim *PersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
	EmptyDir              *EmptyDir              `json:"emptyDir,omitempty"`
	Path                  *string                `json:"path,omitempty"`
}

// PersistentVolumeClaim names a claim in the function's namespace.
type PersistentVolumeClaim struct {
	ClaimName *string `json:"claimName,omitempty"`
	ReadOnly  bool    `json:"readOnly,omitempty"`
}

// EmptyDir is a scratch volume: Medium is "" (the node's disk) or Memory.
type EmptyDir struct {
	Medium    string  `json:"medium,omitempty"`
	SizeLimit *string `json:"sizeLimit,omitempty"`
}

// Deploy holds the deploy section.
type Deploy struct {
	Namespace string `json:"namespace,omitempty"`
	// Image is the deployed image, with its digest.
	Image string `json:"image,omitempty"`
	// Remote asks for an on-cluster build and deploy.
	Remote      bool              `json:"remote,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      []Label           `json:"labels,omitempty"`
	Options     Options           `json:"options,omitempty"`
	// HealthEndpoints override the runtime's liveness and readiness paths.
	HealthEndpoints HealthEndpoints `json:"healthEndpoints,omitempty"`
	// ServiceAccountName is the service account of the function's pod.
	ServiceAccountName string         `json:"serviceAccountName,omitempty"`
	Subscriptions      []Subscription `json:"subscriptions,omitempty"`
}

// HealthEndpoints are the paths the function is probed on; empty means
// func-go's /health/liveness and /health/readiness.
type HealthEndpoints struct {
	Liveness  string `json:"liveness,omitempty"`
	Readiness string `json:"readiness,omitempty"`
}

// Label is one label of the deployed service.
type Label struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Options are the Knative Service options of the deploy section.
type Options struct {
	Scale     *Scale     `json:"scale,omitempty"`
	Resources *Resources `json:"resources,omitempty"`
}

// Scale mirrors Knative's autoscaling annotations. Nil fields mean "as
// Knative's default".
type Scale struct {
	Min         *int64   `json:"min,omitempty"`
	Max         *int64   `json:"max,omitempty"`
	Metric      string   `json:"metric,omitempty"`
	Target      *float64 `json:"target,omitempty"`
	Utilization *float64 `json:"utilization,omitempty"`
}

// Resources are the container's requests and limits.
type Resources struct {
	Requests *ResourceList   `json:"requests,omitempty"`
	Limits   *ResourceLimits `json:"limits,omitempty"`
}

// ResourceList is a CPU and memory quantity pair, as Kubernetes writes them.
type ResourceList struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

// ResourceLimits adds the per-instance concurrency limit to ResourceList.
type ResourceLimits struct {
	ResourceList `json:",inline"`
	Concurrency  *int64 `json:"concurrency,omitempty"`
}

// Subscription is one entry of deploy.subscriptions: Source is the Broker's
// name and Filters are exact-match CloudEvents attribute filters, the shape
// `kn func subscribe --source default --filter type=...` writes.
type Subscription struct {
	Source  string            `json:"source"`
	Filters map[string]string `json:"filters,omitempty"`
}

// Load reads dir/func.yaml: it migrates an older spec, decodes leniently
// (see the package doc) and validates. It returns ErrNoFunction (wrapped)
// when there is none, and an error naming the file and each invalid field
// (a *ValidationError, matching ErrInvalid) when it is invalid.
func Load(dir string) (*Function, error) {
	path := filepath.Join(dir, FileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoFunction)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}

	f, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Dir = dir
	return f, nil
}

// Parse decodes and validates the content of a func.yaml file, as Load
// does, without a folder.
func Parse(raw []byte) (*Function, error) {
	f, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// Discover loads every function one folder below root (root/*/func.yaml),
// sorted by name. Folders without a func.yaml are skipped; an invalid
// func.yaml fails the whole discovery, so that a typo is never silently
// ignored. Two functions with the same name are an error.
func Discover(root string) ([]*Function, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("discover functions: %w", err)
	}

	var fns []*Function
	seen := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		f, err := Load(dir)
		if errors.Is(err, ErrNoFunction) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if other, dup := seen[f.Name]; dup {
			return nil, fmt.Errorf("function %q is declared twice: %s and %s",
				f.Name, other, dir)
		}
		seen[f.Name] = dir
		fns = append(fns, f)
	}
	sort.Slice(fns, func(i, j int) bool { return fns[i].Name < fns[j].Name })
	return fns, nil
}
