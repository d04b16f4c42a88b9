package render

import (
	"errors"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/ferryfn/ferry/funcyaml"
)

// Defaults of Options and of what func.yaml leaves out.
const (
	// RegistryDefault prefixes the image of a function whose func.yaml
	// names none. Knative skips tag resolution for dev.local, so the
	// manifests apply before the images are pushed anywhere.
	RegistryDefault = "dev.local/ferry"
	// Port is where func-go's runtime listens in a container
	// (LISTEN_ADDRESS [::]:8080), as kn func assumes.
	Port = 8080
	// ContainerName is the name Knative gives a Service's only
	// container when it has none (kn func leaves it out).
	ContainerName = "user-container"
	// ReadinessPath and LivenessPath are func-go's health endpoints.
	ReadinessPath = "/health/readiness"
	LivenessPath  = "/health/liveness"
)

// ResourcesDefault are the container's requests and limits when func.yaml
// sets no deploy.options.resources: 100m CPU and 128 MiB requested, at most
// 512 MiB (room for the thumbnail function's largest decoded image, 200
// MB); no CPU limit, so a burst is not throttled.
var ResourcesDefault = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("128Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceMemory: resource.MustParse("512Mi"),
	},
}

// Labels and annotations render sets.
const (
	// LabelFunction and LabelRuntime are kn func's labels of a function's
	// Service; LabelBoson marks it as a function, as kn func does.
	LabelFunction = "function.knative.dev/name"
	LabelRuntime  = "function.knative.dev/runtime"
	LabelBoson    = "boson.dev/function"
	// LabelPartOf and LabelManagedBy let an operator select what render
	// made, for example with kubectl apply --prune -l.
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "ferry-render"
)

// ErrUnsupported is returned for func.yaml settings render cannot turn
// into a manifest that is the same wherever it is rendered.
var ErrUnsupported = errors.New("not supported by ferry render")

// Options configure rendering.
type Options struct {
	// Namespace goes into every object's metadata; "" leaves it out, for
	// kustomize's namespace: to set.
	Namespace string
	// Registry prefixes images that func.yaml does not name; "" means
	// RegistryDefault.
	Registry string
}

// Image is the image of f's container: deploy.image, else build.image,
// else <registry>/<name>:latest.
func Image(f *funcyaml.Function, registry string) string {
	switch {
	case f.Deploy.Image != "":
		return f.Deploy.Image
	case f.Build.Image != "":
		return f.Build.Image
	}
	if registry == "" {
		registry = RegistryDefault
	}
	return registry + "/" + f.Name + ":latest"
}

// Service returns the Knative Service of f.
func Service(f *funcyaml.Function, opts Options) (*servingv1.Service, error) {
	c, err := container(f, opts)
	if err != nil {
		return nil, err
	}
	labels, err := serviceLabels(f)
	if err != nil {
		return nil, err
	}
	annotations := maps.Clone(f.Deploy.Annotations)
	template := maps.Clone(annotations)
	if template == nil {
		template = map[string]string{}
	}
	maps.Copy(template, scaleAnnotations(f.Deploy.Options.Scale))

	svc := &servingv1.Service{
		TypeMeta: metav1.TypeMeta{
			APIVersion: servingv1.SchemeGroupVersion.String(),
			Kind:       "Service",
		},
		ObjectMeta: metav1.ObjectMeta{
			Name:        f.Name,
			Namespace:   opts.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
	}
	svc.Spec.Template.Labels = maps.Clone(labels)
	svc.Spec.Template.Annotations = template
	svc.Spec.Template.Spec.Containers = []corev1.Container{c}
	svc.Spec.Template.Spec.ServiceAccountName = f.Deploy.ServiceAccountName
	if r := f.Deploy.Options.Resources; r != nil && r.Limits != nil {
		svc.Spec.Template.Spec.ContainerConcurrency = r.Limits.Concurrency
	}
	return svc, nil
}

// serviceLabels are kn func's labels, deploy.labels and render's own.
func serviceLabels(f *funcyaml.Function) (map[string]string, error) {
	l := map[string]string{}
	for i, kv := range f.Deploy.Labels {
		if kv.Key == nil || *kv.Key == "" {
			return nil, fmt.Errorf("deploy.labels[%d]: no key", i)
		}
		v := ""
		if kv.Value != nil {
			v = *kv.Value
		}
		l[*kv.Key] = v
	}
	l[LabelBoson] = "true"
	l[LabelFunction] = f.Name
	l[LabelRuntime] = f.Runtime
	l[LabelPartOf] = "ferry"
	l[LabelManagedBy] = ManagedBy
	return l, nil
}

// scaleAnnotations are Knative's autoscaling annotations for s, written as
// kn func writes them (integers, and floats with six decimals).
func scaleAnnotations(s *funcyaml.Scale) map[string]string {
	a := map[string]string{}
	if s == nil {
		return a
	}
	if s.Min != nil {
		a[autoscaling.MinScaleAnnotationKey] = strconv.FormatInt(*s.Min, 10)
	}
	if s.Max != nil {
		a[autoscaling.MaxScaleAnnotationKey] = strconv.FormatInt(*s.Max, 10)
	}
	if s.Metric != "" {
		a[autoscaling.MetricAnnotationKey] = s.Metric
	}
	if s.Target != nil {
		a[autoscaling.TargetAnnotationKey] = fmt.Sprintf("%f", *s.Target)
	}
	if s.Utilization != nil {
		a[autoscaling.TargetUtilizationPercentageKey] =
			fmt.Sprintf("%f", *s.Utilization)
	}
	return a
}

// container is f's one container.
func container(f *funcyaml.Function, opts Options) (corev1.Container, error) {
	if len(f.Run.Volumes) > 0 {
		return corev1.Container{}, fmt.Errorf("run.volumes: %w", ErrUnsupported)
	}
	env, envFrom, err := envVars(f.Run.Envs)
	if err != nil {
		return corev1.Container{}, err
	}
	res, err := resources(f.Deploy.Options.Resources)
	if err != nil {
		return corev1.Container{}, err
	}

	readiness, liveness := ReadinessPath, LivenessPath
	if p := f.Deploy.HealthEndpoints.Readiness; p != "" {
		readiness = p
	}
	if p := f.Deploy.HealthEndpoints.Liveness; p != "" {
		liveness = p
	}
	no, yes := false, true
	return corev1.Container{
		Name:           ContainerName,
		Image:          Image(f, opts.Registry),
		Env:            env,
		EnvFrom:        envFrom,
		Resources:      res,
		ReadinessProbe: httpProbe(readiness),
		LivenessProbe:  httpProbe(liveness),
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			ReadOnlyRootFilesystem:   &yes,
			AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{
				Drop: []corev1.Capability{"ALL"},
			},
			SeccompProfile: &corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeRuntimeDefault,
			},
		},
	}, nil
}

func httpProbe(path string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(Port)},
	}}
}

// resources are r as Kubernetes quantities, or ResourcesDefault when
// func.yaml sets none.
func resources(r *funcyaml.Resources) (corev1.ResourceRequirements, error) {
	if r == nil || (r.Requests == nil && r.Limits == nil) {
		return *ResourcesDefault.DeepCopy(), nil
	}
	var out corev1.ResourceRequirements
	var err error
	if r.Requests != nil {
		if out.Requests, err = quantities(*r.Requests,
			"deploy.options.resources.requests"); err != nil {
			return out, err
		}
	}
	if r.Limits != nil {
		if out.Limits, err = quantities(r.Limits.ResourceList,
			"deploy.options.resources.limits"); err != nil {
			return out, err
		}
	}
	return out, nil
}

func quantities(l funcyaml.ResourceList, field string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{
		corev1.ResourceCPU: l.CPU, corev1.ResourceMemory: l.Memory} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s %q: %w", field, name, v, err)
		}
		out[name] = q
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
