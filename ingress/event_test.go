package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"github.com/ferryfn/ferry/ingress"
)

// binaryHeaders are the headers of a valid binary-mode event.
func binaryHeaders(specversion string) map[string]string {
	return map[string]string{
		"Ce-Specversion": specversion,
		"Ce-Id":          "evt-1",
		"Ce-Source":      "/test/producer",
		"Ce-Type":        "com.example.test",
		"Content-Type":   "application/json",
	}
}

// without returns h without the named headers.
func without(h map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// orderEvent is an event with every kind of attribute, extensions and
// JSON data.
func orderEvent(t *testing.T, specversion string) event.Event {
	t.Helper()
	e := event.New(specversion)
	e.SetID("order-42-" + specversion)
	e.SetSource("/shop/orders")
	e.SetType("com.example.order.placed")
	e.SetSubject("order-42")
	e.SetTime(time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC))
	e.SetDataSchema("https://example.com/schemas/order.json")
	e.SetExtension("tenant", "acme")
	e.SetExtension("traceparent",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if err := e.SetData(event.ApplicationJSON,
		map[string]any{"order": 42, "items": []string{"tea"}}); err != nil {
		t.Fatal(err)
	}
	return e
}

// sendWithSDK sends e to the harness with sdk-go's HTTP client and checks
// that it was answered 202.
func sendWithSDK(t *testing.T, h *harness, path string, e event.Event,
	structured bool) {
	t.Helper()
	c, err := cloudevents.NewClientHTTP(cloudevents.WithTarget(h.url + path))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if structured {
		ctx = cloudevents.WithEncodingStructured(ctx)
	} else {
		ctx = cloudevents.WithEncodingBinary(ctx)
	}
	res := c.Send(ctx, e)
	if !cloudevents.IsACK(res) {
		t.Fatalf("Send: %v", res)
	}
	var httpRes *cehttp.Result
	if !errors.As(res, &httpRes) || httpRes.StatusCode != http.StatusAccepted {
		t.Fatalf("Send result = %v, want HTTP 202", res)
	}
}

func TestEventsFromSDKClientsArePublishedAsSent(t *testing.T) {
	tests := []struct {
		name        string
		specversion string
		structured  bool
		path        string
	}{
		{"binary 1.0", event.CloudEventsVersionV1, false, "/"},
		{"binary 0.3", event.CloudEventsVersionV03, false, "/v1/events"},
		{"structured 1.0", event.CloudEventsVersionV1, true, "/v1/events"},
		{"structured 0.3", event.CloudEventsVersionV03, true, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			sent := orderEvent(t, tt.specversion)

			sendWithSDK(t, h, tt.path, sent, tt.structured)

			wantSameEvent(t, h.pub.lastReceived(t), sent)
		})
	}
}

func TestPostAnswers202WithTaskAndLocation(t *testing.T) {
	h := newHarness(t)

	resp, body := h.post(t, "/", binaryHeaders("1.0"), `{"n":1}`)

	a := wantAcceptance(t, resp, body)
	want := ingress.Acceptance{
		ID:      a.ID,
		EventID: "evt-1",
		Type:    "com.example.test",
		Source:  "/test/producer",
		State:   "accepted",
		Href:    "/v1/tasks/" + a.ID,
	}
	if a != want {
		t.Errorf("acceptance = %+v, want %+v", a, want)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "eventId", "type", "source", "state",
		"duplicate", "href"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("answer %s has no %q", body, k)
		}
	}
}

func TestStructuredEventWithBase64DataKeepsBytes(t *testing.T) {
	h := newHarness(t)
	png := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00}
	body, _ := json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              "img-1",
		"source":          "/uploads",
		"type":            "com.example.image.uploaded",
		"datacontenttype": "image/png",
		"data_base64":     png,
		"width":           640,
	})

	resp, answer := h.post(t, "/v1/events",
		map[string]string{"Content-Type": "application/cloudevents+json"},
		string(body))

	wantAcceptance(t, resp, answer)
	got := h.pub.lastReceived(t)
	if !bytes.Equal(got.Data(), png) || got.DataContentType() != "image/png" {
		t.Errorf("data = %x (%s), want %x (image/png)", got.Data(),
			got.DataContentType(), png)
	}
	if w := got.Extensions()["width"]; w != int32(640) {
		t.Errorf("extension width = %#v, want int32 640", w)
	}
}

func TestBinaryDataSurvivesTheJSONEventFormat(t *testing.T) {
	tests := []struct {
		name, contentType string
		data              []byte
	}{
		{"image bytes", "image/png", []byte{0x89, 'P', 'N', 'G', 0xff, 0}},
		{"json type on bytes that are not json", "application/json",
			[]byte("not json")},
		{"no content type", "", []byte{0xfe, 0xed}},
		{"text", "text/plain", []byte("héllo")},
		{"json", "application/json", []byte(`{"a":[1,2]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			hdr := without(binaryHeaders("1.0"), "Content-Type")
			if tt.contentType != "" {
				hdr["Content-Type"] = tt.contentType
			}

			resp, body := h.post(t, "/", hdr, string(tt.data))
			wantAcceptance(t, resp, body)

			// A Broker may store the event in the JSON format.
			published := h.pub.lastReceived(t)
			stored, err := json.Marshal(published)
			if err != nil {
				t.Fatal(err)
			}
			var back event.Event
			if err := json.Unmarshal(stored, &back); err != nil {
				t.Fatalf("reading back %s: %v", stored, err)
			}
			if !bytes.Equal(back.Data(), tt.data) {
				t.Errorf("data after JSON = %q, want %q", back.Data(), tt.data)
			}
		})
	}
}

func TestDuplicateEventAnswersSameTask(t *testing.T) {
	h := newHarness(t)

	first := h.postAccepted(t, "/", binaryHeaders("1.0"), `{}`)
	again := h.postAccepted(t, "/v1/events", binaryHeaders("1.0"),
		`{}`)

	if first.Duplicate || !again.Duplicate {
		t.Errorf("duplicate = %v then %v, want false then true",
			first.Duplicate, again.Duplicate)
	}
	if again.ID != first.ID {
		t.Errorf("retry got task %q, want the first task %q", again.ID,
			first.ID)
	}
	if received, stored := h.pub.counts(); received != 2 || stored != 1 {
		t.Errorf("publisher received %d, stored %d; want 2 and 1",
			received, stored)
	}
}

func TestBadEventsAnswerProblems(t *testing.T) {
	const structured = "application/cloudevents+json"
	ce := map[string]string{"Content-Type": structured}
	tests := []struct {
		name   string
		header map[string]string
		body   string
		status int
		typ    ingress.ProblemType
		detail []string
	}{
		{"plain JSON is neither mode",
			map[string]string{"Content-Type": "application/json"},
			`{"order":42}`, 400, ingress.ProblemInvalidEvent,
			[]string{"neither binary mode", "nor structured mode",
				"POST /v1/tasks/{type}"}},
		{"no body and no headers", nil, "", 400, ingress.ProblemInvalidEvent,
			[]string{"neither binary mode"}},
		{"malformed structured JSON", ce,
			`{"specversion": "1.0", "id": `, 400, ingress.ProblemInvalidEvent,
			[]string{"malformed JSON", "unexpected end of JSON input"}},
		{"structured JSON with a bad character", ce,
			`{"specversion": '1.0'}`, 400, ingress.ProblemInvalidEvent,
			[]string{"malformed JSON", "at byte 17", "invalid character"}},
		{"structured JSON that is not an object", ce, `["a"]`, 400,
			ingress.ProblemInvalidEvent, []string{"must be a JSON object"}},
		{"binary without id", without(binaryHeaders("1.0"), "Ce-Id"), `{}`,
			400, ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: id"}},
		{"binary without source",
			without(binaryHeaders("1.0"), "Ce-Source"), `{}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: source"}},
		{"binary 0.3 without type",
			without(binaryHeaders("0.3"), "Ce-Type"), `{}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: type"}},
		{"binary without specversion",
			without(binaryHeaders("1.0"), "Ce-Specversion"), `{}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: specversion"}},
		{"structured without source", ce,
			`{"specversion":"1.0","id":"1","type":"t"}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: source"}},
		{"structured without specversion", ce,
			`{"id":"1","source":"/s","type":"t"}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attribute: specversion"}},
		{"structured without id and type", ce,
			`{"specversion":"0.3","source":"/s"}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"missing required attributes: id, type"}},
		{"binary specversion 19.0", binaryHeaders("19.0"), `{}`, 400,
			ingress.ProblemUnsupportedSpecVersion,
			[]string{`"19.0"`, "ce-specversion header", "1.0, 0.3"}},
		{"structured specversion 19.0", ce,
			`{"specversion":"19.0","id":"1","source":"/s","type":"t"}`, 400,
			ingress.ProblemUnsupportedSpecVersion,
			[]string{`"19.0"`, "specversion attribute", "1.0, 0.3"}},
		{"structured extension with a fraction", ce,
			`{"specversion":"1.0","id":"1","source":"/s","type":"t","weight":1.5}`,
			400, ingress.ProblemInvalidEvent,
			[]string{"extension weight", "1.5 is not an integer"}},
		{"structured extension with an exponent", ce,
			`{"specversion":"1.0","id":"1","source":"/s","type":"t","n":2e3}`,
			400, ingress.ProblemInvalidEvent,
			[]string{"extension n", "2e3 is not an integer"}},
		{"structured extension out of int32", ce,
			`{"specversion":"1.0","id":"1","source":"/s","type":"t","n":3000000000}`,
			400, ingress.ProblemInvalidEvent, []string{"out of range"}},
		{"structured specversion as a number", ce,
			`{"specversion":1.0,"id":"1","source":"/s","type":"t"}`, 400,
			ingress.ProblemInvalidEvent,
			[]string{"specversion must be a string", "1.0"}},
		{"binary time that is no time",
			func() map[string]string {
				h := binaryHeaders("1.0")
				h["Ce-Time"] = "yesterday"
				return h
			}(), `{}`, 400, ingress.ProblemInvalidEvent,
			[]string{"invalid binary-mode event", "yesterday"}},
		{"binary header that names no attribute",
			func() map[string]string {
				h := binaryHeaders("1.0")
				h["Ce-"] = "x"
				return h
			}(), `{}`, 400, ingress.ProblemInvalidEvent,
			[]string{"header Ce- names no attribute"}},
		{"binary extension name that is not alphanumeric",
			func() map[string]string {
				h := binaryHeaders("1.0")
				h["Ce-Trace-Id"] = "x"
				return h
			}(), `{}`, 400, ingress.ProblemInvalidEvent,
			[]string{"invalid binary-mode event", "attribute names"}},
		{"binary content type that is no media type",
			func() map[string]string {
				h := binaryHeaders("1.0")
				h["Content-Type"] = "image/"
				return h
			}(), `{}`, 400, ingress.ProblemInvalidEvent,
			[]string{"invalid attribute datacontenttype"}},
		{"batch mode",
			map[string]string{
				"Content-Type": "application/cloudevents-batch+json"},
			`[{"specversion":"1.0","id":"1","source":"/s","type":"t"}]`, 415,
			ingress.ProblemUnsupportedMediaType,
			[]string{"batch mode", "one at a time"}},
		{"structured format other than JSON",
			map[string]string{"Content-Type": "application/cloudevents+xml"},
			`<event/>`, 415, ingress.ProblemUnsupportedMediaType,
			[]string{"application/cloudevents+xml",
				"application/cloudevents+json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)

			resp, body := h.post(t, "/v1/events", tt.header, tt.body)

			p := wantProblem(t, resp, body, tt.status, tt.typ, tt.detail...)
			if p.Instance != "/v1/events" {
				t.Errorf("instance = %q, want /v1/events", p.Instance)
			}
			if received, _ := h.pub.counts(); received != 0 {
				t.Errorf("bad event reached the publisher")
			}
		})
	}
}

// chunked hides a reader's length, so that the client sends the body
// without a Content-Length.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestBodyOverLimitAnswers413(t *testing.T) {
	h := newHarness(t, func(p *ingress.Params) { p.MaxBodyBytes = 1024 })
	big := strings.Repeat("x", 1025)
	tests := []struct {
		name, path string
		body       func() io.Reader
	}{
		{"event with Content-Length", "/",
			func() io.Reader { return strings.NewReader(big) }},
		{"event chunked", "/v1/events",
			func() io.Reader { return chunked{strings.NewReader(big)} }},
		{"plain body chunked", "/v1/tasks/com.example.test",
			func() io.Reader { return chunked{strings.NewReader(big)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.do(t, http.MethodPost, tt.path,
				binaryHeaders("1.0"), tt.body())

			wantProblem(t, resp, body, http.StatusRequestEntityTooLarge,
				ingress.ProblemBodyTooLarge, "1 KiB (1024 bytes)")
		})
	}

	t.Run("body at the limit", func(t *testing.T) {
		resp, body := h.post(t, "/", binaryHeaders("1.0"), big[:1024])
		wantAcceptance(t, resp, body)
	})
}

func TestPlainBodyIsWrappedInEventOfTheType(t *testing.T) {
	h := newHarness(t)
	png := string([]byte{0x89, 'P', 'N', 'G', 0xff, 0x00})
	before := time.Now()

	resp, body := h.post(t, "/v1/tasks/com.example.image.resize",
		map[string]string{"Content-Type": "image/png"}, png)

	a := wantAcceptance(t, resp, body)
	e := h.pub.lastReceived(t)
	if e.SpecVersion() != "1.0" || e.Type() != "com.example.image.resize" ||
		e.Source() != ingress.SourceDefault ||
		e.DataContentType() != "image/png" || string(e.Data()) != png {
		t.Errorf("event = %v, want 1.0 com.example.image.resize from %s "+
			"with the PNG", e, ingress.SourceDefault)
	}
	if _, err := uuid.Parse(e.ID()); err != nil {
		t.Errorf("id %q is not a UUID: %v", e.ID(), err)
	}
	if e.Time().Before(before.Add(-time.Second)) ||
		e.Time().After(time.Now().Add(time.Second)) {
		t.Errorf("time = %v, want now", e.Time())
	}
	if a.EventID != e.ID() || a.Type != e.Type() || a.Source != e.Source() {
		t.Errorf("acceptance %+v does not name the event %s", a, e.ID())
	}
	if err := e.Validate(); err != nil {
		t.Errorf("wrapped event is not valid: %v", err)
	}
}

func TestPlainBodyWithoutContentTypeIsOctetStream(t *testing.T) {
	h := newHarness(t, func(p *ingress.Params) { p.Source = "/billing" })

	h.postAccepted(t, "/v1/tasks/com.example.invoice", nil,
		"raw")

	e := h.pub.lastReceived(t)
	if e.DataContentType() != "application/octet-stream" ||
		e.Source() != "/billing" {
		t.Errorf("datacontenttype %q, source %q; want "+
			"application/octet-stream and /billing", e.DataContentType(),
			e.Source())
	}
}

func TestIdempotencyKeyMakesRetryTheSameTask(t *testing.T) {
	h := newHarness(t)
	hdr := map[string]string{
		"Content-Type":    "application/json",
		"Idempotency-Key": "order-42-resize",
	}

	first := h.postAccepted(t, "/v1/tasks/com.example.resize", hdr,
		`{"w":64}`)
	hdr["Idempotency-Key"] = `"order-42-resize"` // as a quoted string
	again := h.postAccepted(t, "/v1/tasks/com.example.resize", hdr,
		`{"w":64}`)

	if first.EventID != "order-42-resize" || again.EventID != first.EventID {
		t.Errorf("event ids %q and %q, want the key order-42-resize",
			first.EventID, again.EventID)
	}
	if again.ID != first.ID || first.Duplicate || !again.Duplicate {
		t.Errorf("tasks %q (dup %v) and %q (dup %v), want one task, the "+
			"retry a duplicate", first.ID, first.Duplicate, again.ID,
			again.Duplicate)
	}
	if _, stored := h.pub.counts(); stored != 1 {
		t.Errorf("stored %d events, want 1", stored)
	}

	other := h.postAccepted(t, "/v1/tasks/com.example.resize",
		map[string]string{"Content-Type": "application/json"}, `{"w":64}`)
	if other.ID == first.ID {
		t.Errorf("a post without key joined task %q", first.ID)
	}
}

func TestBadPlainPostsAnswerProblems(t *testing.T) {
	tests := []struct {
		name, path string
		header     map[string]string
		status     int
		typ        ingress.ProblemType
		detail     []string
	}{
		{"type with a space", "/v1/tasks/resize%20image", nil, 400,
			ingress.ProblemInvalidParameter,
			[]string{`invalid task type "resize image"`}},
		{"type with a control character", "/v1/tasks/resize%01", nil, 400,
			ingress.ProblemInvalidParameter,
			[]string{`invalid task type "resize\x01"`}},
		{"type that is too long", "/v1/tasks/" + strings.Repeat("a", 256),
			nil, 400, ingress.ProblemInvalidParameter,
			[]string{"invalid task type", "1 to 255"}},
		{"idempotency key with a space", "/v1/tasks/com.example.test",
			map[string]string{"Idempotency-Key": "my key"}, 400,
			ingress.ProblemInvalidParameter,
			[]string{`invalid Idempotency-Key header "my key"`}},
		{"empty idempotency key", "/v1/tasks/com.example.test",
			map[string]string{"Idempotency-Key": `""`}, 400,
			ingress.ProblemInvalidParameter,
			[]string{"invalid Idempotency-Key header"}},
		{"content type that is no media type", "/v1/tasks/com.example.test",
			map[string]string{"Content-Type": "image/"}, 400,
			ingress.ProblemInvalidParameter,
			[]string{`invalid Content-Type header "image/"`}},
		{"a CloudEvent", "/v1/tasks/com.example.test",
			map[string]string{
				"Content-Type": "application/cloudevents+json"}, 415,
			ingress.ProblemUnsupportedMediaType,
			[]string{"POST /v1/events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)

			resp, body := h.post(t, tt.path, tt.header, "data")

			wantProblem(t, resp, body, tt.status, tt.typ, tt.detail...)
			if received, _ := h.pub.counts(); received != 0 {
				t.Errorf("bad post reached the publisher")
			}
		})
	}
}
