package tasks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Both stores rewrite a task's whole JSON on every report, and record the
// attributes of every event they are told about, so both are built by hand
// here instead of with encoding/json, which validates and compacts again
// what each json.Marshaler writes (Event.Data, every time.Time), sorts map
// keys by reflection, and would read the attributes back from sdk-go's
// JSON of the event. For a task with one accepted event of 1 KiB of JSON
// data this takes encodeTask from about 20 µs to about 4 µs, and newEvent
// from about 33 µs to about 12 µs, two thirds of which is json.Compact's
// pass over the data (BenchmarkEncodeTask, BenchmarkNewEvent, 2 cores).

// The size hints are what appendTask reserves for the task, each delivery
// and each event beside its data, so that one allocation usually holds
// the JSON.
const (
	taskSizeHint     = 512
	deliverySizeHint = 192
	eventSizeHint    = 512
)

// appendTask appends t's JSON as the stores keep it (a stored: the Task
// and its failure) to dst. json.Unmarshal reads it into the same stored as
// it reads json.Marshal(stored{...}): the same fields, omitted when empty
// as their tags say, times in RFC 3339 with nanoseconds. Three things
// differ in the bytes only: <, > and & are not escaped, Event.Data is
// written as it is, which is right because newEvent and decodeTask only
// ever set it to valid JSON, and the deliveries and events come last.
//
// It fails, as json.Marshal does, on a time whose year is outside 0-9999
// or whose zone offset is 24 hours or more, and on an attribute that
// encoding/json cannot encode (NaN, a channel).
func appendTask(dst []byte, t *Task) ([]byte, error) {
	hint := taskSizeHint + len(t.Deliveries)*deliverySizeHint
	for i := range t.Events {
		hint += eventSizeHint + len(t.Events[i].Data)
	}
	w := jsonWriter{buf: append(slices.Grow(dst, hint), '{')}
	w.string("id", t.ID)
	w.string("type", t.Type)
	w.string("source", t.Source)
	w.string("eventId", t.EventID)
	w.string("state", string(t.State))
	w.int("attempts", t.Attempts)
	w.stringOmitEmpty("reason", t.Reason)
	w.intOmitEmpty("code", t.Code)
	w.time("createdAt", t.CreatedAt)
	w.time("updatedAt", t.UpdatedAt)
	w.timeOmitNil("finishedAt", t.FinishedAt)
	w.stringOmitEmpty("resultEventId", t.ResultEventID)
	w.stringOmitEmpty("failure", t.failure)
	// The deliveries, then the events, last: outcomeScript splits the
	// JSON there, so that Redis rewrites what comes before (no event data)
	// and appends to the events without parsing them.
	w.key("deliveries")
	w.deliveries(t.Deliveries)
	w.key("events")
	w.events(t.Events)
	w.close('}')

	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// jsonWriter appends JSON to buf. The first error sticks: what is written
// after it does not matter, appendTask returns the error.
type jsonWriter struct {
	buf []byte
	err error
}

func (w *jsonWriter) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// separate writes the comma before a key or a value in an array, unless
// it is the first in its object or array, or the value follows its key.
func (w *jsonWriter) separate() {
	switch w.buf[len(w.buf)-1] {
	case '{', '[', ':':
	default:
		w.buf = append(w.buf, ',')
	}
}

func (w *jsonWriter) open(bracket byte) {
	w.separate()
	w.buf = append(w.buf, bracket)
}

func (w *jsonWriter) close(bracket byte) { w.buf = append(w.buf, bracket) }

// key writes the key of a Task field: plain ASCII, which needs no escape.
func (w *jsonWriter) key(name string) {
	w.separate()
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

// anyKey writes a key that may need escapes, an attribute's name.
func (w *jsonWriter) anyKey(name string) {
	w.separate()
	w.buf = appendString(w.buf, name)
	w.buf = append(w.buf, ':')
}

func (w *jsonWriter) string(name, s string) {
	w.key(name)
	w.buf = appendString(w.buf, s)
}

func (w *jsonWriter) stringOmitEmpty(name, s string) {
	if s != "" {
		w.string(name, s)
	}
}

func (w *jsonWriter) int(name string, n int) {
	w.key(name)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
}

func (w *jsonWriter) intOmitEmpty(name string, n int) {
	if n != 0 {
		w.int(name, n)
	}
}

// time writes t as time.Time.MarshalJSON does, with the same check that t
// fits RFC 3339.
func (w *jsonWriter) time(name string, t time.Time) {
	w.key(name)
	w.buf = append(w.buf, '"')
	text, err := t.AppendText(w.buf)
	if err != nil {
		w.fail(fmt.Errorf("%s: %w", name, err))
		return
	}
	w.buf = append(text, '"')
}

func (w *jsonWriter) timeOmitNil(name string, t *time.Time) {
	if t != nil {
		w.time(name, *t)
	}
}

func (w *jsonWriter) deliveries(ds []Delivery) {
	if ds == nil {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.open('[')
	for i := range ds {
		d := &ds[i]
		w.open('{')
		w.string("eventId", d.EventID)
		w.string("trigger", d.Trigger)
		w.stringOmitEmpty("subscriber", d.Subscriber)
		w.string("state", d.State)
		w.int("attempts", d.Attempts)
		w.intOmitEmpty("code", d.Code)
		w.stringOmitEmpty("reason", d.Reason)
		w.timeOmitNil("nextAttempt", d.NextAttempt)
		w.time("updatedAt", d.UpdatedAt)
		w.close('}')
	}
	w.close(']')
}

func (w *jsonWriter) events(es []Event) {
	if es == nil {
		w.buf = append(w.buf, "null"...)
		return
	}
	w.open('[')
	for i := range es {
		w.event(&es[i])
	}
	w.close(']')
}

func (w *jsonWriter) event(e *Event) {
	w.open('{')
	w.string("kind", e.Kind)
	w.key("attributes")
	w.attributes(e.Attributes)
	if len(e.Data) > 0 {
		w.key("data")
		w.buf = append(w.buf, e.Data...)
	}
	w.int("dataSize", e.DataSize)
	w.time("recordedAt", e.RecordedAt)
	w.close('}')
}

// encodeEvent is e's JSON as appendTask writes it among a task's events.
func encodeEvent(e *Event) ([]byte, error) {
	// The bracket keeps event from writing a comma before it.
	w := jsonWriter{buf: append(make([]byte, 0, 1+eventSizeHint+
		len(e.Data)), '[')}
	w.event(e)
	if w.err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.Attributes["id"],
			w.err)
	}
	return w.buf[1:], nil
}

// attributesSorted is how many attribute names attributes sorts without
// an allocation: the eight context attributes and a few extensions.
const attributesSorted = 16

// attributes writes attrs with its keys sorted, as encoding/json writes a
// map. Strings, booleans, numbers and nulls, which is all newEvent puts
// there, are written here; any other value by json.Marshal.
func (w *jsonWriter) attributes(attrs map[string]any) {
	if attrs == nil {
		w.buf = append(w.buf, "null"...)
		return
	}
	var room [attributesSorted]string
	names := room[:0]
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names)

	w.open('{')
	for _, name := range names {
		w.anyKey(name)
		w.value(name, attrs[name])
	}
	w.close('}')
}

func (w *jsonWriter) value(name string, v any) {
	switch v := v.(type) {
	case string:
		w.buf = appendString(w.buf, v)
	case bool:
		w.buf = strconv.AppendBool(w.buf, v)
	case float64:
		w.number(name, v)
	case nil:
		w.buf = append(w.buf, "null"...)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			w.fail(fmt.Errorf("attribute %q: %w", name, err))
			return
		}
		w.buf = append(w.buf, raw...)
	}
}

// number writes f in the shortest form that reads back as f: plain
// digits from 1e-6 up to 1e21, an exponent outside. JSON has no NaN or
// infinity; json.Marshal fails on them too.
func (w *jsonWriter) number(name string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.fail(fmt.Errorf("attribute %q: %v is not a JSON number", name, f))
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.buf = strconv.AppendFloat(w.buf, f, format, -1, 64)
}

// appendString appends s to dst as a JSON string. It escapes the quote,
// the backslash and the control characters below U+0020 (\n, \r, \t, \b,
// \f by name, the others as \u00XX), and writes each byte that is not part
// of valid UTF-8 as \ufffd, as encoding/json does, so that the JSON is
// valid UTF-8 whatever s holds. It leaves <, > and & as they are: the
// stores' JSON is never embedded in HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is in dst already
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		dst = append(dst, s[done:i]...)
		dst = appendEscape(dst, c)
		i++
		done = i
	}
	dst = append(dst, s[done:]...)
	return append(dst, '"')
}

// appendEscape appends the escape of c, a byte that cannot stand for
// itself in a JSON string.
func appendEscape(dst []byte, c byte) []byte {
	const hex = "0123456789abcdef"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, `\n`...)
	case '\r':
		return append(dst, `\r`...)
	case '\t':
		return append(dst, `\t`...)
	case '\b':
		return append(dst, `\b`...)
	case '\f':
		return append(dst, `\f`...)
	}
	if c >= utf8.RuneSelf { // not UTF-8
		return append(dst, `\ufffd`...)
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// errNoContext is returned by eventAttributes for an event without a
// context of spec 1.0 or 0.3.
var errNoContext = errors.New("event has no context of spec 1.0 or 0.3")

// eventAttributes returns e's context attributes and extensions as
// json.Unmarshal reads them into a map from e's JSON without its data,
// which is how Event.Attributes shows them: strings with each byte that
// is not UTF-8 replaced by U+FFFD, integers as float64, times and URIs as
// the strings sdk-go's writer (event.WriteJson) writes. An extension named
// like a context attribute replaces it, as the later key does in the JSON.
// datacontenttype, when e has one, is e's own string.
//
// It fails on the extensions sdk-go cannot write: a time outside RFC 3339
// (the years 0-9999, zone offsets under 24 hours), a URI whose Go quoting
// (%q, which types.URI.MarshalJSON uses) is not JSON, a nil pointer or a
// value that is no CloudEvents type, which SetExtension never stores.
func eventAttributes(e *event.Event) (map[string]any, error) {
	var attrs, ext map[string]any
	switch ec := e.Context.(type) {
	case *event.EventContextV1:
		attrs = make(map[string]any, 8+len(ec.Extensions))
		contextV1(attrs, ec)
		ext = ec.Extensions
	case *event.EventContextV03:
		attrs = make(map[string]any, 9+len(ec.Extensions))
		contextV03(attrs, ec)
		ext = ec.Extensions
	default:
		return nil, errNoContext
	}

	if err := addExtensions(attrs, ext); err != nil {
		return nil, err
	}
	if ct := e.DataContentType(); ct != "" {
		attrs["datacontenttype"] = ct
	}
	return attrs, nil
}

// contextV1 adds the context attributes of a 1.0 event but
// datacontenttype, each under the condition WriteJson writes it.
func contextV1(attrs map[string]any, ec *event.EventContextV1) {
	attrs["specversion"] = event.CloudEventsVersionV1
	attrs["id"] = jsonText(ec.ID)
	attrs["source"] = jsonText(ec.Source.String())
	attrs["type"] = jsonText(ec.Type)
	if ec.Subject != nil {
		attrs["subject"] = jsonText(*ec.Subject)
	}
	if ec.DataSchema != nil {
		attrs["dataschema"] = jsonText(ec.DataSchema.String())
	}
	if ec.Time != nil {
		attrs["time"] = ec.Time.String()
	}
}

// contextV03 adds the context attributes of a 0.3 event but
// datacontenttype, each under the condition WriteJson writes it.
func contextV03(attrs map[string]any, ec *event.EventContextV03) {
	attrs["specversion"] = event.CloudEventsVersionV03
	attrs["id"] = jsonText(ec.ID)
	attrs["source"] = jsonText(ec.Source.String())
	attrs["type"] = jsonText(ec.Type)
	if ec.Subject != nil {
		attrs["subject"] = jsonText(*ec.Subject)
	}
	if ec.DataContentEncoding != nil {
		attrs["datacontentencoding"] = jsonText(*ec.DataContentEncoding)
	}
	if ec.SchemaURL != nil {
		attrs["schemaurl"] = jsonText(ec.SchemaURL.String())
	}
	if ec.Time != nil {
		attrs["time"] = ec.Time.String()
	}
}

// addExtensions adds ext to attrs in the order of their names, as
// WriteJson writes them: 0.3 allows names that are not UTF-8, and two of
// them can read back as one name, the later one's.
func addExtensions(attrs, ext map[string]any) error {
	var room [attributesSorted]string
	names := room[:0]
	for name := range ext {
		names = append(names, name)
	}
	slices.Sort(names)

	for _, name := range names {
		v, err := extensionValue(ext[name])
		if err != nil {
			return fmt.Errorf("extension %q: %w", name, err)
		}
		attrs[jsonText(name)] = v
	}
	return nil
}

// extensionValue is v, an extension's value, as json.Unmarshal reads it
// from WriteJson's output. WriteJson encodes each type its own way:
// integers as numbers, binary as base64, a types.Timestamp as
// time.Time.MarshalText does (in its own zone) but a *types.Timestamp in
// UTC and "" for the zero time, a URI in Go quoting. The raw url.URL and
// time.Time types are what Event.Clone, which the old encoding went
// through, turns them into.
func extensionValue(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return jsonText(v), nil
	case bool:
		return v, nil
	case int32:
		return float64(v), nil
	case []byte:
		if v == nil {
			return nil, nil
		}
		return base64.StdEncoding.EncodeToString(v), nil
	case time.Time:
		return timeText(v)
	case types.Timestamp:
		return timeText(v.Time)
	case *time.Time:
		if v == nil {
			return nil, errNilExtension
		}
		return timestampString(types.Timestamp{Time: *v}), nil
	case *types.Timestamp:
		if v == nil {
			return nil, errNilExtension
		}
		return timestampString(*v), nil
	case url.URL:
		return quotedURI(v.String())
	case types.URI:
		return quotedURI(v.String())
	case types.URIRef:
		return quotedURI(v.String())
	case *url.URL:
		if v == nil {
			return nil, errNilExtension
		}
		return quotedURI(v.String())
	case *types.URI:
		if v == nil {
			return nil, errNilExtension
		}
		return quotedURI(v.String())
	case *types.URIRef:
		if v == nil {
			return nil, errNilExtension
		}
		return quotedURI(v.String())
	}
	return nil, fmt.Errorf("%T is no CloudEvents type", v)
}

// errNilExtension is the error for an extension that is a nil pointer,
// which sdk-go's writer cannot write.
var errNilExtension = errors.New("nil pointer")

func timeText(t time.Time) (any, error) {
	text, err := t.MarshalText()
	if err != nil {
		return nil, err
	}
	return string(text), nil
}

// timestampString is what (*types.Timestamp).MarshalJSON writes, unquoted.
func timestampString(t types.Timestamp) string {
	if t.IsZero() {
		return ""
	}
	return t.String()
}

// quotedURI is s as json.Unmarshal reads it from types.URI.MarshalJSON's
// Go quoting. Printable ASCII, as a URI nearly always is, reads back as it
// is; anything else is quoted and read back, which fails where Go's
// quoting is not JSON (\x for bytes that are not UTF-8, \U, \a, \v).
func quotedURI(s string) (any, error) {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		plain = s[i] >= ' ' && s[i] <= '~'
	}
	if plain {
		return s, nil
	}
	var read string
	if err := json.Unmarshal([]byte(strconv.Quote(s)), &read); err != nil {
		return nil, fmt.Errorf("URI %q is not written as JSON: %w", s, err)
	}
	return read, nil
}

// jsonText is s as it reads back from a JSON string written with its
// bytes as they are: each byte that is not part of valid UTF-8 becomes
// U+FFFD.
func jsonText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s)) // which has U+FFFD for each invalid byte
}

// compactJSON is data compacted, in one pass that also validates it; ok
// is false, and compact nil, when data is not JSON.
func compactJSON(data []byte) (compact json.RawMessage, ok bool) {
	buf := bytes.NewBuffer(make([]byte, 0, len(data)))
	if json.Compact(buf, data) != nil {
		return nil, false
	}
	return buf.Bytes(), true
}
