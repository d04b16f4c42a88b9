package runner

import (
	"fmt"
	"strings"

	"github.com/ferryfn/ferry/funcyaml"
)

// runEnv turns a function's run.envs into NAME=value entries for its
// process. kn func templates ({{ env:NAME }}, {{ secret:... }},
// {{ configMap:... }}) are not resolved yet: a value holding `{{` is an
// error naming the function and the variable, never passed on as it is. An
// entry without a name (kn func's form for "every key of a Secret or
// ConfigMap") is always a template and fails the same way.
func runEnv(f *funcyaml.Function) ([]string, error) {
	var env []string
	for i, e := range f.Run.Envs {
		value := ""
		if e.Value != nil {
			value = *e.Value
		}
		name := fmt.Sprintf("run.envs[%d]", i)
		if e.Name != nil {
			name = *e.Name
		}

		switch {
		case strings.Contains(value, "{{"):
			return nil, fmt.Errorf("function %s: environment variable %s "+
				"= %q: func.yaml templates ({{ ... }}) are not supported "+
				"by ferry dev yet; give a literal value",
				f.Name, name, value)
		case e.Name == nil || *e.Name == "":
			return nil, fmt.Errorf("function %s: %s has no name",
				f.Name, name)
		case strings.Contains(*e.Name, "="):
			return nil, fmt.Errorf("function %s: environment variable "+
				"name %q holds '='", f.Name, *e.Name)
		}
		env = append(env, *e.Name+"="+value)
	}
	return env, nil
}
