package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ferryfn/ferry/funcyaml"
)

// ErrEnvironment is wrapped by every error that keeps a function's
// run.envs from being resolved: a malformed template, an unset
// {{ env:NAME }}, a Secret or ConfigMap key without its file.
var ErrEnvironment = errors.New("run.envs cannot be resolved")

// valueBytesMax bounds one Secret or ConfigMap value, as Kubernetes bounds
// a whole Secret.
const valueBytesMax = 1 << 20

// importableKey is a key that becomes a variable when a whole Secret or
// ConfigMap is imported; Kubernetes skips the others.
var importableKey = regexp.MustCompile(`^[-._A-Za-z][-._A-Za-z0-9]*$`)

// environment resolves the function's run.envs into NAME=value entries for
// its process, as Knative would set them in the Service's container:
//
//   - name: N, value: "text"                 N=text
//   - name: N, value: "{{ env:HOME }}/x"     from Ferry's own environment;
//     an unset variable is an error (templates may sit inside a value)
//   - name: N, value: "{{ secret:s:k }}"     the content of
//     <SecretsDir>/s/k, byte for byte (a trailing newline is kept)
//   - name: N, value: "{{ configMap:c:k }}"  <ConfigMapsDir>/c/k
//   - value: "{{ secret:s }}" (no name)      every file of <SecretsDir>/s
//     whose name is a valid variable name becomes one (dot files and
//     folders are skipped); the same for "{{ configMap:c }}"
//
// Imported variables come first, so that a named entry of the same name
// wins, as env wins over envFrom in Kubernetes. It is resolved at New, so
// that a mistake stops ferry dev at once, and again at every instance
// start, so that an edited Secret file is picked up by the next instance.
// Errors name the function, the variable and the file.
func (f *function) environment() ([]string, error) {
	var imported, named []string
	for i, e := range f.spec.Run.Envs {
		value := ""
		if e.Value != nil {
			value = *e.Value
		}

		if e.Name == nil || *e.Name == "" {
			env, err := f.importObject(value)
			if err != nil {
				return nil, fmt.Errorf("function %s: run.envs[%d]: %w: %w",
					f.name, i, ErrEnvironment, err)
			}
			imported = append(imported, env...)
			continue
		}

		name := *e.Name
		if strings.Contains(name, "=") {
			return nil, fmt.Errorf("function %s: environment variable "+
				"name %q holds '=': %w", f.name, name, ErrEnvironment)
		}
		resolved, err := f.r.expand(value)
		if err != nil {
			return nil, fmt.Errorf("function %s: environment variable "+
				"%s: %w: %w", f.name, name, ErrEnvironment, err)
		}
		named = append(named, name+"="+resolved)
	}
	return append(imported, named...), nil
}

// expand replaces every template in value by what it names.
func (r *Runner) expand(value string) (string, error) {
	ts, err := funcyaml.ParseTemplates(value)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	for _, t := range ts {
		v, err := r.lookup(t)
		if err != nil {
			return "", fmt.Errorf("%s: %w", value[t.Start:t.End], err)
		}
		b.WriteString(value[last:t.Start])
		b.WriteString(v)
		last = t.End
	}
	b.WriteString(value[last:])
	return b.String(), nil
}

// lookup resolves one template of a named entry.
func (r *Runner) lookup(t funcyaml.Template) (string, error) {
	switch {
	case t.Kind == funcyaml.TemplateEnv:
		v, ok := os.LookupEnv(t.Name)
		if !ok {
			return "", fmt.Errorf("%s is not set in ferry's environment",
				t.Name)
		}
		return v, nil
	case t.Key == "":
		return "", fmt.Errorf("a whole %s is imported by an entry "+
			"without a name; give a key ({{ %s:%s:KEY }})", t.Kind, t.Kind,
			t.Name)
	}
	dir, err := r.objectDir(t)
	if err != nil {
		return "", err
	}
	return readValue(filepath.Join(dir, t.Key))
}

// objectDir returns the folder of the Secret or ConfigMap t names.
func (r *Runner) objectDir(t funcyaml.Template) (string, error) {
	root, param := r.secretsDir, "Params.SecretsDir"
	if t.Kind == funcyaml.TemplateConfigMap {
		root, param = r.configMapsDir, "Params.ConfigMapsDir"
	}
	if root == "" {
		return "", fmt.Errorf("no folder for %ss (%s is not set)", t.Kind,
			param)
	}
	return filepath.Join(root, t.Name), nil
}

// readValue reads one value file, at most valueBytesMax bytes.
func readValue(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("read %s: not a regular file", path)
	}
	if info.Size() > valueBytesMax {
		return "", fmt.Errorf("read %s: %d bytes, more than %d", path,
			info.Size(), valueBytesMax)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), nil
}

// importObject reads every key of the whole Secret or ConfigMap that value
// ({{ secret:name }} or {{ configMap:name }}, alone) names. Keys that are
// not variable names are skipped with a warning.
func (f *function) importObject(value string) ([]string, error) {
	t, err := funcyaml.WholeObject(value)
	if err != nil {
		return nil, err
	}
	dir, err := f.r.objectDir(t)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read %s: %w", t.Kind, t.Name, dir,
			err)
	}

	var env []string
	for _, e := range entries {
		key := e.Name()
		if e.IsDir() || strings.HasPrefix(key, ".") {
			continue
		}
		if !importableKey.MatchString(key) {
			f.log.Warn("key skipped: not a variable name", "kind", t.Kind,
				"object", t.Name, "key", key)
			continue
		}
		v, err := readValue(filepath.Join(dir, key))
		if err != nil {
			return nil, err
		}
		env = append(env, key+"="+v)
	}
	return env, nil
}
