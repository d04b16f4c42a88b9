package render_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/manifest"
	"github.com/ferryfn/ferry/render"
	"github.com/ferryfn/ferry/validate"
)

// The repository's folders, seen from this package.
const (
	configDir    = "../config"
	functionsDir = "../functions"
	ingressDir   = ".."
)

// kinds are every apiVersion/kind config/ may hold, each with a new empty
// value of its real Go type. The RabbitMQ CRDs are decoded into structs of
// their documented fields (package validate), since their operators
// cannot be imported.
var kinds = map[string]func() any{
	"v1/Namespace":       func() any { return &corev1.Namespace{} },
	"v1/Service":         func() any { return &corev1.Service{} },
	"apps/v1/Deployment": func() any { return &appsv1.Deployment{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any {
		return &networkingv1.NetworkPolicy{}
	},
	"serving.knative.dev/v1/Service":  func() any { return &servingv1.Service{} },
	"eventing.knative.dev/v1/Broker":  func() any { return &eventingv1.Broker{} },
	"eventing.knative.dev/v1/Trigger": func() any { return &eventingv1.Trigger{} },
	"sources.knative.dev/v1/SinkBinding": func() any {
		return &sourcesv1.SinkBinding{}
	},
	"sources.knative.dev/v1/PingSource": func() any {
		return &sourcesv1.PingSource{}
	},
	"rabbitmq.com/v1beta1/RabbitmqCluster": func() any {
		return &validate.RabbitmqCluster{}
	},
	"eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig": func() any {
		return &validate.RabbitmqBrokerConfig{}
	},
}

// object is one decoded manifest.
type object struct {
	where string // file and document, for messages
	gvk   string
	name  string
	value any
}

// decodeAll decodes every document strictly into its Go type and runs
// SetDefaults and Validate on the Knative ones; any unknown kind, unknown
// field or validation error fails t.
func decodeAll(t *testing.T, docs []manifest.Document) []object {
	t.Helper()
	var out []object
	for _, d := range docs {
		where := fmt.Sprintf("%s#%d %s", d.File, d.Index, d.Object())
		gvk := d.APIVersion + "/" + d.Kind
		newValue, ok := kinds[gvk]
		if !ok {
			t.Errorf("%s: %s is not a kind this test knows", where, gvk)
			continue
		}
		v := newValue()
		if err := yaml.UnmarshalStrict(d.Raw, v); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if d.Name == "" {
			t.Errorf("%s: no metadata.name", where)
		}
		inNamespace(v)
		if kn, ok := v.(manifest.Object); ok {
			fe, err := manifest.DefaultAndValidate(kn)
			if err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if fe != nil {
				t.Errorf("%s: %v", where, fe)
			}
		}
		checkPods(t, where, v)
		out = append(out, object{where: where, gvk: gvk, name: d.Name, value: v})
	}
	return out
}

// namespace is the one config/base/kustomization.yaml puts every object
// in.
const namespace = "ferry"

// inNamespace gives a namespaced object without a namespace the one
// kustomize gives it, so that a file validates as it will be applied.
func inNamespace(v any) {
	o, ok := v.(metav1.Object)
	if !ok || o.GetNamespace() != "" {
		return
	}
	if _, isNamespace := v.(*corev1.Namespace); !isNamespace {
		o.SetNamespace(namespace)
	}
}

// checkPods asks of every pod template what the issue promises: requests
// and limits, non-root and a read-only root file system.
func checkPods(t *testing.T, where string, v any) {
	t.Helper()
	var cs []corev1.Container
	switch o := v.(type) {
	case *appsv1.Deployment:
		cs = o.Spec.Template.Spec.Containers
		for k, val := range o.Spec.Selector.MatchLabels {
			if o.Spec.Template.Labels[k] != val {
				t.Errorf("%s: selector %s=%s does not select its pods", where,
					k, val)
			}
		}
	case *servingv1.Service:
		cs = o.Spec.Template.Spec.Containers
	default:
		return
	}
	for _, c := range cs {
		sc := c.SecurityContext
		switch {
		case len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0:
			t.Errorf("%s: container %s lacks requests or limits", where, c.Name)
		case sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: container %s may run as root", where, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: container %s has a writable root", where, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: container %s may escalate", where, c.Name)
		}
	}
}

func TestEveryManifestUnderConfigDecodesAndValidates(t *testing.T) {
	var docs []manifest.Document
	err := manifest.Walk(configDir, func(d manifest.Document) error {
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, docs)
	if len(objs) < 15 {
		t.Errorf("decoded %d objects under %s, want all of them (15 or more)",
			len(objs), configDir)
	}
}

// kustomize builds dir with kubectl's kustomize, as `kubectl apply -k`
// would. Without kubectl the test is skipped, except under CI=true.
func kustomize(t *testing.T, dir string) []manifest.Document {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubectl is not installed; CI needs it to build %s", dir)
		}
		t.Skipf("kubectl is not installed: %v", err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(kubectl, "kustomize", dir)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, stderr.String())
	}

	var docs []manifest.Document
	r := yamlutil.NewYAMLReader(bufioReader(out))
	for i := 1; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &head); err != nil {
			t.Fatal(err)
		}
		if head.Kind != "Namespace" && head.Metadata.Namespace != namespace {
			t.Errorf("%s %s is in namespace %q, want %s", head.Kind,
				head.Metadata.Name, head.Metadata.Namespace, namespace)
		}
		docs = append(docs, manifest.Document{File: "kustomize " + dir,
			Index: i, APIVersion: head.APIVersion, Kind: head.Kind,
			Name: head.Metadata.Name, Raw: raw})
	}
	return docs
}

// index finds built objects by "apiVersion/kind" and name.
type index map[string]any

func newIndex(objs []object) index {
	ix := index{}
	for _, o := range objs {
		ix[o.gvk+"/"+o.name] = o.value
	}
	return ix
}

func (ix index) has(gvk, name string) bool {
	_, ok := ix[gvk+"/"+name]
	return ok
}

func TestKustomizeBuildOfConfigIsValidAndConsistent(t *testing.T) {
	objs := decodeAll(t, kustomize(t, configDir))
	ix := newIndex(objs)

	broker, ok := ix["eventing.knative.dev/v1/Broker/default"].(*eventingv1.Broker)
	if !ok {
		t.Fatalf("the build has no Broker default")
	}
	if c := broker.Annotations[eventingv1.BrokerClassAnnotationKey]; c !=
		"RabbitMQBroker" {
		t.Errorf("Broker class = %q, want RabbitMQBroker", c)
	}
	cfg := broker.Spec.Config
	if cfg == nil || !ix.has("eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig",
		cfg.Name) {
		t.Errorf("Broker spec.config = %+v, want the RabbitmqBrokerConfig "+
			"of the build", cfg)
	} else {
		bc := ix["eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig/"+
			cfg.Name].(*validate.RabbitmqBrokerConfig)
		ref := bc.Spec.RabbitmqClusterReference
		if ref == nil || !ix.has("rabbitmq.com/v1beta1/RabbitmqCluster", ref.Name) {
			t.Errorf("RabbitmqBrokerConfig names cluster %+v, not in the build",
				ref)
		}
	}
	dls := broker.Spec.Delivery.DeadLetterSink
	if dls == nil || dls.Ref == nil || dls.Ref.Name != "ferry-ingress" ||
		dls.URI == nil || dls.URI.Path != "/v1/records" {
		t.Errorf("Broker deadLetterSink = %+v, want ferry-ingress /v1/records",
			dls)
	}

	checkReferences(t, objs, ix, true)

	ingress, ok := ix["serving.knative.dev/v1/Service/ferry-ingress"].(*servingv1.Service)
	if !ok {
		t.Fatalf("the build has no ingress Service")
	}
	scale := ingress.Spec.Template.Annotations["autoscaling.knative.dev/min-scale"]
	if got := scale; got != "1" {
		t.Errorf("ingress min-scale = %q, want 1", got)
	}
	env := map[string]string{}
	for _, e := range ingress.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if !strings.Contains(env["FERRY_REDIS_URL"], "ferry-redis:6379") ||
		!ix.has("v1/Service", "ferry-redis") {
		t.Errorf("ingress FERRY_REDIS_URL = %q, want the ferry-redis Service",
			env["FERRY_REDIS_URL"])
	}
	if env["FERRY_BROKER"] != broker.Name {
		t.Errorf("ingress FERRY_BROKER = %q, want %s", env["FERRY_BROKER"],
			broker.Name)
	}
}

func TestKustomizeBuildOfExistingBrokerOverlay(t *testing.T) {
	objs := decodeAll(t, kustomize(t, filepath.Join(configDir, "overlays",
		"existing-broker")))
	ix := newIndex(objs)
	for _, gone := range []string{
		"eventing.knative.dev/v1/Broker/default",
		"rabbitmq.com/v1beta1/RabbitmqCluster/ferry-rabbitmq",
		"eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig/ferry-rabbitmq",
		"networking.k8s.io/v1/NetworkPolicy/ferry-rabbitmq",
	} {
		if _, ok := ix[gone]; ok {
			t.Errorf("the overlay still has %s", gone)
		}
	}
	checkReferences(t, objs, ix, false)
}

// checkReferences checks that Triggers, the SinkBinding and the
// PingSource name what the build holds: Services always, the Broker when
// ownBroker (the overlay's Broker exists on the cluster instead).
func checkReferences(t *testing.T, objs []object, ix index, ownBroker bool) {
	t.Helper()
	service := func(where string, ref string) {
		if !ix.has("serving.knative.dev/v1/Service", ref) {
			t.Errorf("%s: Knative Service %q is not in the build", where, ref)
		}
	}
	broker := func(where, name string) {
		if ownBroker && !ix.has("eventing.knative.dev/v1/Broker", name) {
			t.Errorf("%s: Broker %q is not in the build", where, name)
		}
	}
	triggers := 0
	for _, o := range objs {
		switch v := o.value.(type) {
		case *eventingv1.Trigger:
			triggers++
			broker(o.where, v.Spec.Broker)
			if ref := v.Spec.Subscriber.Ref; ref != nil {
				service(o.where, ref.Name)
			}
		case *sourcesv1.SinkBinding:
			service(o.where, v.Spec.Subject.Name)
			if ref := v.Spec.Sink.Ref; ref == nil || ref.Kind != "Broker" {
				t.Errorf("%s: sink %+v, want a Broker", o.where, v.Spec.Sink)
			} else {
				broker(o.where, ref.Name)
			}
		case *sourcesv1.PingSource:
			if ref := v.Spec.Sink.Ref; ref != nil {
				broker(o.where, ref.Name)
			}
		}
	}
	if triggers < 4 {
		t.Errorf("%d Triggers, want the results Trigger, the schedule's and "+
			"one per subscription", triggers)
	}
}

func TestConfigLoadsUnderFerryDev(t *testing.T) {
	m, err := eventing.LoadManifests(configDir)
	if err != nil {
		t.Fatalf("ferry dev cannot load %s: %v", configDir, err)
	}
	fns, err := funcyaml.Discover(functionsDir)
	if err != nil {
		t.Fatal(err)
	}

	brokers := map[string]bool{}
	for _, b := range m.Brokers {
		brokers[b.Name] = true
	}
	if !brokers["default"] {
		t.Errorf("ferry dev sees Brokers %v, want default", brokers)
	}
	functions := map[string]bool{}
	names := map[string]bool{}
	for _, f := range fns {
		functions[f.Name] = true
		for _, tr := range eventing.FunctionTriggers(f, "") {
			names[tr.Name] = true
		}
	}
	for _, tr := range m.Triggers {
		if tr.Annotations[eventing.LocalAnnotation] == "false" {
			t.Errorf("ferry dev loaded the cluster-only Trigger %s", tr.Name)
		}
		if names[tr.Name] {
			t.Errorf("Trigger %s is both in %s and derived from func.yaml",
				tr.Name, configDir)
		}
		if !brokers[tr.Spec.Broker] {
			t.Errorf("Trigger %s names Broker %q, not declared", tr.Name,
				tr.Spec.Broker)
		}
		ref := tr.Spec.Subscriber.Ref
		if ref != nil && !(ref.Kind == "Service" && functions[ref.Name]) {
			t.Errorf("Trigger %s: subscriber %s %s is no function under %s",
				tr.Name, ref.Kind, ref.Name, functionsDir)
		}
		if ref == nil && tr.Spec.Subscriber.URI == nil {
			t.Errorf("Trigger %s: no subscriber", tr.Name)
		}
	}
	for _, b := range m.Brokers {
		if b.Spec.Delivery != nil && b.Spec.Delivery.DeadLetterSink != nil {
			t.Errorf("ferry dev sees a dead letter sink on Broker %s, which it "+
				"cannot resolve", b.Name)
		}
	}
}

func TestRenderedManifestsAreCheckedIn(t *testing.T) {
	fns, err := funcyaml.Discover(functionsDir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := funcyaml.Load(ingressDir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.Files(append(fns, in), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := render.Diff(filepath.Join(configDir, "functions"), files)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Empty() {
		t.Errorf("config/functions is out of date (would write %v, remove %v);"+
			" run `make render` and commit the result", c.Written, c.Removed)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func TestDeployDocMatchesTheManifests(t *testing.T) {
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	// Every object that `kubectl apply -k config/` creates is named.
	var docs []manifest.Document
	err = manifest.Walk(configDir, func(d manifest.Document) error {
		docs = append(docs, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if !strings.Contains(doc, "`"+d.Name+"`") {
			t.Errorf("docs/deploy.md does not name %s (%s)", d.Object(), d.File)
		}
	}

	// Every path of the repository it names exists.
	for _, field := range strings.FieldsFunc(doc, func(r rune) bool {
		return strings.ContainsRune(" `()[],:|\n", r)
	}) {
		if !strings.HasPrefix(field, "config/") &&
			!strings.HasPrefix(field, "functions/csvstats") {
			continue
		}
		if _, err := os.Stat(filepath.Join("..", strings.TrimSuffix(field,
			"/"))); err != nil {
			t.Errorf("docs/deploy.md names %s, which does not exist", field)
		}
	}
}
