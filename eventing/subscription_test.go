package eventing_test

import (
	"regexp"
	"testing"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/manifest"
)

func invoiceFunction(subs ...funcyaml.Subscription) *funcyaml.Function {
	return &funcyaml.Function{Name: "invoice", Runtime: "go",
		Deploy: funcyaml.Deploy{Subscriptions: subs}}
}

var (
	ordersCreated = funcyaml.Subscription{Source: "default",
		Filters: map[string]string{"type": "order.created", "tenant": "acme"}}
	ordersPaid = funcyaml.Subscription{Source: "default",
		Filters: map[string]string{"type": "order.paid"}}
	allOfAudit = funcyaml.Subscription{Source: "audit"}
)

func TestFunctionTriggersNamesAreStable(t *testing.T) {
	a := eventing.FunctionTriggers(invoiceFunction(ordersCreated, ordersPaid,
		allOfAudit), "shop")
	b := eventing.FunctionTriggers(invoiceFunction(allOfAudit, ordersCreated,
		ordersPaid), "shop")
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("got %d and %d Triggers, want 3", len(a), len(b))
	}

	name := regexp.MustCompile(`^invoice-[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for _, tr := range a {
		if !name.MatchString(tr.Name) {
			t.Errorf("name %q is not invoice-<8 hex digits>", tr.Name)
		}
		if seen[tr.Name] {
			t.Errorf("two Triggers named %s", tr.Name)
		}
		seen[tr.Name] = true
	}
	// The same subscription gets the same name, wherever it stands.
	for _, pair := range [][2]int{{0, 1}, {1, 2}, {2, 0}} {
		ta, tb := a[pair[0]], b[pair[1]]
		if ta.Name != tb.Name || ta.Spec.Broker != tb.Spec.Broker {
			t.Errorf("one subscription named %s (Broker %s) in one order, "+
				"%s (Broker %s) in another", ta.Name, ta.Spec.Broker,
				tb.Name, tb.Spec.Broker)
		}
	}
	if a[2].Spec.Broker != "audit" {
		t.Errorf("Broker of %s = %q, want audit", a[2].Name, a[2].Spec.Broker)
	}

	// The name follows the subscription: another filter value, another
	// name; the same filters written in another order, the same name.
	again := eventing.FunctionTriggers(invoiceFunction(funcyaml.Subscription{
		Source: "default", Filters: map[string]string{
			"tenant": "acme", "type": "order.created"}}), "shop")
	if again[0].Name != a[0].Name {
		t.Errorf("same filters: %s, want %s", again[0].Name, a[0].Name)
	}
	other := eventing.FunctionTriggers(invoiceFunction(funcyaml.Subscription{
		Source: "default", Filters: map[string]string{
			"tenant": "globex", "type": "order.created"}}), "shop")
	if other[0].Name == a[0].Name {
		t.Errorf("other tenant, same name %s", other[0].Name)
	}
	elsewhere := eventing.FunctionTriggers(invoiceFunction(funcyaml.Subscription{
		Source: "audit", Filters: ordersCreated.Filters}), "shop")
	if elsewhere[0].Name == a[0].Name {
		t.Errorf("other Broker, same name %s", elsewhere[0].Name)
	}
}

func TestFunctionTriggersFilterAndSubscriber(t *testing.T) {
	ts := eventing.FunctionTriggers(invoiceFunction(ordersCreated, allOfAudit),
		"shop")
	created, audit := ts[0], ts[1]

	if created.APIVersion != "eventing.knative.dev/v1" || created.Kind != "Trigger" {
		t.Errorf("TypeMeta = %+v", created.TypeMeta)
	}
	if created.Namespace != "shop" || created.Spec.Broker != "default" {
		t.Errorf("namespace %q broker %q, want shop and default",
			created.Namespace, created.Spec.Broker)
	}
	if created.Labels["function.knative.dev/name"] != "invoice" {
		t.Errorf("labels = %v", created.Labels)
	}
	attrs := created.Spec.Filter.Attributes
	if len(attrs) != 2 || attrs["type"] != "order.created" || attrs["tenant"] != "acme" {
		t.Errorf("filter attributes = %v", attrs)
	}
	if audit.Spec.Filter != nil {
		t.Errorf("subscription without filters got filter %+v", audit.Spec.Filter)
	}

	ref := created.Spec.Subscriber.Ref
	if ref == nil || ref.APIVersion != "serving.knative.dev/v1" ||
		ref.Kind != "Service" || ref.Name != "invoice" || ref.Namespace != "shop" {
		t.Errorf("subscriber ref = %+v, want the Knative Service invoice in shop", ref)
	}
	if created.Spec.Subscriber.URI != nil {
		t.Errorf("subscriber uri = %v, want none", created.Spec.Subscriber.URI)
	}

	// What kn func would create must pass Knative's own validation.
	for _, tr := range ts {
		tr.SetDefaults(manifest.ValidationContext())
		if err := tr.Validate(manifest.ValidationContext()); err != nil {
			t.Errorf("Trigger %s does not validate: %v", tr.Name, err)
		}
	}
}

func TestFunctionTriggersMatchTheirSubscription(t *testing.T) {
	ts := eventing.FunctionTriggers(invoiceFunction(ordersCreated), "shop")
	s := newStack(t, nil, ts...)
	tr := s.broker.Triggers()[0]

	e := newEvent("/shop", "1", "order.created", nil)
	e.SetExtension("tenant", "acme")
	if !tr.Matches(e) {
		t.Error("no match for an acme order.created")
	}
	e.SetExtension("tenant", "globex")
	if tr.Matches(e) {
		t.Error("match for a globex order.created")
	}
}

func TestFunctionWithoutSubscriptionsHasNoTriggers(t *testing.T) {
	if ts := eventing.FunctionTriggers(invoiceFunction(), "shop"); len(ts) != 0 {
		t.Errorf("got %d Triggers, want none", len(ts))
	}
}
