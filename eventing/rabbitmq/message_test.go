package rabbitmq

import (
	"bytes"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	amqp "github.com/rabbitmq/amqp091-go"
)

// fullEvent has every attribute, extensions of each type and binary data
// with every byte value.
func fullEvent() *event.Event {
	e := event.New()
	e.SetID("evt-1")
	e.SetSource("/ferry/test/full")
	e.SetType("dev.ferry.full")
	e.SetSubject("photos/1.jpg")
	e.SetTime(time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC))
	e.SetDataSchema("https://example.test/schema.json")
	data := make([]byte, 256)
	for i := range data {
		data[i] = byte(i)
	}
	_ = e.SetData("image/jpeg", data)
	e.SetExtension("correlationid", "task-1")
	e.SetExtension("knativebrokerttl", 255)
	e.SetExtension("urgent", true)
	e.SetExtension("traceparent",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	return &e
}

func TestPublishingMapsEventAsEventingRabbitMQ(t *testing.T) {
	e := fullEvent()
	p := publishing(e)

	want := map[string]any{
		"specversion": "1.0", "id": "evt-1", "source": "/ferry/test/full",
		"type": "dev.ferry.full", "subject": "photos/1.jpg",
		"time":         "2026-03-04T05:06:07.890123Z",
		"dataschema":   "https://example.test/schema.json",
		"content-type": "image/jpeg", "correlationid": "task-1",
		"knativebrokerttl": int32(255), "urgent": true,
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	for k, v := range want {
		if p.Headers[k] != v {
			t.Errorf("header %s = %#v, want %#v", k, p.Headers[k], v)
		}
	}
	if len(p.Headers) != len(want) {
		t.Errorf("headers %v, want exactly %v", p.Headers, want)
	}
	if p.ContentType != "image/jpeg" || p.MessageId != "evt-1" ||
		p.DeliveryMode != amqp.Persistent || !bytes.Equal(p.Body, e.Data()) {
		t.Errorf("properties: content type %q, message id %q, mode %d, "+
			"body %d bytes", p.ContentType, p.MessageId, p.DeliveryMode,
			len(p.Body))
	}
	if err := p.Headers.Validate(); err != nil {
		t.Errorf("headers are not a valid AMQP table: %v", err)
	}
}

func TestEventOfReadsWhatPublishingWrote(t *testing.T) {
	for _, sv := range []string{event.CloudEventsVersionV1,
		event.CloudEventsVersionV03} {
		t.Run(sv, func(t *testing.T) {
			e := fullEvent()
			e.SetSpecVersion(sv)
			p := publishing(e)
			got, err := eventOf(p.Headers, p.ContentType, p.Body)
			if err != nil {
				t.Fatalf("eventOf: %v", err)
			}
			assertSameEvent(t, got, e)
		})
	}
}

func TestEventOfReadsForeignHeaders(t *testing.T) {
	// As eventing-rabbitmq's ingress or another producer may write them:
	// content type only as a header, ce- prefixes, a time value, AMQP
	// integer widths, and headers that are no attributes.
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := amqp.Table{
		"specversion": "1.0", "ce-id": "x1", "source": "/elsewhere",
		"type": "dev.other", "content-type": "text/plain", "time": at,
		"retries": int64(3), "small": int8(2), "ratio": 1.5,
		"x-death": []any{}, "x-knative-trigger": "t1",
		"not-an-attribute": "dash",
	}
	e, err := eventOf(h, "", []byte("hello"))
	if err != nil {
		t.Fatalf("eventOf: %v", err)
	}
	if e.ID() != "x1" || e.DataContentType() != "text/plain" ||
		!e.Time().Equal(at) || string(e.Data()) != "hello" {
		t.Errorf("event %v", e)
	}
	ext := e.Extensions()
	if ext["retries"] != int32(3) || ext["small"] != int32(2) ||
		ext["ratio"] != "1.5" {
		t.Errorf("extensions %#v", ext)
	}
	for _, k := range []string{"x-death", "xdeath", "x-knative-trigger",
		"not-an-attribute"} {
		if _, ok := ext[k]; ok {
			t.Errorf("extension %s was read from a header that is none", k)
		}
	}
}

func TestEventOfRefusesWhatIsNoCloudEvent(t *testing.T) {
	cases := map[string]amqp.Table{
		"no specversion": {"id": "1", "source": "/s", "type": "t"},
		"no id":          {"specversion": "1.0", "source": "/s", "type": "t"},
		"bad specversion": {"specversion": "9.9", "id": "1", "source": "/s",
			"type": "t"},
		"id not a string": {"specversion": "1.0", "id": int32(1),
			"source": "/s", "type": "t"},
		"bad time": {"specversion": "1.0", "id": "1", "source": "/s",
			"type": "t", "time": "yesterday"},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := eventOf(h, "", nil)
			if !errors.Is(err, errNotEvent) {
				t.Errorf("err = %v, want errNotEvent", err)
			}
		})
	}
}

func TestBuriedKeepsEventHeadersAndAddsWhy(t *testing.T) {
	p := publishing(fullEvent())
	b := buried(p, "thumbnail", "subscriber answered 400", 3)
	if b.Headers[hdrBuriedTrigger] != "thumbnail" ||
		b.Headers[hdrBuriedReason] != "subscriber answered 400" ||
		b.Headers[hdrBuriedAttempts] != int32(3) {
		t.Errorf("headers %v", b.Headers)
	}
	if _, ok := p.Headers[hdrBuriedReason]; ok {
		t.Error("buried changed the original headers")
	}
	e, err := eventOf(b.Headers, b.ContentType, b.Body)
	if err != nil {
		t.Fatalf("a buried message is no longer an event: %v", err)
	}
	assertSameEvent(t, e, fullEvent())
}

// assertSameEvent compares every attribute, extension and the data.
func assertSameEvent(t *testing.T, got, want *event.Event) {
	t.Helper()
	if got.SpecVersion() != want.SpecVersion() || got.ID() != want.ID() ||
		got.Source() != want.Source() || got.Type() != want.Type() ||
		got.Subject() != want.Subject() ||
		!got.Time().Equal(want.Time()) ||
		got.DataSchema() != want.DataSchema() ||
		got.DataContentType() != want.DataContentType() {
		t.Errorf("attributes differ:\n got %v\nwant %v", got, want)
	}
	if !bytes.Equal(got.Data(), want.Data()) {
		t.Errorf("data differs: %d bytes, want %d", len(got.Data()),
			len(want.Data()))
	}
	ge, we := got.Extensions(), want.Extensions()
	if len(ge) != len(we) {
		t.Errorf("extensions %v, want %v", ge, we)
	}
	for k, v := range we {
		if !sameValue(ge[k], v) {
			t.Errorf("extension %s = %#v, want %#v", k, ge[k], v)
		}
	}
}

func sameValue(a, b any) bool {
	if u, ok := b.(types.URI); ok {
		b = u.String()
	}
	if u, ok := b.(*url.URL); ok {
		b = u.String()
	}
	return a == b
}
