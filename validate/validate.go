// Package validate checks a Ferry project before it reaches a cluster, as
// `ferry validate` does: every manifest under the config folder is decoded
// strictly into its real Go type (Knative Eventing, Sources and Serving,
// Kubernetes core, apps and networking, RabbitMQ's CRDs by their documented
// fields), defaulted and validated where the type can; every func.yaml is
// read and checked, and the Triggers its subscriptions become are validated
// too. Findings name the file, the object and the field.
//
// It also warns where Knative's RabbitMQ broker (eventing-rabbitmq) gives a
// manifest another meaning than the reference broker that `ferry dev`
// follows: it ignores spec.filters (only filter.attributes become header
// bindings), a filter on datacontenttype never matches there (the content
// type travels as an AMQP property, not a header), and numeric extension
// values sent in structured mode do not match string filters there.
package validate

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferryfn/ferry/funcyaml"
)

// Severity says whether a finding blocks a deploy.
type Severity string

// The severities of findings.
const (
	// Error: the object would be refused, or would not work.
	Error Severity = "error"
	// Warning: it works, but not as a reader may expect somewhere.
	Warning Severity = "warning"
)

// Finding is one problem found.
type Finding struct {
	Severity Severity
	// File and Object ("Kind/name") say where; Field is the field path
	// when known (spec.subscriber.ref).
	File   string
	Object string
	Field  string
	// Message says what is wrong.
	Message string
}

// String renders the finding as "file: Object: field: message".
func (f Finding) String() string {
	parts := []string{f.File, f.Object}
	if f.Field != "" {
		parts = append(parts, f.Field)
	}
	return fmt.Sprintf("%s: %s: %s", f.Severity, strings.Join(parts, ": "), f.Message)
}

// Report is the outcome of a validation.
type Report struct {
	Findings []Finding
	// Checked counts the objects checked, by kind.
	Checked map[string]int
}

// Errors counts the findings of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

func (r *Report) add(f Finding) { r.Findings = append(r.Findings, f) }

func (r *Report) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Object < b.Object
	})
}

// Project validates the manifests under configDir, the functions one
// folder below functionsDir, and the func.yaml beside functionsDir (the
// ingress's, at the project's root) if there is one. It returns an error only when a folder cannot
// be read; problems with what is in them are findings.
func Project(configDir, functionsDir string) (*Report, error) {
	r := &Report{Checked: map[string]int{}}
	objs, err := checkManifests(r, configDir)
	if err != nil {
		return nil, err
	}
	if err := checkFunctions(r, functionsDir, objs); err != nil {
		return nil, err
	}
	checkRootFunction(r, filepath.Dir(filepath.Clean(functionsDir)))
	checkReferences(r, objs)
	r.sort()
	return r, nil
}

// checkRootFunction reads the func.yaml in dir, the one that describes the
// ingress, if there is one.
func checkRootFunction(r *Report, dir string) {
	f, err := funcyaml.Load(dir)
	file := filepath.Join(dir, funcyaml.FileName)
	switch {
	case errors.Is(err, funcyaml.ErrNoFunction):
	case err != nil:
		r.add(Finding{Severity: Error, File: file, Object: "func.yaml",
			Message: err.Error()})
	default:
		r.Checked["func.yaml"]++
		for _, w := range f.Warnings {
			r.add(Finding{Severity: Warning, File: file,
				Object: "func.yaml " + f.Name, Message: w})
		}
	}
}
