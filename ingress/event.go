package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ferryfn/ferry/eventing"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/gin-gonic/gin"
)

// supportedSpecVersions names the specversions the ingress reads, for
// problem details.
const supportedSpecVersions = event.CloudEventsVersionV1 + ", " +
	event.CloudEventsVersionV03

// specVersionHeader is the binary-mode header of the specversion attribute.
const specVersionHeader = "Ce-Specversion"

// readEvent reads the one CloudEvent of a request, in binary or structured
// mode, and validates it. The mode is decided from the headers alone, so
// that a request in no mode is refused before its body is read.
func (s *Server) readEvent(c *gin.Context) (*event.Event, *Problem) {
	h := c.Request.Header
	structured, p := eventMode(h)
	if p != nil {
		return nil, p
	}

	body, p := s.readBody(c)
	if p != nil {
		return nil, p
	}

	var e *event.Event
	if structured {
		e, p = decodeStructured(c.Request.Context(), h, body)
	} else {
		e, p = decodeBinary(c.Request.Context(), h, body)
	}
	if p != nil {
		return nil, p
	}

	if p := validate(e); p != nil {
		return nil, p
	}
	if p := checkDeliverable(e); p != nil {
		return nil, p
	}
	protectData(e)
	return e, nil
}

// AttributeBytesMax bounds each attribute's value; see eventing.
const AttributeBytesMax = eventing.AttributeBytesMax

// checkDeliverable refuses what CloudEvents' own validation lets through
// but no delivery could carry (eventing.CheckAttributes): oversized
// attributes or extensions, control characters in id, source, type or
// subject.
func checkDeliverable(e *event.Event) *Problem {
	if err := eventing.CheckAttributes(e); err != nil {
		detail := strings.TrimPrefix(err.Error(), eventing.ErrAttributes.Error()+": ")
		return newProblem(ProblemInvalidEvent, "invalid "+detail)
	}
	return nil
}

// eventMode tells from the headers whether a request holds a structured
// (true) or binary (false) mode event, or why it holds neither.
func eventMode(h http.Header) (structured bool, p *Problem) {
	switch media := mediaType(h.Get("Content-Type")); {
	case media == event.ApplicationCloudEventsBatchJSON:
		return false, newProblem(ProblemUnsupportedMediaType,
			"batch mode ("+event.ApplicationCloudEventsBatchJSON+
				") is not supported: post events one at a time")
	case media == event.ApplicationCloudEventsJSON:
		return true, nil
	case format.IsFormat(media):
		return false, newProblem(ProblemUnsupportedMediaType, fmt.Sprintf(
			"structured mode supports only %s, not %q",
			event.ApplicationCloudEventsJSON, media))
	}

	sv, ok := h[specVersionHeader]
	switch {
	case ok && isSupportedSpecVersion(sv[0]):
		return false, nil
	case ok:
		return false, unsupportedSpecVersion(sv[0], "ce-specversion header")
	case hasCEHeader(h):
		return false, newProblem(ProblemInvalidEvent,
			"missing required attribute: specversion "+
				"(binary mode needs a ce-specversion header)")
	default:
		return false, newProblem(ProblemInvalidEvent,
			"request is not a CloudEvent: found neither binary mode "+
				"(a ce-specversion header) nor structured mode "+
				"(Content-Type "+event.ApplicationCloudEventsJSON+"); "+
				"post plain bodies to POST /v1/tasks/{type}")
	}
}

// mediaType returns the media type of a Content-Type, lower case, without
// parameters.
func mediaType(contentType string) string {
	media, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(media))
}

// hasCEHeader reports whether h has any binary-mode attribute header.
func hasCEHeader(h http.Header) bool {
	for k := range h {
		if len(k) > 3 && strings.EqualFold(k[:3], "ce-") {
			return true
		}
	}
	return false
}

func isSupportedSpecVersion(v string) bool {
	return v == event.CloudEventsVersionV1 || v == event.CloudEventsVersionV03
}

// unsupportedSpecVersion is the problem of specversion v, found where.
func unsupportedSpecVersion(v, where string) *Problem {
	return newProblem(ProblemUnsupportedSpecVersion, fmt.Sprintf(
		"unsupported specversion %q in the %s; supported: %s",
		v, where, supportedSpecVersions))
}

// decodeBinary reads a binary-mode event with sdk-go.
func decodeBinary(ctx context.Context, h http.Header, body []byte) (
	*event.Event, *Problem) {
	if _, ok := h["Ce-"]; ok {
		// sdk-go v2.16.2 panics on this header instead of refusing it.
		return nil, newProblem(ProblemInvalidEvent,
			"header Ce- names no attribute")
	}
	var r io.ReadCloser
	if len(body) > 0 {
		r = io.NopCloser(bytes.NewReader(body))
	}
	e, err := binding.ToEvent(ctx, cehttp.NewMessage(h, r))
	if err != nil {
		return nil, newProblem(ProblemInvalidEvent,
			"invalid binary-mode event: "+err.Error())
	}
	return e, nil
}

// decodeStructured reads a structured-mode JSON event with sdk-go. When
// sdk-go refuses it, diagnoseStructured says why in plainer words.
func decodeStructured(ctx context.Context, h http.Header, body []byte) (
	*event.Event, *Problem) {
	if !json.Valid(body) {
		return nil, malformedJSON(body)
	}
	m := cehttp.NewMessage(h, io.NopCloser(bytes.NewReader(body)))
	e, err := binding.ToEvent(ctx, m)
	if err != nil {
		return nil, diagnoseStructured(body, err)
	}
	if p := checkIntegerExtensions(e, body); p != nil {
		return nil, p
	}
	return e, nil
}

// checkIntegerExtensions refuses an extension whose JSON value is a number
// with a fraction or an exponent: CloudEvents has only 32-bit integers,
// and sdk-go would cut 1.5 down to 1 without a word. Only events with a
// number among their extensions are parsed again.
func checkIntegerExtensions(e *event.Event, body []byte) *Problem {
	var numbers []string
	for name, v := range e.Extensions() {
		if _, ok := v.(int32); ok {
			numbers = append(numbers, name)
		}
	}
	if len(numbers) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return newProblem(ProblemInvalidEvent,
			"a structured-mode event must be a JSON object")
	}
	sort.Strings(numbers)
	for _, name := range numbers {
		raw := bytes.TrimSpace(fields[name])
		if bytes.ContainsAny(raw, ".eE") {
			return newProblem(ProblemInvalidEvent, fmt.Sprintf(
				"extension %s: %s is not an integer; CloudEvents numbers are "+
					"32-bit integers", name, clip(raw)))
		}
	}
	return nil
}

// malformedJSON names the JSON error of a body that is not JSON.
func malformedJSON(body []byte) *Problem {
	var v any
	err := json.Unmarshal(body, &v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return newProblem(ProblemInvalidEvent, fmt.Sprintf(
			"malformed JSON in structured-mode event at byte %d: %v",
			syntax.Offset, err))
	}
	return newProblem(ProblemInvalidEvent,
		fmt.Sprintf("malformed JSON in structured-mode event: %v", err))
}

// diagnoseStructured explains why sdk-go refused a structured event whose
// body is valid JSON.
func diagnoseStructured(body []byte, sdkErr error) *Problem {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return newProblem(ProblemInvalidEvent,
			"a structured-mode event must be a JSON object")
	}

	raw, ok := fields["specversion"]
	var sv string
	if ok && json.Unmarshal(raw, &sv) != nil {
		return newProblem(ProblemInvalidEvent, fmt.Sprintf(
			"attribute specversion must be a string, not %s", clip(raw)))
	}
	switch {
	case sv == "":
		return newProblem(ProblemInvalidEvent,
			"missing required attribute: specversion")
	case !isSupportedSpecVersion(sv):
		return unsupportedSpecVersion(sv, "specversion attribute")
	}

	detail := strings.TrimSpace(sdkErr.Error())
	return newProblem(ProblemInvalidEvent,
		"invalid structured-mode event: "+detail)
}

// clip shortens a JSON value for a problem detail.
func clip(raw []byte) string {
	const max = 40
	if len(raw) <= max {
		return string(raw)
	}
	return string(raw[:max]) + "..."
}

// requiredAttributes are the attributes whose only validation error is
// being absent or empty.
var requiredAttributes = []string{"id", "source", "specversion", "type"}

// validate checks e against its specversion and names each missing or
// invalid attribute.
func validate(e *event.Event) *Problem {
	err := e.Validate()
	if err == nil {
		return nil
	}
	var ve event.ValidationError
	if !errors.As(err, &ve) {
		return newProblem(ProblemInvalidEvent, err.Error())
	}

	var missing, invalid []string
	for _, name := range slices.Sorted(maps.Keys(ve)) {
		if slices.Contains(requiredAttributes, name) {
			missing = append(missing, name)
			continue
		}
		invalid = append(invalid,
			fmt.Sprintf("invalid attribute %s: %v", name, ve[name]))
	}

	var parts []string
	switch len(missing) {
	case 0:
	case 1:
		parts = append(parts, "missing required attribute: "+missing[0])
	default:
		parts = append(parts,
			"missing required attributes: "+strings.Join(missing, ", "))
	}
	parts = append(parts, invalid...)
	return newProblem(ProblemInvalidEvent, strings.Join(parts, "; "))
}

// protectData marks a 1.0 event's data for base64 in the JSON event format
// when it would not survive that format as is: bytes that are not UTF-8,
// or a JSON media type on data that is not JSON. Binary mode leaves the
// flag unset whatever the data, and the Broker may store events as JSON.
// The attributes and the data bytes do not change.
func protectData(e *event.Event) {
	if e.SpecVersion() != event.CloudEventsVersionV1 || e.DataBase64 ||
		len(e.DataEncoded) == 0 {
		return
	}
	if isJSONMedia(mediaType(e.DataContentType())) {
		e.DataBase64 = !json.Valid(e.DataEncoded)
		return
	}
	e.DataBase64 = !utf8.Valid(e.DataEncoded)
}

// isJSONMedia reports whether sdk-go's JSON event format writes data of
// this media type as a JSON value rather than a string; no media type
// means JSON.
func isJSONMedia(media string) bool {
	switch media {
	case "", event.ApplicationJSON, event.TextJSON,
		event.ApplicationCloudEventsJSON,
		event.ApplicationCloudEventsBatchJSON:
		return true
	}
	return false
}
