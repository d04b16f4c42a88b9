package conformance

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The Broker ingress contract: POST /<namespace>/<broker>, as Knative's
// Broker ingress serves it.

func TestBrokerAcceptsSpecVersion10(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	hdr := binary("v10", "dev.conformance.v10", "myext", "mine")
	hdr["Content-Type"] = "application/json"
	hdr["Ce-Subject"] = "order-7"
	s.publish(hdr, []byte(`{"n":1}`))

	got := sub.await(t, 1)[0]
	for k, want := range map[string]string{"specversion": "1.0", "id": "v10",
		"source": "/conformance", "type": "dev.conformance.v10",
		"subject": "order-7", "myext": "mine"} {
		if v := got.ce(k); v != want {
			t.Errorf("ce-%s = %q, want %q", k, v, want)
		}
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if string(got.Body) != `{"n":1}` {
		t.Errorf("body %q, want {\"n\":1}", got.Body)
	}
}

func TestBrokerAcceptsSpecVersion03(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	hdr := binary("v03-binary", "dev.conformance.v03")
	hdr["Ce-Specversion"] = "0.3"
	hdr["Content-Type"] = "text/plain"
	s.publish(hdr, []byte("binary 0.3"))
	s.publishStructured(map[string]any{"specversion": "0.3",
		"id": "v03-structured", "source": "/conformance",
		"type": "dev.conformance.v03", "datacontenttype": "text/plain",
		"data": "structured 0.3"})

	bodies := map[string]string{}
	for _, r := range sub.await(t, 2) {
		if v := r.ce("specversion"); v != "0.3" {
			t.Errorf("event %s: ce-specversion %q, want 0.3 unchanged",
				r.ce("id"), v)
		}
		bodies[r.ce("id")] = string(r.Body)
	}
	want := map[string]string{"v03-binary": "binary 0.3",
		"v03-structured": "structured 0.3"}
	for id, b := range want {
		if bodies[id] != b {
			t.Errorf("event %s: body %q, want %q", id, bodies[id], b)
		}
	}
}

func TestBrokerRefusesSpecVersion19(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	hdr := binary("v19", "dev.conformance.v19")
	hdr["Ce-Specversion"] = "19.0"
	structured := []byte(`{"specversion":"19.0","id":"v19s",` +
		`"source":"/conformance","type":"dev.conformance.v19"}`)
	answers := map[string]answerOf{
		"binary": do(t, http.MethodPost, s.brokerURL(), hdr, nil),
		"structured": do(t, http.MethodPost, s.brokerURL(),
			map[string]string{"Content-Type": "application/cloudevents+json"},
			structured),
	}
	for mode, a := range answers {
		p := wantProblem(t, a, http.StatusBadRequest)
		if !strings.HasSuffix(p.Type, "/unsupported-specversion") ||
			!strings.Contains(p.Detail, "19.0") {
			t.Errorf("%s: problem %+v, want unsupported-specversion naming 19.0",
				mode, p)
		}
	}

	// Nothing of the refused events reaches the subscriber: the next
	// accepted event is the first it gets.
	s.awaitFinished(s.publish(binary("after", "dev.conformance.v10"), nil))
	if got := sub.received(); len(got) != 1 || got[0].ce("id") != "after" {
		t.Errorf("subscriber received %d events, want only \"after\"", len(got))
	}
}

func TestBrokerAnswersOtherMethodsWith405(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	for _, m := range []string{http.MethodGet, http.MethodPut,
		http.MethodDelete, http.MethodPatch} {
		a := do(t, m, s.brokerURL(), nil, nil)
		wantProblem(t, a, http.StatusMethodNotAllowed)
		if allow := a.Header.Get("Allow"); !strings.Contains(allow, "POST") {
			t.Errorf("%s: Allow %q, want it to name POST", m, allow)
		}
	}
}

func TestBrokerAnswersWebhookHandshake(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	a := do(t, http.MethodOptions, s.brokerURL(), map[string]string{
		"WebHook-Request-Origin": "producer.example.com",
		"WebHook-Request-Rate":   "120",
	}, nil)
	if a.Code != http.StatusOK {
		t.Fatalf("OPTIONS: %d %s, want 200", a.Code, a.Body)
	}
	if v := a.Header.Get("WebHook-Allowed-Origin"); v != "producer.example.com" {
		t.Errorf("WebHook-Allowed-Origin %q, want the requesting origin", v)
	}
	if v := a.Header.Get("WebHook-Allowed-Rate"); v == "" {
		t.Errorf("no WebHook-Allowed-Rate")
	}
	if allow := a.Header.Get("Allow"); !strings.Contains(allow, "POST") {
		t.Errorf("Allow %q, want it to name POST", allow)
	}
}

func TestBrokerUnknownIs404(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	for _, path := range []string{"/default/no-such-broker",
		"/other-namespace/" + brokerName} {
		a := do(t, http.MethodPost, s.URL()+path,
			binary("lost", "dev.conformance.lost"), nil)
		p := wantProblem(t, a, http.StatusNotFound)
		if !strings.HasSuffix(p.Type, "/broker-not-found") {
			t.Errorf("POST %s: problem type %q, want broker-not-found", path,
				p.Type)
		}
	}
}

func TestBrokerRefusesEventMissingAttribute(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	for _, attr := range []string{"id", "type", "source", "specversion"} {
		hdr := binary("missing-"+attr, "dev.conformance.missing")
		delete(hdr, "Ce-"+strings.ToUpper(attr[:1])+attr[1:])
		ev := map[string]any{"specversion": "1.0", "id": "missing-" + attr,
			"source": "/conformance", "type": "dev.conformance.missing"}
		delete(ev, attr)
		body, _ := json.Marshal(ev)

		answers := map[string]answerOf{
			"binary": do(t, http.MethodPost, s.brokerURL(), hdr, nil),
			"structured": do(t, http.MethodPost, s.brokerURL(),
				map[string]string{
					"Content-Type": "application/cloudevents+json"}, body),
		}
		for mode, a := range answers {
			p := wantProblem(t, a, http.StatusBadRequest)
			want := "missing required attribute: " + attr
			if !strings.Contains(p.Detail, want) {
				t.Errorf("%s without %s: detail %q, want it to say %q",
					mode, attr, p.Detail, want)
			}
		}
	}
}

func TestBrokerRefusesBodyThatIsNotACloudEvent(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	plain := map[string]string{"Content-Type": "text/plain"}
	ce := map[string]string{"Content-Type": "application/cloudevents+json"}
	cases := map[string]struct {
		hdr  map[string]string
		body string
	}{
		"plain body":  {plain, "hi"},
		"broken JSON": {ce, `{"id":`},
		"JSON array":  {ce, `[1]`},
		"non-string id": {ce,
			`{"specversion":"1.0","id":7,"source":"/c","type":"t"}`},
	}
	for name, c := range cases {
		a := do(t, http.MethodPost, s.brokerURL(), c.hdr, []byte(c.body))
		if a.Code != http.StatusBadRequest {
			t.Errorf("%s: got %d %s, want 400", name, a.Code, a.Body)
			continue
		}
		wantProblem(t, a, http.StatusBadRequest)
	}
}

// TestBrokerRefusesBatchMode: Ferry's decision for batch mode, documented
// in the README: 415, one event per request, as Knative's Broker ingress.
func TestBrokerRefusesBatchMode(t *testing.T) {
	t.Parallel()
	s := startStack(t, brokerDoc(""))

	a := do(t, http.MethodPost, s.brokerURL(),
		map[string]string{"Content-Type": "application/cloudevents-batch+json"},
		[]byte(`[{"specversion":"1.0","id":"b1","source":"/c","type":"t"}]`))
	wantProblem(t, a, http.StatusUnsupportedMediaType)
}

func TestBrokerDeliversBinaryBodiesIntact(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	random[0] = 0xff // surely not UTF-8
	bodies := map[string]struct {
		contentType string
		body        []byte
	}{
		"json": {"application/json", []byte(`{"items":[1,2,3],"name":"ü"}`)},
		"xml": {"application/xml", []byte(`<?xml version="1.0"?>` +
			`<order id="7"><item>ü</item></order>`)},
		"random": {"application/octet-stream", random},
	}
	for id, b := range bodies {
		hdr := binary(id, "dev.conformance.body")
		hdr["Content-Type"] = b.contentType
		s.publish(hdr, b.body)
	}

	for _, r := range sub.await(t, len(bodies)) {
		want := bodies[r.ce("id")]
		if ct := r.Header.Get("Content-Type"); ct != want.contentType {
			t.Errorf("%s: Content-Type %q, want %q", r.ce("id"), ct,
				want.contentType)
		}
		if !bytes.Equal(r.Body, want.body) {
			t.Errorf("%s: body of %d bytes differs from the %d sent",
				r.ce("id"), len(r.Body), len(want.body))
		}
	}
}

func TestBrokerAcceptsStructuredMode(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	random := make([]byte, 1024)
	_, _ = rand.Read(random)
	s.publishStructured(map[string]any{"specversion": "1.0", "id": "s-json",
		"source": "/conformance", "type": "dev.conformance.structured",
		"datacontenttype": "application/json", "myext": "mine",
		"data": map[string]any{"n": 1}})
	s.publishStructured(map[string]any{"specversion": "1.0", "id": "s-text",
		"source": "/conformance", "type": "dev.conformance.structured",
		"datacontenttype": "text/plain", "data": "plain text"})
	s.publishStructured(map[string]any{"specversion": "1.0", "id": "s-base64",
		"source": "/conformance", "type": "dev.conformance.structured",
		"datacontenttype": "application/octet-stream",
		"data_base64":     base64.StdEncoding.EncodeToString(random)})

	want := map[string]struct {
		contentType string
		body        []byte
	}{
		"s-json":   {"application/json", []byte(`{"n":1}`)},
		"s-text":   {"text/plain", []byte("plain text")},
		"s-base64": {"application/octet-stream", random},
	}
	for _, r := range sub.await(t, 3) {
		w := want[r.ce("id")]
		if r.ce("specversion") != "1.0" || r.ce("type") != "dev.conformance.structured" {
			t.Errorf("%s: not delivered in binary mode with its attributes: %v",
				r.ce("id"), r.Header)
		}
		if ct := r.Header.Get("Content-Type"); ct != w.contentType {
			t.Errorf("%s: Content-Type %q, want %q", r.ce("id"), ct, w.contentType)
		}
		if !bytes.Equal(r.Body, w.body) {
			t.Errorf("%s: body %q, want %q", r.ce("id"), clipped(r.Body),
				clipped(w.body))
		}
		if r.ce("id") == "s-json" && r.ce("myext") != "mine" {
			t.Errorf("s-json: ce-myext %q, want mine", r.ce("myext"))
		}
	}
}

// clipped is the start of a body, for a message.
func clipped(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// TestDuplicateEventIsDeliveredOnce: the same event (source and id) posted
// twice is one task and one delivery. Ferry's rule; Knative's broker
// delivers both.
func TestDuplicateEventIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	first := s.publish(binary("twice", "dev.conformance.twice"), []byte("1"))
	second := s.publish(binary("twice", "dev.conformance.twice"), []byte("2"))
	if first != second {
		t.Errorf("tasks %s and %s, want the same", first, second)
	}
	s.awaitState(first, "succeeded")
	settle()
	if got := sub.received(); len(got) != 1 || string(got[0].Body) != "1" {
		t.Errorf("subscriber got %d deliveries, want the first post only",
			len(got))
	}
}

// TestDefaultBrokerWhenNoneDeclared: with no Broker under config/, ferry
// dev serves a Broker named default at /default/default.
func TestDefaultBrokerWhenNoneDeclared(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"+
		"metadata:\n  name: all\nspec:\n  broker: default\n  subscriber:\n"+
		"    uri: "+sub.URL()+"\n")

	a := do(t, http.MethodPost, s.URL()+"/default/default",
		binary("to-default", "dev.conformance.default"), nil)
	if a.Code != http.StatusAccepted {
		t.Fatalf("POST /default/default: %d %s, want 202", a.Code, a.Body)
	}
	if got := sub.await(t, 1); got[0].ce("id") != "to-default" {
		t.Errorf("subscriber got %q, want to-default", got[0].ce("id"))
	}
}
