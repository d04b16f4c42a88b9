package ingress_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ferryfn/ferry/ingress"
)

func TestUndeliverableAttributesAreRefused(t *testing.T) {
	structured := func(id, source string) string {
		b, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id,
			"source": source, "type": "t"})
		return string(b)
	}
	ce := map[string]string{"Content-Type": "application/cloudevents+json"}
	for _, tc := range []struct {
		name, body, detail string
	}{
		{"id over the limit", structured(strings.Repeat("i", ingress.AttributeBytesMax+1), "/s"),
			"invalid attribute id: 4097 bytes"},
		{"source over the limit", structured("1", "/"+strings.Repeat("s", 40000)),
			"invalid attribute source: 40001 bytes"},
		{"newline in id", structured("a\nb", "/s"), `invalid attribute id: control character '\n'`},
		{"extension over the limit", `{"specversion":"1.0","id":"1","source":"/s","type":"t","bigext":"` +
			strings.Repeat("x", 200000) + `"}`, "invalid attribute bigext: 200000 bytes"},
		{"extensions over the total", func() string {
			m := map[string]any{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}
			for i := 0; i < 20; i++ {
				m[fmt.Sprintf("ext%d", i)] = strings.Repeat("y", 4000)
			}
			b, _ := json.Marshal(m)
			return string(b)
		}(), "more than the 65536 allowed"},
		{"NUL in subject", `{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"a\u0000b"}`, `invalid attribute subject: control character '\x00'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			resp, body := h.post(t, "/v1/events", ce, tc.body)
			wantProblem(t, resp, body, http.StatusBadRequest, ingress.ProblemInvalidEvent, tc.detail)
			if got, _ := h.pub.counts(); got != 0 {
				t.Errorf("publisher got %d events, want none", got)
			}
		})
	}
}

func TestCompressedBodyIsRefused(t *testing.T) {
	h := newHarness(t)
	hdr := binaryHeaders("1.0")
	hdr["Content-Encoding"] = "gzip"
	resp, body := h.post(t, "/v1/events", hdr, "\x1f\x8b\x08")
	wantProblem(t, resp, body, http.StatusUnsupportedMediaType,
		ingress.ProblemUnsupportedMediaType, `Content-Encoding "gzip"`)

	resp, body = h.post(t, "/v1/tasks/dev.ferry.x", map[string]string{
		"Content-Type": "text/plain", "Content-Encoding": "gzip"}, "\x1f\x8b\x08")
	wantProblem(t, resp, body, http.StatusUnsupportedMediaType,
		ingress.ProblemUnsupportedMediaType, "uncompressed")
}
