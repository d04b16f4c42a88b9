package eventing

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func triggerSpec(name string, filter map[string]string,
	filters ...eventingv1.SubscriptionsAPIFilter) *eventingv1.Trigger {
	t := &eventingv1.Trigger{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: eventingv1.TriggerSpec{
			Broker: "default",
			Subscriber: duckv1.Destination{
				URI: apis.HTTP(name + ".example")},
			Filters: filters,
		},
	}
	if filter != nil {
		t.Spec.Filter = &eventingv1.TriggerFilter{
			Attributes: eventingv1.TriggerFilterAttributes(filter)}
	}
	return t
}

func mustTrigger(t testing.TB, spec *eventingv1.Trigger) *Trigger {
	t.Helper()
	tr, err := newTrigger(spec, DeliveryPolicy{})
	if err != nil {
		t.Fatalf("newTrigger %s: %v", spec.Name, err)
	}
	return tr
}

// orderEvent is a typical producer's event, with an extension and JSON data.
func orderEvent() *event.Event {
	e := newEvent("/shop/orders", "order-17", "order.created")
	e.SetSubject("orders/17")
	e.SetExtension("tenant", "acme")
	_ = e.SetData(event.ApplicationJSON, map[string]any{"total": 42})
	return e
}

func TestTriggerFilterAttributes(t *testing.T) {
	tests := []struct {
		name   string
		filter map[string]string
		want   bool
	}{
		{"no filter matches all", nil, true},
		{"empty filter matches all", map[string]string{}, true},
		{"type exact", map[string]string{"type": "order.created"}, true},
		{"type differs", map[string]string{"type": "order.deleted"}, false},
		{"type is not a prefix match", map[string]string{"type": "order"}, false},
		{"type and source", map[string]string{
			"type": "order.created", "source": "/shop/orders"}, true},
		{"type matches, source does not", map[string]string{
			"type": "order.created", "source": "/shop/invoices"}, false},
		{"subject", map[string]string{"subject": "orders/17"}, true},
		{"extension exact", map[string]string{"tenant": "acme"}, true},
		{"extension differs", map[string]string{"tenant": "globex"}, false},
		{"extension missing", map[string]string{"region": "eu"}, false},
		{"empty value: attribute present", map[string]string{"tenant": ""}, true},
		{"empty value: extension absent", map[string]string{"region": ""}, false},
		{"empty value: optional attribute unset",
			map[string]string{"dataschema": ""}, false},
		{"datacontenttype", map[string]string{
			"datacontenttype": "application/json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTrigger(t, triggerSpec("t", tt.filter))
			if got := tr.Matches(orderEvent()); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTriggerFilterMatchesNonStringExtension(t *testing.T) {
	// A producer posting in structured mode sends {"priority": 5}; the
	// SDK reads it as an integer. Knative's broker sees it as the string
	// "5" (it reaches the filter in binary mode), so the filter matches
	// there and must match here.
	var e event.Event
	raw := `{"specversion":"1.0","id":"1","source":"/s","type":"job",
		"priority":5,"urgent":true}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter map[string]string
		want   bool
	}{
		{map[string]string{"priority": "5"}, true},
		{map[string]string{"priority": "6"}, false},
		{map[string]string{"urgent": "true"}, true},
		{map[string]string{"priority": ""}, true},
	}
	for _, tt := range tests {
		tr := mustTrigger(t, triggerSpec("t", tt.filter))
		if got := tr.Matches(&e); got != tt.want {
			t.Errorf("filter %v: Matches = %v, want %v", tt.filter, got,
				tt.want)
		}
		if _, ok := tt.filter["priority"]; ok && tt.filter["priority"] == "" {
			continue // exact filters reject empty values
		}
		exact := mustTrigger(t, triggerSpec("t", nil,
			eventingv1.SubscriptionsAPIFilter{Exact: tt.filter}))
		if got := exact.Matches(&e); got != tt.want {
			t.Errorf("exact %v: Matches = %v, want %v", tt.filter, got,
				tt.want)
		}
	}
	if _, ok := e.Extensions()["priority"].(string); ok {
		t.Error("Matches changed the event's extension to a string")
	}
}

// A filter on context attributes only takes the event as it is; one that
// may read an extension gets the extensions as strings (matchable).
func TestTriggerPreparesEventOnlyForFiltersOnExtensions(t *testing.T) {
	var e event.Event
	raw := `{"specversion":"1.0","id":"1","source":"/s","type":"job",
		"time":"2026-07-01T12:00:00Z","priority":5}`
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		spec    *eventingv1.Trigger
		prepare bool
		want    bool
	}{
		{"no filter", triggerSpec("t", nil), false, true},
		{"type and time", triggerSpec("t", map[string]string{"type": "job",
			"time": "2026-07-01T12:00:00Z"}), false, true},
		{"type differs", triggerSpec("t", map[string]string{
			"type": "other"}), false, false},
		{"extension", triggerSpec("t", map[string]string{
			"priority": "5"}), true, true},
		{"filters on type", triggerSpec("t", nil,
			eventingv1.SubscriptionsAPIFilter{
				Exact: map[string]string{"type": "job"}}), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTrigger(t, tt.spec)
			if tr.readsExtensions != tt.prepare {
				t.Errorf("readsExtensions = %v, want %v",
					tr.readsExtensions, tt.prepare)
			}
			if got := tr.Matches(&e); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTriggerFiltersReplaceFilter(t *testing.T) {
	e := orderEvent()
	tests := []struct {
		name    string
		filter  map[string]string
		filters []eventingv1.SubscriptionsAPIFilter
		want    bool
	}{{
		name:    "exact",
		filters: []eventingv1.SubscriptionsAPIFilter{{Exact: map[string]string{"type": "order.created"}}},
		want:    true,
	}, {
		name:    "exact, other value",
		filters: []eventingv1.SubscriptionsAPIFilter{{Exact: map[string]string{"type": "order.deleted"}}},
		want:    false,
	}, {
		name:    "prefix",
		filters: []eventingv1.SubscriptionsAPIFilter{{Prefix: map[string]string{"type": "order."}}},
		want:    true,
	}, {
		name:    "prefix, other value",
		filters: []eventingv1.SubscriptionsAPIFilter{{Prefix: map[string]string{"type": "invoice."}}},
		want:    false,
	}, {
		name:    "suffix on the source",
		filters: []eventingv1.SubscriptionsAPIFilter{{Suffix: map[string]string{"source": "/orders"}}},
		want:    true,
	}, {
		name: "all filters must pass",
		filters: []eventingv1.SubscriptionsAPIFilter{
			{Prefix: map[string]string{"type": "order."}},
			{Exact: map[string]string{"tenant": "globex"}},
		},
		want: false,
	}, {
		name:   "filters override a filter that would fail",
		filter: map[string]string{"type": "invoice.created"},
		filters: []eventingv1.SubscriptionsAPIFilter{
			{Prefix: map[string]string{"type": "order."}}},
		want: true,
	}, {
		name:   "filters override a filter that would pass",
		filter: map[string]string{"type": "order.created"},
		filters: []eventingv1.SubscriptionsAPIFilter{
			{Exact: map[string]string{"type": "order.deleted"}}},
		want: false,
	}, {
		name: "not",
		filters: []eventingv1.SubscriptionsAPIFilter{{Not: &eventingv1.SubscriptionsAPIFilter{
			Exact: map[string]string{"tenant": "globex"}}}},
		want: true,
	}, {
		name:    "CESQL",
		filters: []eventingv1.SubscriptionsAPIFilter{{CESQL: "tenant = 'acme' AND type LIKE 'order.%'"}},
		want:    true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustTrigger(t, triggerSpec("t", tt.filter, tt.filters...))
			if got := tr.Matches(e); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTriggerWithInvalidFiltersIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		filters []eventingv1.SubscriptionsAPIFilter
		path    string
	}{{
		name:    "empty exact value",
		filters: []eventingv1.SubscriptionsAPIFilter{{Exact: map[string]string{"type": ""}}},
		path:    "spec.filters[0]",
	}, {
		name: "two dialects in one element",
		filters: []eventingv1.SubscriptionsAPIFilter{
			{Exact: map[string]string{"type": "a"}},
			{Exact: map[string]string{"type": "a"}, Prefix: map[string]string{"source": "/"}},
		},
		path: "spec.filters[1]",
	}, {
		name:    "no dialect",
		filters: []eventingv1.SubscriptionsAPIFilter{{}},
		path:    "spec.filters[0]",
	}, {
		name:    "broken CESQL",
		filters: []eventingv1.SubscriptionsAPIFilter{{CESQL: "type = = 'a'"}},
		path:    "spec.filters[0]",
	}, {
		name: "broken element inside any",
		filters: []eventingv1.SubscriptionsAPIFilter{{Any: []eventingv1.SubscriptionsAPIFilter{
			{Prefix: map[string]string{"type": "a"}},
			{Suffix: map[string]string{"type": ""}},
		}}},
		path: "spec.filters[0].any[1]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTrigger(triggerSpec("orders", nil, tt.filters...),
				DeliveryPolicy{})
			if !errors.Is(err, ErrInvalidFilter) {
				t.Fatalf("error %v, want ErrInvalidFilter", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "trigger orders") ||
				!strings.Contains(msg, tt.path) {
				t.Errorf("error %q does not name trigger orders and %s", msg,
					tt.path)
			}
		})
	}
}

func TestTriggerDeliveryReplacesBrokers(t *testing.T) {
	broker := DeliveryPolicy{Retries: 10, Exponential: true,
		Delay: time.Second, Timeout: time.Minute}

	plain := mustTriggerWith(t, triggerSpec("plain", nil), broker)
	if plain.Delivery != broker {
		t.Errorf("Trigger without delivery: %+v, want the Broker's %+v",
			plain.Delivery, broker)
	}

	spec := triggerSpec("own", nil)
	spec.Spec.Delivery = &eventingduckv1.DeliverySpec{Retry: ptr[int32](2)}
	own := mustTriggerWith(t, spec, broker)
	want := DeliveryPolicy{Retries: 2, Exponential: true,
		Timeout: DeliveryTimeoutDefault}
	if own.Delivery != want {
		t.Errorf("Trigger with delivery: %+v, want %+v (nothing taken "+
			"from the Broker)", own.Delivery, want)
	}

	bad := triggerSpec("bad", nil)
	bad.Spec.Delivery = &eventingduckv1.DeliverySpec{BackoffDelay: ptr("1s")}
	_, err := newTrigger(bad, broker)
	if err == nil || !strings.Contains(err.Error(), "trigger bad") ||
		!strings.Contains(err.Error(), "backoffDelay") {
		t.Errorf("bad delivery: error %v, want one naming trigger bad and "+
			"backoffDelay", err)
	}
}

func mustTriggerWith(t *testing.T, spec *eventingv1.Trigger,
	p DeliveryPolicy) *Trigger {
	t.Helper()
	tr, err := newTrigger(spec, p)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTriggerNameAndBroker(t *testing.T) {
	tr := mustTrigger(t, triggerSpec("invoices", nil))
	if tr.Name() != "invoices" || tr.Broker() != "default" {
		t.Errorf("Name, Broker = %q, %q; want invoices, default", tr.Name(),
			tr.Broker())
	}
}

func BenchmarkTriggerMatches(b *testing.B) {
	cases := []struct {
		name string
		spec *eventingv1.Trigger
	}{
		{"no filter", triggerSpec("t", nil)},
		{"filter type", triggerSpec("t", map[string]string{"type": "order.created"})},
		{"filter type+extension", triggerSpec("t", map[string]string{
			"type": "order.created", "tenant": "acme"})},
		{"filters prefix", triggerSpec("t", nil, eventingv1.SubscriptionsAPIFilter{
			Prefix: map[string]string{"type": "order."}})},
		{"filters cesql", triggerSpec("t", nil, eventingv1.SubscriptionsAPIFilter{
			CESQL: "tenant = 'acme' AND type LIKE 'order.%'"})},
	}
	e := orderEvent()
	stampAccepted(e) // as the Broker matches it: with an integer ttl
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr := mustTrigger(b, c.spec)
			b.ReportAllocs()
			for b.Loop() {
				if !tr.Matches(e) {
					b.Fatal("no match")
				}
			}
		})
	}
}
