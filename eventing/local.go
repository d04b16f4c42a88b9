package eventing

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// LocalAnnotation, set to "false" on a Broker, Trigger or PingSource
// manifest, keeps it out of `ferry dev`: LoadManifests skips it. Ferry's
// cluster-only objects carry it: the results Trigger (whose subscriber is
// the ingress, which `ferry dev` does not need to reach) and the Triggers
// that `ferry render` writes (which `ferry dev` derives from func.yaml).
const LocalAnnotation = "ferry.dev/local"

// clusterOnly reports whether m is marked LocalAnnotation "false".
func clusterOnly(m *metav1.ObjectMeta) bool {
	return m.Annotations[LocalAnnotation] == "false"
}
