package manifest

import (
	"context"

	"knative.dev/eventing/pkg/apis/feature"
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
