package eventing

import (
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
)

// Trigger is a Knative Trigger made ready for use: its filter built, its
// delivery spec merged with its Broker's.
type Trigger struct {
	// Spec is the Trigger as declared.
	Spec *eventingv1.Trigger
	// Delivery is the delivery policy in force: the Trigger's delivery spec
	// if it has one, else its Broker's (the Trigger's replaces the Broker's
	// as a whole, as in Knative).
	Delivery DeliveryPolicy

	filter eventfilter.Filter
	// readsExtensions is set when the filter may read an extension, so
	// that Matches must prepare the event with matchable first.
	readsExtensions bool
}

// Name returns the Trigger's name.
func (t *Trigger) Name() string { return t.Spec.Name }

// Broker returns the name of the Broker the Trigger subscribes to.
func (t *Trigger) Broker() string { return t.Spec.Spec.Broker }

// newTrigger builds the filter of spec. A non-empty spec.filters replaces
// spec.filter, as Knative's broker does.
func newTrigger(spec *eventingv1.Trigger, brokerDelivery DeliveryPolicy) (
	*Trigger, error) {
	t := &Trigger{Spec: spec, Delivery: brokerDelivery}
	if spec.Spec.Delivery != nil {
		p, err := NewDeliveryPolicy(spec.Spec.Delivery)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: spec.delivery: %w", spec.Name, err)
		}
		t.Delivery = p
	}

	f, err := buildFilter(spec.Spec)
	if err != nil {
		return nil, fmt.Errorf("trigger %s: %w", spec.Name, err)
	}
	t.filter = f
	t.readsExtensions = readsExtensions(spec.Spec)
	return t, nil
}

// readsExtensions reports whether the filter of spec may read an
// extension: every filter but none and spec.filter's attributes on context
// attributes only (type, source...), the commonest Trigger.
func readsExtensions(spec eventingv1.TriggerSpec) bool {
	if len(spec.Filters) > 0 {
		return true
	}
	if spec.Filter == nil {
		return false
	}
	for name := range spec.Filter.Attributes {
		if !contextAttributes[name] {
			return true
		}
	}
	return false
}

// contextAttributes are the names Knative's attributes filter reads from
// the event's context (attributes.LookupAttribute); any other name is an
// extension.
var contextAttributes = map[string]bool{
	"specversion": true, "type": true, "source": true, "subject": true,
	"id": true, "time": true, "dataschema": true, "schemaurl": true,
	"datacontenttype": true, "datamediatype": true,
	"datacontentencoding": true,
}

// Matches reports whether e passes the Trigger's filter. A Trigger without
// a filter matches every event. The dispatcher asks for every delivery;
// the event is copied to turn its extensions into strings (matchable)
// only when the filter may read one.
func (t *Trigger) Matches(e *event.Event) bool {
	if !t.readsExtensions {
		return t.matches(e)
	}
	return t.matches(matchable(e))
}

// matches is Matches for an event matchable has prepared.
func (t *Trigger) matches(m *event.Event) bool {
	return t.filter == nil || passes(t.filter, m)
}
