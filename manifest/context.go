package manifest

import (
	"context"
	"fmt"

	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
)

// KnativeBrokerClassDefault is the Broker class a cluster gives a Broker
// without the eventing.knative.dev/broker.class annotation, as Knative's
// default config-br-defaults does.
const KnativeBrokerClassDefault = "MTChannelBasedBroker"

// ValidationContext is the context SetDefaults and Validate get: Knative
// Eventing's default feature flags (delivery-timeout enabled, and the rest
// as a new cluster has them), so that what validates here validates on a
// cluster with the default configuration.
func ValidationContext() context.Context {
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		// The empty map parses by construction; keep Knative's built-in
		// defaults if a future version disagrees.
		return context.Background()
	}
	return feature.ToContext(context.Background(), flags)
}

// Object is a Knative object: it defaults and validates itself.
type Object interface {
	apis.Defaultable
	apis.Validatable
}

// DefaultAndValidate runs SetDefaults and Validate on obj as the API
// server's webhook would for a new object, in ValidationContext. Knative's
// validation panics on some bad input (certain CESQL expressions); that
// comes back as an error, not a crash.
func DefaultAndValidate(obj Object) (fe *apis.FieldError, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("validation crashed on this object: %v", p)
		}
	}()
	ctx := apis.WithinCreate(ValidationContext())
	obj.SetDefaults(ctx)
	return obj.Validate(ctx), nil
}
