package eventing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/attributes"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
)

// ErrInvalidFilter is returned for a Trigger filter that cannot be built.
var ErrInvalidFilter = errors.New("invalid filter")

// buildFilter returns the filter of a Trigger: spec.filters when it is not
// empty (it overrides spec.filter, as in Knative), else spec.filter's
// attributes, else nil (every event passes).
//
// Knative's own constructor for spec.filters drops an element it cannot
// build, which turns a broken filter into "match everything", and its CESQL
// constructor panics on some invalid expressions. Here every element is
// built on its own; one that fails, or panics, fails the whole Trigger.
func buildFilter(spec eventingv1.TriggerSpec) (eventfilter.Filter, error) {
	if len(spec.Filters) > 0 {
		fs, err := buildFilters(spec.Filters, "spec.filters")
		if err != nil {
			return nil, err
		}
		return allOf(fs), nil
	}
	if spec.Filter != nil && len(spec.Filter.Attributes) > 0 {
		return attributes.NewAttributesFilter(spec.Filter.Attributes), nil
	}
	return nil, nil
}

func buildFilters(list []eventingv1.SubscriptionsAPIFilter, path string) (
	[]eventfilter.Filter, error) {
	out := make([]eventfilter.Filter, 0, len(list))
	for i, f := range list {
		built, err := buildDialect(f, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, built)
	}
	return out, nil
}

// buildDialect builds one filter expression, which must hold exactly one
// dialect.
func buildDialect(f eventingv1.SubscriptionsAPIFilter, path string) (
	filter eventfilter.Filter, err error) {
	defer func() {
		if r := recover(); r != nil {
			filter, err = nil, fmt.Errorf("%w: %s: %v", ErrInvalidFilter, path, r)
		}
	}()

	var dialects []string
	add := func(name string, set bool) {
		if set {
			dialects = append(dialects, name)
		}
	}
	add("exact", len(f.Exact) > 0)
	add("prefix", len(f.Prefix) > 0)
	add("suffix", len(f.Suffix) > 0)
	add("all", len(f.All) > 0)
	add("any", len(f.Any) > 0)
	add("not", f.Not != nil)
	add("cesql", f.CESQL != "")
	if len(dialects) != 1 {
		return nil, fmt.Errorf("%w: %s: want exactly one dialect, found %d (%s)",
			ErrInvalidFilter, path, len(dialects), strings.Join(dialects, ", "))
	}

	switch dialects[0] {
	case "exact":
		filter, err = subscriptionsapi.NewExactFilter(f.Exact)
	case "prefix":
		filter, err = subscriptionsapi.NewPrefixFilter(f.Prefix)
	case "suffix":
		filter, err = subscriptionsapi.NewSuffixFilter(f.Suffix)
	case "all", "any":
		list := f.All
		if dialects[0] == "any" {
			list = f.Any
		}
		var fs []eventfilter.Filter
		if fs, err = buildFilters(list, path+"."+dialects[0]); err == nil {
			if dialects[0] == "all" {
				filter = allOf(fs)
			} else {
				filter = anyOf(fs)
			}
		}
	case "not":
		var inner eventfilter.Filter
		if inner, err = buildDialect(*f.Not, path+".not"); err == nil {
			filter = subscriptionsapi.NewNotFilter(inner)
		}
	case "cesql":
		if filter, err = subscriptionsapi.NewCESQLFilter(f.CESQL); err == nil {
			err = probeCondition(filter)
		}
	}
	if err != nil {
		if errors.Is(err, ErrInvalidFilter) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s.%s: %v", ErrInvalidFilter, path, dialects[0], err)
	}
	if filter == nil {
		return nil, fmt.Errorf("%w: %s: %s built nothing", ErrInvalidFilter, path, dialects[0])
	}
	return filter, nil
}

// allOf and anyOf combine filters as Knative's subscriptionsapi all and any
// do, in their declared order. Knative's own (v0.50.0) start a goroutine
// each that reorders their elements by hit count: it never ends unless
// Cleanup is called, and Filter reads the counters it updates without
// synchronisation, a data race.
type (
	allOf []eventfilter.Filter
	anyOf []eventfilter.Filter
)

// Filter fails at the first element that fails.
func (fs allOf) Filter(ctx context.Context, e event.Event) eventfilter.FilterResult {
	res := eventfilter.NoFilter
	for _, f := range fs {
		if res = f.Filter(ctx, e); res == eventfilter.FailFilter {
			return res
		}
	}
	return res
}

// Cleanup cleans up the elements.
func (fs allOf) Cleanup() { cleanup(fs) }

// Filter passes at the first element that passes.
func (fs anyOf) Filter(ctx context.Context, e event.Event) eventfilter.FilterResult {
	res := eventfilter.NoFilter
	for _, f := range fs {
		if res = f.Filter(ctx, e); res == eventfilter.PassFilter {
			return res
		}
	}
	return res
}

// Cleanup cleans up the elements.
func (fs anyOf) Cleanup() { cleanup(fs) }

func cleanup(fs []eventfilter.Filter) {
	for _, f := range fs {
		f.Cleanup()
	}
}

// matchable returns e with every extension value as its canonical string,
// so that filters compare extensions as strings: an integer extension sent
// in structured JSON (150) matches the filter value "150", as it does when
// the same event comes in binary mode.
func matchable(e *event.Event) *event.Event {
	exts := Extensions(e)
	needs := false
	for _, v := range exts {
		if _, ok := v.(string); !ok {
			needs = true
			break
		}
	}
	if !needs {
		return e
	}
	// A copy of the context only: filters read attributes, never data.
	c := event.Event{Context: e.Context.Clone()}
	for k, v := range exts {
		if s, err := types.Format(v); err == nil {
			c.SetExtension(k, s)
		}
	}
	return &c
}

// probeCondition runs a CESQL filter once on a bare event. Knative's CESQL
// filter panics when its expression yields a value that is not a boolean
// ("type", "1 + 1"), which its validation lets through; such an expression
// is no condition and is refused here. One that yields a non-boolean only
// on some events ("myext") is caught by passes.
func probeCondition(f eventfilter.Filter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the expression is not a condition: %v", r)
		}
	}()
	probe := event.New()
	probe.SetID("probe")
	probe.SetSource("/ferry/filter")
	probe.SetType("dev.ferry.probe")
	f.Filter(context.Background(), probe)
	return nil
}

// passes runs f on e, which matchable has prepared. A filter that panics
// (a CESQL expression yielding a non-boolean for this event) fails: the
// event is not delivered, and the Broker does not crash.
func passes(f eventfilter.Filter, e *event.Event) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return f.Filter(context.Background(), *e) != eventfilter.FailFilter
}
