package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProjectConfigAndFunctionsAreValid(t *testing.T) {
	r, err := Project("../config", "../functions")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == Error {
			t.Errorf("%s", f)
		} else {
			t.Logf("%s", f)
		}
	}
	if r.Checked["Broker"] == 0 || r.Checked["func.yaml"] < 2 || r.Checked["PingSource"] == 0 {
		t.Errorf("checked %v: want the Broker, the PingSource and both functions", r.Checked)
	}
}

// project writes a config folder with the given manifests and an empty
// functions folder.
func project(t *testing.T, manifests string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	config, fns := filepath.Join(dir, "config"), filepath.Join(dir, "functions")
	for _, d := range []string{config, fns} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(config, "all.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	return config, fns
}

const brokerYAML = `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  annotations:
    eventing.knative.dev/broker.class: RabbitMQBroker
---
`

func TestFindingsNameFileObjectAndField(t *testing.T) {
	cases := []struct {
		name, manifests string
		severity        Severity
		object, field   string
		message         string
	}{
		{"unknown field", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t1}
spec:
  broker: default
  subscriber: {uri: http://example.invalid/}
  filtre: {}
`, Error, "Trigger/t1", "", `unknown field "filtre"`},
		{"missing subscriber", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t2}
spec:
  broker: default
`, Error, "Trigger/t2", "spec.subscriber.ref", "expected at least one"},
		{"undeclared broker", `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t3}
spec:
  broker: elsewhere
  subscriber: {uri: http://example.invalid/}
`, Error, "Trigger/t3", "spec.broker", `Broker "elsewhere" is not declared`},
		{"every is refused", brokerYAML + `apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: p1}
spec:
  schedule: "@every 1m"
  sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: default}}
`, Error, "PingSource/p1", "spec.schedule", "@every"},
		{"bad backoff delay", `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
spec:
  delivery: {retry: 2, backoffPolicy: linear, backoffDelay: soon}
`, Error, "Broker/default", "spec.delivery.backoffDelay", "invalid value"},
		{"bad CESQL does not crash", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t4}
spec:
  broker: default
  filters:
  - cesql: "type = 'a' AND ("
  subscriber: {uri: http://example.invalid/}
`, Error, "Trigger/t4", "", ""},
		{"rabbitmq ignores spec.filters", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t5}
spec:
  broker: default
  filters:
  - prefix: {type: dev.ferry.}
  subscriber: {uri: http://example.invalid/}
`, Warning, "Trigger/t5", "spec.filters", "ignores spec.filters"},
		{"rabbitmq datacontenttype", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t6}
spec:
  broker: default
  filter: {attributes: {datacontenttype: text/csv}}
  subscriber: {uri: http://example.invalid/}
`, Warning, "Trigger/t6", "spec.filter.attributes.datacontenttype", "never matches"},
		{"rabbitmq numeric extension", brokerYAML + `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: t7}
spec:
  broker: default
  filter: {attributes: {priority: "150"}}
  subscriber: {uri: http://example.invalid/}
`, Warning, "Trigger/t7", "spec.filter.attributes.priority", "numeric extension"},
		{"unknown kind", `apiVersion: example.com/v1
kind: Gadget
metadata: {name: g}
`, Warning, "Gadget/g", "", "not a kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config, fns := project(t, tc.manifests)
			r, err := Project(config, fns)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				if f.Severity == tc.severity && f.Object == tc.object &&
					(tc.field == "" || f.Field == tc.field) &&
					strings.Contains(f.Message, tc.message) {
					if !strings.HasSuffix(f.File, "all.yaml") {
						t.Errorf("finding names file %q", f.File)
					}
					return
				}
			}
			t.Errorf("no %s on %s %s containing %q in %v", tc.severity, tc.object,
				tc.field, tc.message, r.Findings)
		})
	}
}

func TestFunctionSubscriptionNeedsDeclaredBroker(t *testing.T) {
	r, err := projectWithEcho(t, "deploy:\n  subscriptions:\n"+
		"  - source: missing\n    filters: {type: x}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == Error && f.Field == "spec.broker" &&
			strings.HasSuffix(f.File, filepath.Join("echo", "func.yaml")) {
			return
		}
	}
	t.Errorf("no error for the subscription's undeclared Broker: %v", r.Findings)
}

func TestFuncYAMLUnknownFieldIsWarning(t *testing.T) {
	r, err := projectWithEcho(t, "deploy:\n  optoins:\n    scale: {max: 3}\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range r.Findings {
		if f.Severity == Warning && strings.Contains(f.Message, "deploy.optoins") &&
			strings.HasSuffix(f.File, filepath.Join("echo", "func.yaml")) {
			return
		}
	}
	t.Errorf("no warning naming the misspelt field: %v", r.Findings)
}

// projectWithEcho validates a project with the Broker of brokerYAML and
// one function, echo, whose func.yaml ends with deploy.
func projectWithEcho(t *testing.T, deploy string) (*Report, error) {
	t.Helper()
	config, fns := project(t, brokerYAML)
	dir := filepath.Join(fns, "echo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := "specVersion: 0.36.0\nname: echo\nruntime: go\n" +
		"invoke: cloudevent\n" + deploy
	err := os.WriteFile(filepath.Join(dir, "func.yaml"), []byte(yaml), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return Project(config, fns)
}
