package rabbitmq

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferryfn/ferry/eventing"
)

// Header names of the CloudEvents context attributes. The content type
// also travels in the AMQP content-type property, which wins on reading.
const (
	hdrSpecVersion     = "specversion"
	hdrID              = "id"
	hdrSource          = "source"
	hdrType            = "type"
	hdrSubject         = "subject"
	hdrTime            = "time"
	hdrDataSchema      = "dataschema"
	hdrSchemaURL       = "schemaurl" // dataschema of CloudEvents 0.3
	hdrContentType     = "content-type"
	hdrDataContentType = "datacontenttype"
	hdrContentEncoding = "datacontentencoding" // CloudEvents 0.3 only
)

// Headers of a buried message, beside the event's.
const (
	hdrBuriedTrigger  = "x-ferry-trigger"
	hdrBuriedReason   = "x-ferry-reason"
	hdrBuriedAttempts = "x-ferry-attempts"
)

// errNotEvent marks a message that cannot be read as a CloudEvent.
var errNotEvent = errors.New("message is not a CloudEvent")

// publishing encodes e as a persistent message in binary content mode:
// attributes and extensions as bare-named headers, data as the body.
func publishing(e *event.Event) amqp.Publishing {
	h := amqp.Table{hdrSpecVersion: e.SpecVersion(), hdrID: e.ID(),
		hdrSource: e.Source(), hdrType: e.Type()}
	if s := e.Subject(); s != "" {
		h[hdrSubject] = s
	}
	if t := e.Time(); !t.IsZero() {
		h[hdrTime] = types.FormatTime(t)
	}
	if s := e.DataSchema(); s != "" {
		if e.SpecVersion() == event.CloudEventsVersionV03 {
			h[hdrSchemaURL] = s
		} else {
			h[hdrDataSchema] = s
		}
	}
	ct := e.DataContentType()
	if ct != "" {
		h[hdrContentType] = ct
	}
	if enc := e.DeprecatedDataContentEncoding(); enc != "" {
		h[hdrContentEncoding] = enc
	}
	for k, v := range eventing.Extensions(e) {
		h[k] = headerValue(v)
	}
	return amqp.Publishing{
		Headers:      h,
		ContentType:  ct,
		MessageId:    e.ID(),
		DeliveryMode: amqp.Persistent,
		Body:         e.Data(),
	}
}

// headerValue is an extension's value as an AMQP field: strings, integers
// and booleans as such, anything else (time, URI, bytes) as its canonical
// CloudEvents string.
func headerValue(v any) any {
	switch v := v.(type) {
	case string, int32, bool:
		return v
	}
	s, err := types.Format(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return s
}

// buried is p marked with why and where its delivery ended undelivered.
func buried(p amqp.Publishing, trigger, reason string,
	attempts int) amqp.Publishing {
	h := make(amqp.Table, len(p.Headers)+3)
	for k, v := range p.Headers {
		h[k] = v
	}
	h[hdrBuriedTrigger] = trigger
	h[hdrBuriedReason] = reason
	h[hdrBuriedAttempts] = int32(attempts)
	p.Headers = h
	p.DeliveryMode = amqp.Persistent
	return p
}

// eventOf decodes a message written by publishing, or by eventing-rabbitmq,
// into a valid CloudEvent.
func eventOf(headers amqp.Table, contentType string, body []byte) (
	*event.Event, error) {
	sv, _ := headerString(headers, hdrSpecVersion)
	switch sv {
	case event.CloudEventsVersionV1, event.CloudEventsVersionV03:
	case "":
		return nil, fmt.Errorf("%w: no specversion header", errNotEvent)
	default:
		return nil, fmt.Errorf("%w: specversion %q is neither 1.0 nor 0.3",
			errNotEvent, sv)
	}
	e := event.New(sv)
	for k, v := range headers {
		name := strings.TrimPrefix(strings.ToLower(k), "ce-")
		if err := setHeader(&e, name, v); err != nil {
			return nil, fmt.Errorf("%w: header %s: %v", errNotEvent, k, err)
		}
	}
	if contentType != "" {
		e.SetDataContentType(contentType)
	}
	if len(body) > 0 {
		e.DataEncoded = body
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotEvent, err)
	}
	return &e, nil
}

// setHeader sets the attribute or extension that header name carries.
// Headers that cannot be attributes (x-..., names CloudEvents forbids) are
// left out.
func setHeader(e *event.Event, name string, v any) error {
	switch name {
	case hdrSpecVersion:
		return nil
	case hdrID, hdrSource, hdrType, hdrSubject, hdrDataSchema,
		hdrSchemaURL, hdrContentType, hdrDataContentType,
		hdrContentEncoding:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%T is not a string", v)
		}
		setStringAttribute(e, name, s)
		return nil
	case hdrTime:
		t, err := headerTime(v)
		if err != nil {
			return err
		}
		e.SetTime(t)
		return nil
	}
	if strings.HasPrefix(name, "x-") || !event.IsExtensionNameValid(name) {
		return nil
	}
	e.SetExtension(name, extensionValue(v))
	return nil
}

func setStringAttribute(e *event.Event, name, s string) {
	switch name {
	case hdrID:
		e.SetID(s)
	case hdrSource:
		e.SetSource(s)
	case hdrType:
		e.SetType(s)
	case hdrSubject:
		e.SetSubject(s)
	case hdrDataSchema, hdrSchemaURL:
		e.SetDataSchema(s)
	case hdrContentType, hdrDataContentType:
		e.SetDataContentType(s)
	case hdrContentEncoding:
		if e.SpecVersion() == event.CloudEventsVersionV03 {
			e.SetDataContentEncoding(s)
		}
	}
}

func headerTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v, nil
	case string:
		return types.ParseTime(v)
	}
	return time.Time{}, fmt.Errorf("%T is not a time", v)
}

// extensionValue turns an AMQP field into a CloudEvents value: integers
// that fit int32 and booleans keep their type, bytes stay bytes, the rest
// becomes a string.
func extensionValue(v any) any {
	switch v := v.(type) {
	case string, bool, []byte:
		return v
	case int8, int16, int32, int64, int, uint8, uint16, uint32:
		if n, err := types.Validate(v); err == nil {
			return n
		}
	case time.Time:
		return types.FormatTime(v)
	}
	return fmt.Sprint(v)
}

func headerString(h amqp.Table, name string) (string, bool) {
	s, ok := h[name].(string)
	return s, ok
}
