package eventing_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryfn/ferry/eventing"
)

// writeFiles creates files (path relative to dir -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const eventingYAML = `# The shop's eventing objects.
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: shop
spec:
  delivery:
    retry: 3
    backoffPolicy: exponential
    backoffDelay: PT0.5S
    deadLetterSink:
      uri: http://dead-letters.shop.svc.cluster.local/
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders-invoice
  namespace: shop
spec:
  broker: default
  filter:
    attributes:
      type: order.created
      tenant: ""
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: invoice
  delivery:
    retry: 1
    timeout: PT10S
---
# only a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: debug
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: invoice
spec:
  template:
    spec:
      containers:
      - image: example.com/invoice
`

const moreTriggersYAML = `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: audit-all
  namespace: shop
spec:
  broker: default
  subscriber:
    uri: http://audit.shop.svc.cluster.local/events
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: images-resize
  namespace: shop
spec:
  broker: default
  filters:
  - prefix:
      type: image.
  - not:
      exact:
        source: /tests
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: resize
`

func TestLoadManifestsDecodesBrokersAndTriggers(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"eventing.yaml":              eventingYAML,
		"triggers/more.yml":          moreTriggersYAML,
		"kustomization.yaml":         "resources: [eventing.yaml\n", // not YAML
		"triggers/notes.txt":         "kind: Trigger\n",
		"services/kustomization.yml": "resources:\n- : :\n",
	})

	m, err := eventing.LoadManifests(dir)
	if err != nil {
		t.Fatalf("LoadManifests: %v", err)
	}

	if len(m.Brokers) != 1 {
		t.Fatalf("%d Brokers, want 1", len(m.Brokers))
	}
	b := m.Brokers[0]
	if b.Name != "default" || b.Namespace != "shop" || *b.Spec.Delivery.Retry != 3 ||
		*b.Spec.Delivery.BackoffDelay != "PT0.5S" ||
		b.Spec.Delivery.DeadLetterSink.URI.Host != "dead-letters.shop.svc.cluster.local" {
		t.Errorf("Broker = %+v", b)
	}

	var names []string
	for _, tr := range m.Triggers {
		names = append(names, tr.Name)
	}
	if got := strings.Join(names, ","); got != "audit-all,images-resize,orders-invoice" {
		t.Fatalf("Triggers = %s, want the three, sorted by name", got)
	}
	audit, images, orders := m.Triggers[0], m.Triggers[1], m.Triggers[2]

	if got := orders.Spec.Filter.Attributes; len(got) != 2 ||
		got["type"] != "order.created" || got["tenant"] != "" {
		t.Errorf("orders-invoice filter = %v", got)
	}
	ref := orders.Spec.Subscriber.Ref
	if ref == nil || ref.Kind != "Service" || ref.Name != "invoice" ||
		ref.Namespace != "shop" {
		t.Errorf("orders-invoice subscriber ref = %+v, want Service invoice "+
			"defaulted to namespace shop", ref)
	}
	if d := orders.Spec.Delivery; d == nil || *d.Retry != 1 || *d.Timeout != "PT10S" {
		t.Errorf("orders-invoice delivery = %+v", d)
	}
	if orders.Labels["eventing.knative.dev/broker"] != "default" {
		t.Errorf("orders-invoice labels = %v, want the broker label set by "+
			"Knative's defaults", orders.Labels)
	}
	if audit.Spec.Filter == nil || len(audit.Spec.Filter.Attributes) != 0 {
		t.Errorf("audit-all filter = %+v, want Knative's empty default",
			audit.Spec.Filter)
	}
	if len(images.Spec.Filters) != 2 || images.Spec.Filters[0].Prefix["type"] != "image." {
		t.Errorf("images-resize filters = %+v", images.Spec.Filters)
	}

	want := map[string]string{
		"Broker/default":         filepath.Join(dir, "eventing.yaml"),
		"Trigger/orders-invoice": filepath.Join(dir, "eventing.yaml"),
		"Trigger/audit-all":      filepath.Join(dir, "triggers/more.yml"),
		"Trigger/images-resize":  filepath.Join(dir, "triggers/more.yml"),
	}
	if len(m.Files) != len(want) {
		t.Errorf("Files = %v, want %v", m.Files, want)
	}
	for k, v := range want {
		if m.Files[k] != v {
			t.Errorf("Files[%s] = %q, want %q", k, m.Files[k], v)
		}
	}
}

func TestLoadedManifestsMakeABroker(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"eventing.yaml": eventingYAML,
		"more.yaml": moreTriggersYAML})
	m, err := eventing.LoadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, m.Brokers[0].Spec.Delivery, m.Triggers...)
	byName := map[string]*eventing.Trigger{}
	for _, tr := range s.broker.Triggers() {
		byName[tr.Name()] = tr
	}
	// The Broker's delivery for Triggers without their own, the Trigger's
	// own for orders-invoice.
	if p := byName["audit-all"].Delivery; p.Retries != 3 || !p.Exponential ||
		p.Delay != 500*time.Millisecond || p.DeadLetterSink == nil {
		t.Errorf("audit-all delivery = %+v", p)
	}
	if p := byName["orders-invoice"].Delivery; p.Retries != 1 ||
		p.Timeout != 10*time.Second || p.DeadLetterSink != nil {
		t.Errorf("orders-invoice delivery = %+v", p)
	}

	image := newEvent("/uploads", "1", "image.uploaded", nil)
	test := newEvent("/tests", "2", "image.uploaded", nil)
	if !byName["images-resize"].Matches(image) || byName["images-resize"].Matches(test) {
		t.Error("images-resize: want a match for /uploads and none for /tests")
	}
	order := newEvent("/shop", "3", "order.created", nil)
	if byName["orders-invoice"].Matches(order) {
		t.Error("orders-invoice matched an event without a tenant")
	}
	order.SetExtension("tenant", "acme")
	if !byName["orders-invoice"].Matches(order) {
		t.Error("orders-invoice did not match an order with a tenant")
	}
}

func TestLoadManifestsNamesFileAndTriggerOfAnInvalidTrigger(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"triggers.yaml": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: good
spec:
  broker: default
  subscriber:
    uri: http://good.example/
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: orders-invoice
spec:
  broker: default
  filter:
    attributes:
      type: order.created
`})
	_, err := eventing.LoadManifests(dir)
	if err == nil {
		t.Fatal("LoadManifests accepted a Trigger without subscriber")
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(dir, "triggers.yaml"),
		"Trigger orders-invoice", "subscriber"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
}

func TestLoadManifestsRefusesUnknownFields(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"t.yaml": `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: typo
spec:
  broker: default
  subscribr:
    uri: http://x.example/
`})
	_, err := eventing.LoadManifests(dir)
	if err == nil || !strings.Contains(err.Error(), "t.yaml") ||
		!strings.Contains(err.Error(), "subscribr") {
		t.Errorf("error %v, want one naming t.yaml and the field subscribr", err)
	}
}

func TestLoadManifestsOfMissingDirIsEmpty(t *testing.T) {
	m, err := eventing.LoadManifests(filepath.Join(t.TempDir(), "no-config"))
	if err != nil {
		t.Fatalf("LoadManifests: %v", err)
	}
	if len(m.Brokers)+len(m.Triggers)+len(m.PingSources) != 0 {
		t.Errorf("manifests from nowhere: %+v", m)
	}
}
