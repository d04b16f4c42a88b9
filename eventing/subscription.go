package eventing

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/funcyaml"
)

// ServiceAPIVersion is the API version of a Knative Service, the kind a
// function's Triggers name as their subscriber.
const ServiceAPIVersion = "serving.knative.dev/v1"

// FunctionTriggers returns the Triggers that f's deploy.subscriptions ask
// for, as `kn func deploy` creates them: one per subscription, on the Broker
// named in its source, with its filters as exact attribute filters and the
// function's Knative Service as subscriber.
//
// Each name is the function's name and a hash of the subscription, so that
// it stays the same while the subscription does, whatever its position.
func FunctionTriggers(f *funcyaml.Function, namespace string) []*eventingv1.Trigger {
	var ts []*eventingv1.Trigger
	for _, s := range f.Deploy.Subscriptions {
		t := &eventingv1.Trigger{
			TypeMeta: metav1.TypeMeta{
				APIVersion: eventingv1.SchemeGroupVersion.String(),
				Kind:       "Trigger",
			},
			ObjectMeta: metav1.ObjectMeta{
				Name:      f.Name + "-" + subscriptionHash(s),
				Namespace: namespace,
				Labels:    map[string]string{"function.knative.dev/name": f.Name},
			},
			Spec: eventingv1.TriggerSpec{
				Broker: s.Source,
				Subscriber: duckv1.Destination{Ref: &duckv1.KReference{
					APIVersion: ServiceAPIVersion,
					Kind:       "Service",
					Name:       f.Name,
					Namespace:  namespace,
				}},
			},
		}
		if len(s.Filters) > 0 {
			t.Spec.Filter = &eventingv1.TriggerFilter{
				Attributes: eventingv1.TriggerFilterAttributes(s.Filters),
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// subscriptionHash is 8 hex digits over the broker and sorted filters.
func subscriptionHash(s funcyaml.Subscription) string {
	keys := make([]string, 0, len(s.Filters))
	for k := range s.Filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Source)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + s.Filters[k])
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:4])
}
