package render

import (
	"sort"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/funcyaml"
)

// Triggers returns f's Triggers as eventing.FunctionTriggers derives them
// under `ferry dev` (same names, filters and subscriber), sorted by name,
// with render's labels and eventing.LocalAnnotation "false".
func Triggers(f *funcyaml.Function, opts Options) []*eventingv1.Trigger {
	ts := eventing.FunctionTriggers(f, opts.Namespace)
	for _, t := range ts {
		if t.Labels == nil {
			t.Labels = map[string]string{}
		}
		t.Labels[LabelFunction] = f.Name
		t.Labels[LabelPartOf] = "ferry"
		t.Labels[LabelManagedBy] = ManagedBy
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[eventing.LocalAnnotation] = "false"
		if opts.Namespace == "" && t.Spec.Subscriber.Ref != nil {
			t.Spec.Subscriber.Ref.Namespace = ""
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}
