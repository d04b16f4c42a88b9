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
	return t, nil
}

// Matches reports whether e passes the Trigger's filter. A Trigger without
// a filter matches every event.
func (t *Trigger) Matches(e *event.Event) bool {
	return t.matches(matchable(e))
}

// matches is Matches for an event matchable has prepared.
func (t *Trigger) matches(m *event.Event) bool {
	return t.filter == nil || passes(t.filter, m)
}
