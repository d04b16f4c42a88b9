package render_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/manifest"
	"github.com/ferryfn/ferry/render"
)

// function writes a func.yaml into a new folder and loads it.
func function(t *testing.T, yamlText string) *funcyaml.Function {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, funcyaml.FileName),
		[]byte(yamlText), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := funcyaml.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const fullFunc = `specVersion: 0.36.0
name: resize
runtime: go
invoke: cloudevent
run:
  envs:
  - name: MODE
    value: fast
  - name: TOKEN
    value: '{{ secret:resize-secrets:token }}'
  - name: LEVEL
    value: '{{ configMap:resize-config:level }}'
  - value: '{{ secret:resize-all }}'
deploy:
  image: registry.example/resize@sha256:0000000000000000000000000000000000000000000000000000000000000000
  annotations:
    team: media
  labels:
  - key: tier
    value: batch
  healthEndpoints:
    readiness: /ready
  options:
    scale:
      min: 0
      max: 8
      metric: rps
      target: 50
      utilization: 70
    resources:
      requests:
        cpu: 250m
        memory: 64Mi
      limits:
        cpu: "1"
        memory: 256Mi
        concurrency: 3
  subscriptions:
  - source: default
    filters:
      type: dev.ferry.resize
      subject: big
  - source: default
    filters:
      type: dev.ferry.crop
`

func TestServiceIsWhatKnFuncDeployWouldCreate(t *testing.T) {
	f := function(t, fullFunc)
	svc, err := render.Service(f, render.Options{Namespace: "media"})
	if err != nil {
		t.Fatal(err)
	}
	if fe, err := manifest.DefaultAndValidate(svc.DeepCopy()); err != nil || fe != nil {
		t.Fatalf("Validate: %v %v", err, fe)
	}

	if svc.Name != "resize" || svc.Namespace != "media" {
		t.Errorf("name = %s/%s, want media/resize", svc.Namespace, svc.Name)
	}
	wantLabels := map[string]string{"tier": "batch", "boson.dev/function": "true",
		"function.knative.dev/name": "resize", "function.knative.dev/runtime": "go"}
	for k, v := range wantLabels {
		if svc.Labels[k] != v || svc.Spec.Template.Labels[k] != v {
			t.Errorf("label %s = %q (template %q), want %q", k, svc.Labels[k],
				svc.Spec.Template.Labels[k], v)
		}
	}
	wantAnn := map[string]string{
		"team":                                                  "media",
		"autoscaling.knative.dev/min-scale":                     "0",
		"autoscaling.knative.dev/max-scale":                     "8",
		"autoscaling.knative.dev/metric":                        "rps",
		"autoscaling.knative.dev/target":                        "50.000000",
		"autoscaling.knative.dev/target-utilization-percentage": "70.000000",
	}
	for k, v := range wantAnn {
		if got := svc.Spec.Template.Annotations[k]; got != v {
			t.Errorf("template annotation %s = %q, want %q", k, got, v)
		}
	}
	if _, ok := svc.Annotations["autoscaling.knative.dev/max-scale"]; ok {
		t.Errorf("scale annotations belong on the template, not the Service")
	}
	if cc := svc.Spec.Template.Spec.ContainerConcurrency; cc == nil || *cc != 3 {
		t.Errorf("containerConcurrency = %v, want 3", cc)
	}

	c := svc.Spec.Template.Spec.Containers[0]
	if c.Image != f.Deploy.Image {
		t.Errorf("image = %q, want deploy.image", c.Image)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/ready" ||
		c.LivenessProbe.HTTPGet.Path != "/health/liveness" ||
		c.ReadinessProbe.HTTPGet.Port.IntValue() != 8080 {
		t.Errorf("probes = %+v / %+v", c.ReadinessProbe.HTTPGet,
			c.LivenessProbe.HTTPGet)
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "256Mi" {
		t.Errorf("memory limit = %s, want 256Mi", q.String())
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "250m" {
		t.Errorf("cpu request = %s, want 250m", q.String())
	}

	if len(c.Env) != 3 || c.Env[0].Value != "fast" ||
		c.Env[1].ValueFrom.SecretKeyRef.Name != "resize-secrets" ||
		c.Env[1].ValueFrom.SecretKeyRef.Key != "token" ||
		c.Env[2].ValueFrom.ConfigMapKeyRef.Key != "level" {
		t.Errorf("env = %+v", c.Env)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != "resize-all" {
		t.Errorf("envFrom = %+v, want the whole Secret resize-all", c.EnvFrom)
	}
	sc := c.SecurityContext
	if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("securityContext = %+v", sc)
	}
}

func TestServiceDefaultsImageAndResources(t *testing.T) {
	f := function(t, "specVersion: 0.36.0\nname: tiny\nruntime: go\n")
	svc, err := render.Service(f, render.Options{Registry: "reg.local/team"})
	if err != nil {
		t.Fatal(err)
	}
	c := svc.Spec.Template.Spec.Containers[0]
	if c.Image != "reg.local/team/tiny:latest" {
		t.Errorf("image = %q, want reg.local/team/tiny:latest", c.Image)
	}
	if len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0 {
		t.Errorf("resources = %+v, want ResourcesDefault", c.Resources)
	}
	if len(svc.Spec.Template.Annotations) != 0 {
		t.Errorf("annotations = %v, want none without deploy.options.scale",
			svc.Spec.Template.Annotations)
	}
	if render.Image(f, "") != "dev.local/ferry/tiny:latest" {
		t.Errorf("default image = %q", render.Image(f, ""))
	}
}

func TestRenderRefusesWhatDependsOnTheRenderingMachine(t *testing.T) {
	for name, text := range map[string]string{
		"env template": "specVersion: 0.36.0\nname: a\nruntime: go\nrun:\n" +
			"  envs:\n  - name: HOME_DIR\n    value: '{{ env:HOME }}'\n",
		"volume": "specVersion: 0.36.0\nname: a\nruntime: go\nrun:\n" +
			"  volumes:\n  - secret: s\n    path: /s\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := render.Service(function(t, text), render.Options{})
			if !errors.Is(err, render.ErrUnsupported) {
				t.Errorf("err = %v, want ErrUnsupported", err)
			}
		})
	}
}

func TestTriggersAreFerryDevsTriggersMarkedClusterOnly(t *testing.T) {
	f := function(t, fullFunc)
	got := render.Triggers(f, render.Options{})
	want := eventing.FunctionTriggers(f, "")
	if len(got) != 2 || len(want) != 2 {
		t.Fatalf("%d Triggers, want 2", len(got))
	}
	names := map[string]bool{want[0].Name: true, want[1].Name: true}
	for _, tr := range got {
		if !names[tr.Name] {
			t.Errorf("Trigger %s is not one ferry dev derives (%v)", tr.Name, names)
		}
		if tr.Annotations[eventing.LocalAnnotation] != "false" {
			t.Errorf("Trigger %s lacks %s: false", tr.Name, eventing.LocalAnnotation)
		}
		if !strings.HasPrefix(tr.Name, "resize-") {
			t.Errorf("Trigger name %s does not start with the function's", tr.Name)
		}
		if fe, err := manifest.DefaultAndValidate(tr.DeepCopy()); err != nil || fe != nil {
			t.Errorf("Trigger %s: %v %v", tr.Name, err, fe)
		}
	}
	if got[0].Name > got[1].Name {
		t.Errorf("Triggers not sorted: %s, %s", got[0].Name, got[1].Name)
	}
}

func TestFilesAreDeterministicAndIgnoreSubscriptionOrder(t *testing.T) {
	a := function(t, fullFunc)
	swapped := strings.Replace(fullFunc, `  - source: default
    filters:
      type: dev.ferry.resize
      subject: big
  - source: default
    filters:
      type: dev.ferry.crop
`, `  - source: default
    filters:
      type: dev.ferry.crop
  - source: default
    filters:
      subject: big
      type: dev.ferry.resize
`, 1)
	b := function(t, swapped)

	fa, err := render.Files([]*funcyaml.Function{a}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := render.Files([]*funcyaml.Function{b}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fa["resize.yaml"], fb["resize.yaml"]) {
		t.Errorf("reordering subscriptions changed the output:\n%s\n---\n%s",
			fa["resize.yaml"], fb["resize.yaml"])
	}

	// The output is YAML with a header and three documents.
	doc := string(fa["resize.yaml"])
	if !strings.HasPrefix(doc, render.GeneratedHeader) ||
		strings.Count(doc, "\n---\n") != 2 {
		t.Errorf("resize.yaml is not header + Service + 2 Triggers:\n%s", doc)
	}
	var k struct{ Resources []string }
	if err := yaml.Unmarshal(fa[render.KustomizationFile], &k); err != nil ||
		len(k.Resources) != 1 || k.Resources[0] != "resize.yaml" {
		t.Errorf("kustomization = %s (%v)", fa[render.KustomizationFile], err)
	}
}

func TestWriteRemovesStaleGeneratedFilesOnly(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "hand-written.yaml")
	if err := os.WriteFile(keep, []byte("kind: ConfigMap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resize := function(t, fullFunc)
	tiny := function(t, "specVersion: 0.36.0\nname: tiny\nruntime: go\n")

	both, err := render.Files([]*funcyaml.Function{resize, tiny}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := render.Write(dir, both)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Written) != 3 || len(c.Removed) != 0 {
		t.Errorf("first write = %+v, want 3 written", c)
	}
	if c, err := render.Write(dir, both); err != nil || !c.Empty() {
		t.Errorf("second write = %+v, %v; want no change", c, err)
	}

	// tiny is gone: its file goes, the kustomization is rewritten, the
	// hand-written file stays.
	one, err := render.Files([]*funcyaml.Function{resize}, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := render.Diff(dir, one); len(d.Removed) != 1 {
		t.Errorf("Diff = %+v, want tiny.yaml removed", d)
	}
	c, err = render.Write(dir, one)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Removed) != 1 || c.Removed[0] != "tiny.yaml" {
		t.Errorf("removed %v, want [tiny.yaml]", c.Removed)
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny.yaml")); !os.IsNotExist(err) {
		t.Errorf("tiny.yaml is still there")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the hand-written file was touched: %v", err)
	}

	// A hand-written file is never overwritten.
	if err := os.WriteFile(filepath.Join(dir, "tiny.yaml"), []byte("x: 1\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := render.Write(dir, both); err == nil {
		t.Errorf("Write overwrote a file it did not generate")
	}
}
