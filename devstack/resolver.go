package devstack

import (
	"fmt"
	"net/http"
	"net/url"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/runner"
)

// resolver finds subscribers under `ferry dev`: a Knative Service (or a
// plain Service) named like a local function is that function, run by the
// runner; a URI is reached over HTTP as it is.
type resolver struct {
	namespace string
	runner    *runner.Runner
	functions map[string]bool
	touch     func() // notes a delivery (see rest); nil for none
}

// Resolve is called once per delivery attempt, to its subscriber or to a
// dead letter sink.
func (r *resolver) Resolve(d duckv1.Destination) (eventing.Subscriber, error) {
	if r.touch != nil {
		r.touch()
	}
	if d.Ref != nil {
		return r.resolveRef(d)
	}
	if d.URI == nil {
		return eventing.Subscriber{}, fmt.Errorf("destination has neither ref nor uri")
	}
	u := url.URL(*d.URI)
	return eventing.Subscriber{URL: &u, Transport: uriTransport}, nil
}

// uriTransport reaches subscribers given by URI. It keeps up to
// idleConnsPerHost idle connections per host, where http.DefaultTransport
// keeps 2: a Trigger delivering 100 events at once would otherwise dial a
// new connection for nearly every event (about 18,000 sockets in
// TIME_WAIT after 30 s of `ferry bench`), costing CPU and, in time, the
// loopback's ephemeral ports.
var uriTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = idleConnsPerHost
	t.MaxIdleConnsPerHost = idleConnsPerHost
	return t
}()

// idleConnsPerHost is the most parallelism a Trigger can have
// (rabbitmq.ParallelismMax).
const idleConnsPerHost = 1000

func (r *resolver) resolveRef(d duckv1.Destination) (eventing.Subscriber, error) {
	ref := d.Ref
	ns := ref.Namespace
	if ns == "" {
		ns = r.namespace
	}
	if ref.Kind != "Service" || !r.functions[ref.Name] {
		return eventing.Subscriber{}, fmt.Errorf("%s %s/%s: no such function "+
			"under ferry dev (a ref must name a function's Service)",
			ref.Kind, ns, ref.Name)
	}
	rt, err := r.runner.RoundTripper(ref.Name)
	if err != nil {
		return eventing.Subscriber{}, err
	}
	u := &url.URL{Scheme: "http", Host: ref.Name + "." + ns + ".svc.cluster.local",
		Path: "/"}
	if d.URI != nil {
		u.Path = d.URI.Path
	}
	return eventing.Subscriber{URL: u, Transport: rt}, nil
}

// unresolved lists, one line each, the Triggers whose subscriber names a
// Service that is no function of this process: every delivery to them
// fails (and is retried, then dead-lettered) until ferry dev runs that
// function.
func (r *resolver) unresolved(triggers []*eventingv1.Trigger) []string {
	var out []string
	for _, t := range triggers {
		ref := t.Spec.Subscriber.Ref
		if ref == nil || (ref.Kind == "Service" && r.functions[ref.Name]) {
			continue
		}
		out = append(out, fmt.Sprintf("Trigger %s: subscriber %s %s is no "+
			"function under ferry dev", t.Name, ref.Kind, ref.Name))
	}
	return out
}
