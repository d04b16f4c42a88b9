package eventing

import (
	"context"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.uber.org/zap"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
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

	switch {
	case len(spec.Spec.Filters) > 0:
		t.filter = subscriptionsapi.CreateSubscriptionsAPIFilters(
			zap.NewNop(), spec.Spec.Filters)
	case spec.Spec.Filter != nil && len(spec.Spec.Filter.Attributes) > 0:
		t.filter = attributes.NewAttributesFilter(spec.Spec.Filter.Attributes)
	}
	return t, nil
}

// Matches reports whether e passes the Trigger's filter. A Trigger without
// a filter matches every event.
func (t *Trigger) Matches(e *event.Event) bool {
	if t.filter == nil {
		return true
	}
	return t.filter.Filter(context.Background(), *e) != eventfilter.FailFilter
}
