package funcyaml

import (
	"fmt"
	"regexp"
	"strings"
)

// Kinds of Template.
const (
	TemplateEnv       = "env"
	TemplateSecret    = "secret"
	TemplateConfigMap = "configMap"
)

// Template is one {{ kind:args }} reference in a run.envs value, as kn func
// writes them:
//
//	{{ env:NAME }}               the variable NAME of the deployer's
//	                             environment
//	{{ secret:name:key }}        key of the Secret name
//	{{ configMap:name:key }}     key of the ConfigMap name
//	{{ secret:name }}            every key of the Secret (an entry without
//	{{ configMap:name }}         a name), the same for a ConfigMap
type Template struct {
	// Kind is TemplateEnv, TemplateSecret or TemplateConfigMap.
	Kind string
	// Name is the variable's, Secret's or ConfigMap's name.
	Name string
	// Key is the key of the Secret or ConfigMap; "" for the whole object
	// and for env.
	Key string
	// Start and End are the template's byte offsets in the value.
	Start, End int
}

var (
	// templatePattern is one {{ ... }} of a value.
	templatePattern = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
	// localEnvName is a name {{ env:NAME }} may look up.
	localEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// objectName is a Secret's or ConfigMap's name (a DNS subdomain, with
	// the upper case and underscores kn func lets through).
	objectName = regexp.MustCompile(
		`^[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?$`)
	// objectKey is a key of a Secret or ConfigMap.
	objectKey = regexp.MustCompile(`^[-._A-Za-z0-9]+$`)
)

// ParseTemplates returns the templates of value in order. It fails, naming
// the template, when a {{ ... }} is not one of the forms above or a "{{"
// is left unclosed.
func ParseTemplates(value string) ([]Template, error) {
	var out []Template
	for _, loc := range templatePattern.FindAllStringSubmatchIndex(value, -1) {
		t, err := parseTemplate(value[loc[2]:loc[3]])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", value[loc[0]:loc[1]], err)
		}
		t.Start, t.End = loc[0], loc[1]
		out = append(out, t)
	}
	rest := templatePattern.ReplaceAllString(value, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return nil, fmt.Errorf("%q: unbalanced {{ or }}", value)
	}
	return out, nil
}

// parseTemplate reads the inside of one {{ ... }}.
func parseTemplate(inner string) (Template, error) {
	parts := strings.Split(inner, ":")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	t := Template{Kind: parts[0]}
	switch {
	case t.Kind == TemplateEnv && len(parts) == 2:
		t.Name = parts[1]
		if !localEnvName.MatchString(t.Name) {
			return t, fmt.Errorf("%q is not a variable name", t.Name)
		}
		return t, nil
	case (t.Kind == TemplateSecret || t.Kind == TemplateConfigMap) &&
		(len(parts) == 2 || len(parts) == 3):
		t.Name = parts[1]
		if !objectName.MatchString(t.Name) {
			return t, fmt.Errorf("%q is not a %s name", t.Name, t.Kind)
		}
		if len(parts) == 3 {
			t.Key = parts[2]
			if !objectKey.MatchString(t.Key) || t.Key == "." ||
				t.Key == ".." {
				return t, fmt.Errorf("%q is not a key", t.Key)
			}
		}
		return t, nil
	}
	return t, fmt.Errorf("want {{ env:NAME }}, {{ secret:name:key }}, " +
		"{{ configMap:name:key }}, {{ secret:name }} or " +
		"{{ configMap:name }}")
}

// WholeObject returns the Secret or ConfigMap template that an entry
// without a name must hold, alone: {{ secret:name }} or
// {{ configMap:name }}.
func WholeObject(value string) (Template, error) {
	ts, err := ParseTemplates(value)
	if err != nil {
		return Template{}, err
	}
	if len(ts) != 1 || ts[0].Kind == TemplateEnv || ts[0].Key != "" ||
		strings.TrimSpace(value) != value[ts[0].Start:ts[0].End] {
		return Template{}, fmt.Errorf("%q: an entry without a name imports "+
			"a whole Secret or ConfigMap; want {{ secret:name }} or "+
			"{{ configMap:name }} alone", value)
	}
	return ts[0], nil
}
