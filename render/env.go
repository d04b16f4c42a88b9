package render

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/ferryfn/ferry/funcyaml"
)

// envVars turns func.yaml's run.envs into a container's env and envFrom,
// as kn func does: a literal value as it is; a value that is exactly
// {{ secret:name:key }} or {{ configMap:name:key }} as a reference to that
// key; an entry without a name whose value is {{ secret:name }} or
// {{ configMap:name }} as every key of the object. {{ env:NAME }} is
// refused (ErrUnsupported): it would embed the renderer's environment.
func envVars(envs []funcyaml.Env) ([]corev1.EnvVar, []corev1.EnvFromSource, error) {
	var env []corev1.EnvVar
	var from []corev1.EnvFromSource
	for i, e := range envs {
		field := fmt.Sprintf("run.envs[%d]", i)
		value := ""
		if e.Value != nil {
			value = *e.Value
		}
		ts, err := funcyaml.ParseTemplates(value)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", field, err)
		}

		if e.Name == nil || *e.Name == "" {
			src, err := envFromSource(field, value, ts)
			if err != nil {
				return nil, nil, err
			}
			from = append(from, src)
			continue
		}

		v := corev1.EnvVar{Name: *e.Name}
		switch {
		case len(ts) == 0:
			v.Value = value
		case len(ts) == 1 && ts[0].Start == 0 && ts[0].End == len(value) &&
			ts[0].Key != "" && ts[0].Kind != funcyaml.TemplateEnv:
			v.ValueFrom = keyRef(ts[0])
		default:
			return nil, nil, fmt.Errorf("%s (%s): %q: only a literal or one "+
				"whole {{ secret:name:key }} or {{ configMap:name:key }}: %w",
				field, *e.Name, value, ErrUnsupported)
		}
		env = append(env, v)
	}
	return env, from, nil
}

// envFromSource is the envFrom entry of an env without a name.
func envFromSource(field, value string, ts []funcyaml.Template) (
	corev1.EnvFromSource, error) {
	if len(ts) != 1 || ts[0].Start != 0 || ts[0].End != len(value) ||
		ts[0].Key != "" || ts[0].Kind == funcyaml.TemplateEnv {
		return corev1.EnvFromSource{}, fmt.Errorf("%s: an entry without a name "+
			"must be {{ secret:name }} or {{ configMap:name }}, not %q", field, value)
	}
	ref := corev1.LocalObjectReference{Name: ts[0].Name}
	if ts[0].Kind == funcyaml.TemplateSecret {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: ref}}, nil
	}
	return corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: ref}}, nil
}

// keyRef references the key of the Secret or ConfigMap t names.
func keyRef(t funcyaml.Template) *corev1.EnvVarSource {
	ref := corev1.LocalObjectReference{Name: t.Name}
	if t.Kind == funcyaml.TemplateSecret {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: ref, Key: t.Key}}
	}
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: ref, Key: t.Key}}
}
