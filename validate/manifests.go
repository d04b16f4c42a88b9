package validate

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferryfn/ferry/manifest"
)

// kind knows how to decode one apiVersion and kind.
type kind struct {
	// new returns an empty object of the kind.
	new func() any
	// check adds the kind's own rules beyond decoding, if any.
	check func(r *Report, d manifest.Document, obj any)
}

// kinds are the apiVersion/kind pairs `ferry validate` knows.
var kinds = map[string]kind{
	"eventing.knative.dev/v1/Broker": {new: func() any {
		return &eventingv1.Broker{}
	}},
	"eventing.knative.dev/v1/Trigger": {new: func() any {
		return &eventingv1.Trigger{}
	}},
	"sources.knative.dev/v1/PingSource": {new: func() any {
		return &sourcesv1.PingSource{}
	}},
	"sources.knative.dev/v1/SinkBinding": {new: func() any {
		return &sourcesv1.SinkBinding{}
	}},
	"serving.knative.dev/v1/Service": {new: func() any {
		return &servingv1.Service{}
	}},
	"v1/Service":        {new: func() any { return &corev1.Service{} }},
	"v1/ConfigMap":      {new: func() any { return &corev1.ConfigMap{} }},
	"v1/Secret":         {new: func() any { return &corev1.Secret{} }},
	"v1/ServiceAccount": {new: func() any { return &corev1.ServiceAccount{} }},
	"v1/Namespace":      {new: func() any { return &corev1.Namespace{} }},
	"v1/PersistentVolumeClaim": {new: func() any {
		return &corev1.PersistentVolumeClaim{}
	}},
	"apps/v1/Deployment": {new: func() any { return &appsv1.Deployment{} },
		check: checkDeployment},
	"apps/v1/StatefulSet": {new: func() any { return &appsv1.StatefulSet{} }},
	"networking.k8s.io/v1/NetworkPolicy": {new: func() any {
		return &networkingv1.NetworkPolicy{}
	}},
	"rabbitmq.com/v1beta1/RabbitmqCluster": {new: func() any {
		return &RabbitmqCluster{}
	}},
	"eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig": {new: func() any {
		return &RabbitmqBrokerConfig{}
	}},
}

// namespaceDefault is the namespace an object without one is checked in.
const namespaceDefault = "default"

// object is a decoded manifest.
type object struct {
	doc   manifest.Document
	value any
}

// objects indexes the decoded manifests by "apiVersion/kind" and name.
type objects map[string]map[string]object

func (o objects) get(gvk, name string) (object, bool) {
	obj, ok := o[gvk][name]
	return obj, ok
}

func checkManifests(r *Report, dir string) (objects, error) {
	objs := objects{}
	err := manifest.Walk(dir, func(d manifest.Document) error {
		gvk := d.APIVersion + "/" + d.Kind
		k, ok := kinds[gvk]
		if !ok {
			r.add(Finding{Severity: Warning, File: d.File, Object: d.Object(),
				Message: fmt.Sprintf("%s is not a kind ferry validate knows; "+
					"not checked", gvk)})
			return nil
		}
		obj := k.new()
		if !decode(r, d, obj) {
			return nil
		}
		r.Checked[d.Kind]++
		if k.check != nil {
			k.check(r, d, obj)
		}
		if objs[gvk] == nil {
			objs[gvk] = map[string]object{}
		}
		if _, dup := objs[gvk][d.Name]; dup {
			r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
				Message: "declared twice"})
		}
		objs[gvk][d.Name] = object{doc: d, value: obj}
		return nil
	})
	return objs, err
}

// decode reads d strictly into obj, then defaults and validates it if it is
// a Knative object. It reports whether obj can be used further.
func decode(r *Report, d manifest.Document, obj any) bool {
	if err := yaml.UnmarshalStrict(d.Raw, obj); err != nil {
		r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
			Message: decodeMessage(err)})
		return false
	}
	if d.Name == "" {
		r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
			Field: "metadata.name", Message: "missing"})
	}
	kn, ok := obj.(manifest.Object)
	if !ok {
		return true
	}
	if b, ok := obj.(*eventingv1.Broker); ok {
		defaultBrokerClass(b)
	}
	if m, ok := obj.(metav1.Object); ok && m.GetNamespace() == "" {
		// kustomize (or kubectl -n) gives the namespace on apply.
		m.SetNamespace(namespaceDefault)
	}
	fe, err := manifest.DefaultAndValidate(kn)
	if err != nil {
		r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
			Message: err.Error()})
		return false
	}
	addFieldErrors(r, d, fe)
	return true
}

func defaultBrokerClass(b *eventingv1.Broker) {
	if b.Annotations[eventingv1.BrokerClassAnnotationKey] != "" {
		return
	}
	if b.Annotations == nil {
		b.Annotations = map[string]string{}
	}
	b.Annotations[eventingv1.BrokerClassAnnotationKey] = manifest.KnativeBrokerClassDefault
}

// addFieldErrors turns Knative's field errors into findings, one per
// message and path.
func addFieldErrors(r *Report, d manifest.Document, fe *apis.FieldError) {
	if fe == nil {
		return
	}
	for _, e := range fe.WrappedErrors() {
		sev := Error
		if e.Level == apis.WarningLevel {
			sev = Warning
		}
		msg := e.Message
		if e.Details != "" {
			msg += ": " + e.Details
		}
		paths := e.Paths
		if len(paths) == 0 {
			paths = []string{""}
		}
		for _, p := range paths {
			r.add(Finding{Severity: sev, File: d.File, Object: d.Object(),
				Field: p, Message: msg})
		}
	}
}

// checkDeployment asks of a Deployment what Ferry's own manifests promise:
// a selector that selects its pods, and containers that run as non-root
// with requests and limits.
func checkDeployment(r *Report, d manifest.Document, obj any) {
	dep := obj.(*appsv1.Deployment)
	warn := func(field, msg string) {
		r.add(Finding{Severity: Warning, File: d.File, Object: d.Object(),
			Field: field, Message: msg})
	}
	if sel := dep.Spec.Selector; sel == nil {
		r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
			Field: "spec.selector", Message: "missing"})
	} else {
		for k, v := range sel.MatchLabels {
			if dep.Spec.Template.Labels[k] != v {
				r.add(Finding{Severity: Error, File: d.File, Object: d.Object(),
					Field:   "spec.selector.matchLabels." + k,
					Message: "does not select the pod template's labels"})
			}
		}
	}
	for i, c := range dep.Spec.Template.Spec.Containers {
		path := fmt.Sprintf("spec.template.spec.containers[%d]", i)
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			warn(path+".securityContext.runAsNonRoot", "not set to true")
		}
		if len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0 {
			warn(path+".resources", "requests and limits should both be set")
		}
	}
}

// decodeMessage shortens a strict decoding error to what names the problem.
func decodeMessage(err error) string {
	msg := err.Error()
	for _, prefix := range []string{"error unmarshaling JSON: ",
		"while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}
