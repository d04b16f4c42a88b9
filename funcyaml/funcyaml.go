// Package funcyaml reads the func.yaml file of a kn func project: the
// function's name, runtime, how it is invoked, its run environment and its
// deploy options, including the Broker subscriptions that `kn func subscribe`
// writes. Ferry uses it to find the functions it runs locally, to derive their
// Triggers, and (later) to render their Knative Services.
//
// Reading is lenient, as kn func's own is: fields Ferry does not know are kept
// out of the way and do not fail the load.
package funcyaml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"sigs.k8s.io/yaml"
)

// FileName is the name of a kn func project's description file.
const FileName = "func.yaml"

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

	SpecVersion string `json:"specVersion"`
	Name        string `json:"name"`
	Namespace   string `json:"namespace,omitempty"`
	Runtime     string `json:"runtime"`
	// Invoke is "http" or "cloudevent"; empty means the runtime's default,
	// which for Go is http.
	Invoke  string `json:"invoke,omitempty"`
	Created string `json:"created,omitempty"`
	Build   Build  `json:"build,omitempty"`
	Run     Run    `json:"run,omitempty"`
	Deploy  Deploy `json:"deploy,omitempty"`
}

// Build holds the build section; Ferry reads the builder to warn when a
// project asks for one it does not emulate.
type Build struct {
	Builder string `json:"builder,omitempty"`
	Image   string `json:"image,omitempty"`
}

// Run holds what the function's process gets when it runs.
type Run struct {
	Envs []Env `json:"envs,omitempty"`
}

// Env is one environment variable. Value may hold kn func templates such as
// {{ env:NAME }}; they are resolved by whoever starts the process.
type Env struct {
	Name  *string `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Deploy holds the deploy section.
type Deploy struct {
	Namespace     string            `json:"namespace,omitempty"`
	Image         string            `json:"image,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Labels        []Label           `json:"labels,omitempty"`
	Options       Options           `json:"options,omitempty"`
	Subscriptions []Subscription    `json:"subscriptions,omitempty"`
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

// namePattern is the DNS-1035 label kn func requires of a function's name.
var namePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Load reads dir/func.yaml. It returns ErrNoFunction (wrapped) when there is
// none, and an error naming the file and the field when it is invalid.
func Load(dir string) (*Function, error) {
	path := filepath.Join(dir, FileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoFunction)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}

	var f Function
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Dir = dir
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// Validate checks the fields Ferry relies on.
func (f *Function) Validate() error {
	if !namePattern.MatchString(f.Name) {
		return fmt.Errorf("name %q: must be a DNS-1035 label "+
			"(lower case letters, digits and '-', starting with a letter)", f.Name)
	}
	switch f.Invoke {
	case "", InvokeHTTP, InvokeCloudEvent:
	default:
		return fmt.Errorf("invoke %q: must be %q or %q",
			f.Invoke, InvokeHTTP, InvokeCloudEvent)
	}
	for i, s := range f.Deploy.Subscriptions {
		if s.Source == "" {
			return fmt.Errorf("deploy.subscriptions[%d].source: "+
				"the Broker's name is required", i)
		}
	}
	return nil
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
