package funcyaml

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// ErrInvalid is matched (errors.Is) by every *ValidationError.
var ErrInvalid = errors.New("invalid " + FileName)

// FieldError is one invalid field: its path in the file, such as
// deploy.options.scale.max or run.envs[2].name, and why.
type FieldError struct {
	Field  string
	Reason string
}

// Error reads "field: reason".
func (e FieldError) Error() string { return e.Field + ": " + e.Reason }

// ValidationError lists every invalid field of a func.yaml, in the order
// of the file's sections.
type ValidationError struct {
	Fields []FieldError
}

// Error lists the fields, one a line when there are several.
func (e *ValidationError) Error() string {
	if len(e.Fields) == 1 {
		return e.Fields[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d invalid fields:", len(e.Fields))
	for _, f := range e.Fields {
		b.WriteString("\n  " + f.Error())
	}
	return b.String()
}

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func fieldErrors(fs ...FieldError) error { return &ValidationError{Fields: fs} }

var (
	// namePattern is the DNS-1035 label a Knative Service's name is.
	namePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// envNamePattern is a name Kubernetes takes for a container's variable.
	envNamePattern = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	// labelKeyPattern is a Kubernetes label key: an optional DNS prefix
	// and a slash, then a name.
	labelKeyPattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?` +
		`(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?` +
		`[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// labelValuePattern is a Kubernetes label value.
	labelValuePattern = regexp.MustCompile(
		`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
)

// startTimeoutMin is the shortest run.startTimeout taken as meant: below
// it, an integer was surely seconds written where nanoseconds are read.
const startTimeoutMin = time.Millisecond

// validation collects FieldErrors.
type validation struct{ errs []FieldError }

func (v *validation) add(field, format string, args ...any) {
	v.errs = append(v.errs, FieldError{field, fmt.Sprintf(format, args...)})
}

// Validate checks every field Ferry or Knative would trip on and returns a
// *ValidationError listing them all, or nil.
func (f *Function) Validate() error {
	v := &validation{}
	v.top(f)
	v.envs("build.buildEnvs", f.Build.BuildEnvs, true)
	v.envs("run.envs", f.Run.Envs, false)
	v.volumes(f.Run.Volumes)
	if t := f.Run.StartTimeout; t < 0 {
		v.add("run.startTimeout", "%s: must not be negative", t)
	} else if t > 0 && t.Duration() < startTimeoutMin {
		v.add("run.startTimeout", "%s is too short; an integer is read "+
			"as nanoseconds: write 60s for a minute", t)
	}
	v.scale(f.Deploy.Options.Scale)
	v.resources(f.Deploy.Options.Resources)
	v.deploy(&f.Deploy)
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs}
}

func (v *validation) top(f *Function) {
	switch {
	case f.Name == "":
		v.add("name", "required")
	case !namePattern.MatchString(f.Name):
		v.add("name", "%q: must be a DNS-1035 label (at most 63 lower "+
			"case letters, digits and '-', starting with a letter and "+
			"not ending with '-')", f.Name)
	}
	if f.Runtime == "" {
		v.add("runtime", "required (go, for ferry dev)")
	}
	switch f.Invoke {
	case "", InvokeHTTP, InvokeCloudEvent:
	default:
		v.add("invoke", "%q: must be %q or %q", f.Invoke, InvokeHTTP,
			InvokeCloudEvent)
	}
}

// envs checks a list of variables at field: names valid and unique,
// templates well formed. Build variables (build) take only env templates
// and need a name.
func (v *validation) envs(field string, envs []Env, build bool) {
	seen := map[string]int{}
	for i, e := range envs {
		at := fmt.Sprintf("%s[%d]", field, i)
		hasName := e.Name != nil && *e.Name != ""
		switch {
		case !hasName && e.Value == nil:
			v.add(at, "neither name nor value")
			continue
		case e.Value == nil:
			v.add(at+".value", "required for %s", *e.Name)
			continue
		case !hasName && build:
			v.add(at+".name", "required")
			continue
		case !hasName:
			if _, err := WholeObject(*e.Value); err != nil {
				v.add(at+".value", "%v", err)
			}
			continue
		}

		name := *e.Name
		if !envNamePattern.MatchString(name) {
			v.add(at+".name", "%q: must be letters, digits, '-', '.' and "+
				"'_', not starting with a digit", name)
		}
		if first, dup := seen[name]; dup {
			v.add(at+".name", "%s is also %s[%d]", name, field, first)
		} else {
			seen[name] = i
		}
		ts, err := ParseTemplates(*e.Value)
		if err != nil {
			v.add(at+".value", "%v", err)
			continue
		}
		for _, t := range ts {
			switch {
			case build && t.Kind != TemplateEnv:
				v.add(at+".value", "%s: build variables take only "+
					"{{ env:NAME }}", (*e.Value)[t.Start:t.End])
			case t.Kind != TemplateEnv && t.Key == "":
				v.add(at+".value", "%s: a whole %s is imported by an "+
					"entry without a name; give a key here",
					(*e.Value)[t.Start:t.End], t.Kind)
			}
		}
	}
}

// volumes checks run.volumes: one kind each, an absolute unique path.
func (v *validation) volumes(vols []Volume) {
	seen := map[string]int{}
	for i, vol := range vols {
		at := fmt.Sprintf("run.volumes[%d]", i)
		kinds := 0
		for _, set := range []bool{vol.Secret != nil, vol.ConfigMap != nil,
			vol.PersistentVolumeClaim != nil, vol.EmptyDir != nil} {
			if set {
				kinds++
			}
		}
		switch {
		case kinds == 0:
			v.add(at, "needs one of secret, configMap, "+
				"persistentVolumeClaim and emptyDir")
		case kinds > 1:
			v.add(at, "may have only one of secret, configMap, "+
				"persistentVolumeClaim and emptyDir")
		}
		if vol.Secret != nil && !objectName.MatchString(*vol.Secret) {
			v.add(at+".secret", "%q is not a Secret name", *vol.Secret)
		}
		if vol.ConfigMap != nil && !objectName.MatchString(*vol.ConfigMap) {
			v.add(at+".configMap", "%q is not a ConfigMap name",
				*vol.ConfigMap)
		}
		if c := vol.PersistentVolumeClaim; c != nil &&
			(c.ClaimName == nil || *c.ClaimName == "") {
			v.add(at+".persistentVolumeClaim.claimName", "required")
		}
		if d := vol.EmptyDir; d != nil {
			if d.Medium != "" && d.Medium != "Memory" {
				v.add(at+".emptyDir.medium", "%q: must be \"\" or Memory",
					d.Medium)
			}
			if d.SizeLimit != nil {
				v.quantity(at+".emptyDir.sizeLimit", *d.SizeLimit)
			}
		}

		switch {
		case vol.Path == nil || *vol.Path == "":
			v.add(at+".path", "required")
		case !path.IsAbs(*vol.Path):
			v.add(at+".path", "%q: must be absolute", *vol.Path)
		default:
			clean := path.Clean(*vol.Path)
			if first, dup := seen[clean]; dup {
				v.add(at+".path", "%s is also run.volumes[%d]'s",
					*vol.Path, first)
			} else {
				seen[clean] = i
			}
		}
	}
}

// scale checks deploy.options.scale against Knative's ranges.
func (v *validation) scale(s *Scale) {
	if s == nil {
		return
	}
	const at = "deploy.options.scale."
	for _, b := range []struct {
		name string
		n    *int64
	}{{"min", s.Min}, {"max", s.Max}} {
		switch {
		case b.n == nil:
		case *b.n < 0:
			v.add(at+b.name, "%d: must be >= 0", *b.n)
		case *b.n > math.MaxInt32:
			v.add(at+b.name, "%d: must be <= %d", *b.n, math.MaxInt32)
		}
	}
	if s.Min != nil && s.Max != nil && *s.Max < *s.Min {
		v.add(at+"max", "%d: must be >= min (%d)", *s.Max, *s.Min)
	}
	switch s.Metric {
	case "", "concurrency", "rps":
	default:
		v.add(at+"metric", "%q: must be concurrency or rps", s.Metric)
	}
	if s.Target != nil && *s.Target < 0.01 {
		v.add(at+"target", "%g: must be >= 0.01", *s.Target)
	}
	if u := s.Utilization; u != nil && (*u < 1 || *u > 100) {
		v.add(at+"utilization", "%g: must be within 1-100 (a percentage)",
			*u)
	}
}

// resources checks deploy.options.resources.
func (v *validation) resources(r *Resources) {
	if r == nil {
		return
	}
	const at = "deploy.options.resources."
	if q := r.Requests; q != nil {
		v.quantity(at+"requests.cpu", q.CPU)
		v.quantity(at+"requests.memory", q.Memory)
	}
	if l := r.Limits; l != nil {
		v.quantity(at+"limits.cpu", l.CPU)
		v.quantity(at+"limits.memory", l.Memory)
		if c := l.Concurrency; c != nil && *c < 0 {
			v.add(at+"limits.concurrency", "%d: must be >= 0 (0: no limit)",
				*c)
		}
	}
}

// quantity checks that s, when set, is a Kubernetes quantity.
func (v *validation) quantity(field, s string) {
	if s == "" {
		return
	}
	if _, err := resource.ParseQuantity(s); err != nil {
		v.add(field, "%q is not a quantity (like 500m, 1, 128Mi): %v", s,
			err)
	}
}

// deploy checks labels, health endpoints and subscriptions.
func (v *validation) deploy(d *Deploy) {
	for i, l := range d.Labels {
		at := fmt.Sprintf("deploy.labels[%d]", i)
		switch {
		case l.Key == nil || *l.Key == "":
			v.add(at+".key", "required")
		case !labelKeyPattern.MatchString(*l.Key):
			v.add(at+".key", "%q is not a label key", *l.Key)
		}
		if l.Value != nil && !strings.HasPrefix(*l.Value, "{{") &&
			!labelValuePattern.MatchString(*l.Value) {
			v.add(at+".value", "%q is not a label value", *l.Value)
		}
	}
	for _, h := range []struct{ name, path string }{
		{"liveness", d.HealthEndpoints.Liveness},
		{"readiness", d.HealthEndpoints.Readiness}} {
		if h.path != "" && !strings.HasPrefix(h.path, "/") {
			v.add("deploy.healthEndpoints."+h.name,
				"%q: must start with /", h.path)
		}
	}
	for i, s := range d.Subscriptions {
		if s.Source == "" {
			v.add(fmt.Sprintf("deploy.subscriptions[%d].source", i),
				"the Broker's name is required")
		}
	}
}
