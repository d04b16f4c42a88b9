package eventing

import (
	"fmt"
	"sort"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferryfn/ferry/manifest"
)

// Manifests are the eventing objects declared under a config folder.
type Manifests struct {
	Brokers  []*eventingv1.Broker
	Triggers []*eventingv1.Trigger
	// PingSources are the sources.knative.dev/v1 PingSources.
	PingSources []*sourcesv1.PingSource
	// Files maps each object ("Kind/name") to the file it came from, for
	// error messages.
	Files map[string]string
}

// typeMeta is what is read of a document first, to know its kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// LoadManifests reads every manifest under dir (see package manifest) and
// decodes the Brokers and Triggers of eventing.knative.dev/v1 and the
// PingSources of sources.knative.dev/v1 into Knative's own types, with their
// defaults set and validated. Other kinds are skipped here, and so are
// objects annotated LocalAnnotation "false". A missing dir gives no
// manifests and no error.
func LoadManifests(dir string) (*Manifests, error) {
	m := &Manifests{Files: map[string]string{}}
	err := manifest.Walk(dir, func(d manifest.Document) error {
		return m.decode(d.File, d.Index, d.Raw)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(m.Triggers, func(i, j int) bool {
		return m.Triggers[i].Name < m.Triggers[j].Name
	})
	return m, nil
}

func (m *Manifests) decode(path string, n int, doc []byte) error {
	var tm typeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return fmt.Errorf("%s: document %d: %w", path, n, err)
	}
	if tm.APIVersion == sourcesv1.SchemeGroupVersion.String() && tm.Kind == "PingSource" {
		var p sourcesv1.PingSource
		if err := yaml.UnmarshalStrict(doc, &p); err != nil {
			return fmt.Errorf("%s: PingSource: %w", path, err)
		}
		if clusterOnly(&p.ObjectMeta) {
			return nil
		}
		if err := check(&p); err != nil {
			return fmt.Errorf("%s: PingSource %s: %w", path, p.Name, err)
		}
		m.PingSources = append(m.PingSources, &p)
		m.Files["PingSource/"+p.Name] = path
		return nil
	}
	if tm.APIVersion != eventingv1.SchemeGroupVersion.String() {
		return nil
	}
	switch tm.Kind {
	case "Broker":
		var b eventingv1.Broker
		if err := yaml.UnmarshalStrict(doc, &b); err != nil {
			return fmt.Errorf("%s: Broker: %w", path, err)
		}
		if clusterOnly(&b.ObjectMeta) {
			return nil
		}
		if b.Annotations[eventingv1.BrokerClassAnnotationKey] == "" {
			if b.Annotations == nil {
				b.Annotations = map[string]string{}
			}
			b.Annotations[eventingv1.BrokerClassAnnotationKey] =
				manifest.KnativeBrokerClassDefault
		}
		if err := check(&b); err != nil {
			return fmt.Errorf("%s: Broker %s: %w", path, b.Name, err)
		}
		m.Brokers = append(m.Brokers, &b)
		m.Files["Broker/"+b.Name] = path
	case "Trigger":
		var t eventingv1.Trigger
		if err := yaml.UnmarshalStrict(doc, &t); err != nil {
			return fmt.Errorf("%s: Trigger: %w", path, err)
		}
		if clusterOnly(&t.ObjectMeta) {
			return nil
		}
		if err := check(&t); err != nil {
			return fmt.Errorf("%s: Trigger %s: %w", path, t.Name, err)
		}
		m.Triggers = append(m.Triggers, &t)
		m.Files["Trigger/"+t.Name] = path
	}
	return nil
}

// check defaults and validates obj; a field error or a crash of Knative's
// validation is an error.
func check(obj manifest.Object) error {
	fe, err := manifest.DefaultAndValidate(obj)
	if err != nil {
		return err
	}
	if fe != nil {
		return fe
	}
	return nil
}
