package devstack

import (
	"strings"
	"testing"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func trigger(name string, sub duckv1.Destination) *eventingv1.Trigger {
	t := &eventingv1.Trigger{}
	t.Name = name
	t.Spec.Subscriber = sub
	return t
}

func TestUnresolvedNamesTriggersWithoutTheirFunction(t *testing.T) {
	r := &resolver{namespace: "default", functions: map[string]bool{"csvstats": true}}
	uri, _ := apis.ParseURL("http://127.0.0.1:9999/")
	got := r.unresolved([]*eventingv1.Trigger{
		trigger("ok", duckv1.Destination{Ref: &duckv1.KReference{
			Kind: "Service", Name: "csvstats"}}),
		trigger("by-uri", duckv1.Destination{URI: uri}),
		trigger("gone", duckv1.Destination{Ref: &duckv1.KReference{
			Kind: "Service", Name: "thumbnail"}}),
		trigger("other-kind", duckv1.Destination{Ref: &duckv1.KReference{
			Kind: "Deployment", Name: "csvstats"}}),
	})
	if len(got) != 2 || !strings.Contains(got[0], "Trigger gone") ||
		!strings.Contains(got[1], "Trigger other-kind") {
		t.Errorf("unresolved = %q, want the Triggers gone and other-kind", got)
	}

	_, err := r.Resolve(duckv1.Destination{Ref: &duckv1.KReference{
		Kind: "Service", Name: "thumbnail"}})
	if err == nil || !strings.Contains(err.Error(), "Service default/thumbnail") {
		t.Errorf("Resolve error %v, want it to name default/thumbnail", err)
	}
}
