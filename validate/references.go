package validate

import (
	"fmt"
	"path/filepath"
	"strconv"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/funcyaml"
	"github.com/ferryfn/ferry/manifest"
)

const (
	gvkBroker       = "eventing.knative.dev/v1/Broker"
	gvkTrigger      = "eventing.knative.dev/v1/Trigger"
	gvkBrokerConfig = "eventing.knative.dev/v1alpha1/RabbitmqBrokerConfig"
	// rabbitMQClass is eventing-rabbitmq's Broker class.
	rabbitMQClass = "RabbitMQBroker"
)

// checkFunctions reads every func.yaml and validates the Triggers its
// subscriptions become, as `kn func deploy` would create them.
func checkFunctions(r *Report, dir string, objs objects) error {
	fns, err := funcyaml.Discover(dir)
	if err != nil {
		r.add(Finding{Severity: Error, File: dir, Object: "func.yaml", Message: err.Error()})
		return nil
	}
	for _, f := range fns {
		r.Checked["func.yaml"]++
		file := filepath.Join(f.Dir, funcyaml.FileName)
		for _, w := range f.Warnings {
			// Unknown fields: kn func ignores them too, and a misspelt
			// one (deploy.optoins) silently drops what it meant to set.
			r.add(Finding{Severity: Warning, File: file,
				Object: "func.yaml " + f.Name, Message: w})
		}
		for i, t := range eventing.FunctionTriggers(f, "") {
			d := manifest.Document{File: file, Index: i + 1, APIVersion: "eventing.knative.dev/v1",
				Kind: "Trigger", Name: t.Name}
			fe, err := manifest.DefaultAndValidate(t)
			if err != nil {
				r.add(Finding{Severity: Error, File: file, Object: d.Object(),
					Message: err.Error()})
			}
			addFieldErrors(r, d, fe)
			if objs[gvkTrigger] == nil {
				objs[gvkTrigger] = map[string]object{}
			}
			objs[gvkTrigger][t.Name] = object{doc: d, value: t}
			r.Checked["Trigger"]++
		}
	}
	return nil
}

// checkReferences checks what objects say of each other: every Trigger's
// Broker is declared, and Triggers of a RabbitMQ Broker use only what that
// broker honours.
func checkReferences(r *Report, objs objects) {
	for _, o := range objs[gvkTrigger] {
		t := o.value.(*eventingv1.Trigger)
		b, ok := objs.get(gvkBroker, t.Spec.Broker)
		if !ok {
			r.add(Finding{Severity: Error, File: o.doc.File, Object: o.doc.Object(),
				Field: "spec.broker", Message: fmt.Sprintf("Broker %q is not declared "+
					"in the config folder", t.Spec.Broker)})
			continue
		}
		broker := b.value.(*eventingv1.Broker)
		if broker.Annotations[eventingv1.BrokerClassAnnotationKey] == rabbitMQClass {
			checkRabbitMQTrigger(r, o.doc, t)
		}
	}
	for _, o := range objs[gvkBroker] {
		b := o.value.(*eventingv1.Broker)
		ref := b.Spec.Config
		if ref == nil || ref.Kind != "RabbitmqBrokerConfig" {
			continue
		}
		if _, ok := objs.get(gvkBrokerConfig, ref.Name); !ok {
			r.add(Finding{Severity: Warning, File: o.doc.File, Object: o.doc.Object(),
				Field: "spec.config", Message: fmt.Sprintf("RabbitmqBrokerConfig %q is "+
					"not in the config folder; it must exist on the cluster", ref.Name)})
		}
	}
}

// checkRabbitMQTrigger warns of what eventing-rabbitmq does differently
// from the reference broker with this Trigger.
func checkRabbitMQTrigger(r *Report, d manifest.Document, t *eventingv1.Trigger) {
	warn := func(field, msg string) {
		r.add(Finding{Severity: Warning, File: d.File, Object: d.Object(),
			Field: field, Message: msg})
	}
	if len(t.Spec.Filters) > 0 {
		warn("spec.filters", "the RabbitMQ broker ignores spec.filters and "+
			"applies only spec.filter.attributes (as header bindings): on the "+
			"cluster this Trigger gets events that ferry dev would filter out")
	}
	if t.Spec.Filter == nil {
		return
	}
	for name, value := range t.Spec.Filter.Attributes {
		field := "spec.filter.attributes." + name
		if name == "datacontenttype" {
			warn(field, "the RabbitMQ broker carries datacontenttype as the "+
				"message's content type, not as a header: this filter never "+
				"matches there")
		}
		if _, err := strconv.ParseFloat(value, 64); err == nil && !isContextAttribute(name) {
			warn(field, fmt.Sprintf("on the RabbitMQ broker a numeric extension "+
				"value sent in structured mode (%s: %s, a JSON number) does not "+
				"match this string filter; ferry dev compares it as a string", name, value))
		}
	}
}

// isContextAttribute reports whether name is a CloudEvents context
// attribute rather than an extension.
func isContextAttribute(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "time",
		"datacontenttype", "dataschema", "schemaurl":
		return true
	}
	return false
}
