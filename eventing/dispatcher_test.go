package eventing

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
)

// answer sends e to a server that runs h and returns the Result.
func answer(t *testing.T, h http.HandlerFunc) Result {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	u, _ := url.Parse(srv.URL + "/fn")
	e := newEvent("/shop/orders", "order-17", "order.created")
	_ = e.SetData("application/json", map[string]int{"total": 42})
	return send(context.Background(), Subscriber{URL: u}, "shop", e)
}

func TestSendReadsStructuredReply(t *testing.T) {
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/cloudevents+json")
		_, _ = io.WriteString(w, `{"specversion":"1.0","id":"r1",
			"source":"/fn/invoice","type":"invoice.created",
			"datacontenttype":"application/json","data":{"number":7}}`)
	})
	if res.Err != nil || res.Code != 200 || res.Reply == nil {
		t.Fatalf("result = %+v", res)
	}
	if res.Reply.ID() != "r1" || res.Reply.Type() != "invoice.created" ||
		string(res.Reply.Data()) != `{"number":7}` {
		t.Errorf("reply = %s", res.Reply)
	}
}

func TestSendReadsBinaryReply(t *testing.T) {
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Ce-Specversion", "1.0")
		h.Set("Ce-Id", "r1")
		h.Set("Ce-Source", "/fn/invoice")
		h.Set("Ce-Type", "invoice.created")
		h.Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "invoice 7")
	})
	if res.Err != nil || res.Code != 202 || res.Reply == nil ||
		string(res.Reply.Data()) != "invoice 7" {
		t.Fatalf("result = %+v", res)
	}
}

func TestSendBinaryReplyWithoutData(t *testing.T) {
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Ce-Specversion", "1.0")
		h.Set("Ce-Id", "r1")
		h.Set("Ce-Source", "/fn/invoice")
		h.Set("Ce-Type", "invoice.none")
		w.WriteHeader(http.StatusOK)
	})
	if res.Err != nil || res.Reply == nil || res.Reply.Type() != "invoice.none" ||
		len(res.Reply.Data()) != 0 {
		t.Fatalf("result = %+v", res)
	}
}

func TestSendAnswersThatAreNotEvents(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"plain JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}},
		{"binary reply without type", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Ce-Specversion", "1.0")
			w.Header().Set("Ce-Id", "r1")
			w.Header().Set("Ce-Source", "/fn")
			w.WriteHeader(http.StatusOK)
		}},
		{"structured reply that is not JSON", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/cloudevents+json")
			_, _ = io.WriteString(w, "{oops")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := answer(t, tt.h)
			if res.Code != http.StatusBadGateway || !errors.Is(res.Err, errReplyNotEvent) {
				t.Errorf("code %d err %v, want 502 and errReplyNotEvent",
					res.Code, res.Err)
			}
			if res.Reply != nil {
				t.Errorf("reply = %s, want none", res.Reply)
			}
			if !Retryable(res.Code) {
				t.Error("a non-event answer is not retried")
			}
		})
	}
}

func TestSendFailedAnswerKeepsBodyAndRetryAfter(t *testing.T) {
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "slow down\n")
	})
	if res.Code != 429 || res.RetryAfter != "7" || string(res.Body) != "slow down\n" {
		t.Errorf("result = %+v", res)
	}
	if res.Err == nil || res.Err.Error() !=
		"subscriber answered 429 Too Many Requests: slow down" {
		t.Errorf("err = %v", res.Err)
	}
}

func TestSendCutsLongErrorReason(t *testing.T) {
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, strings.Repeat("x", 1000))
	})
	want := "subscriber answered 500 Internal Server Error: " +
		strings.Repeat("x", 200) + "..."
	if res.Err == nil || res.Err.Error() != want {
		t.Errorf("err = %v", res.Err)
	}
	if len(res.Body) != 1000 {
		t.Errorf("body has %d bytes, want 1000", len(res.Body))
	}
}

func TestSendRefusesOversizedReply(t *testing.T) {
	t.Parallel()
	res := answer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/cloudevents+json")
		chunk := strings.Repeat("a", 1<<20)
		for written := 0; written <= ReplyBytesMax; written += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	if res.Code != http.StatusBadGateway || res.Err == nil ||
		!strings.Contains(res.Err.Error(), "larger than") {
		t.Errorf("code %d err %v, want 502 larger than", res.Code, res.Err)
	}
}

func TestSendWithoutAnswerHasCodeZero(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(srv.URL)
	srv.Close() // nothing listens there any more
	res := send(context.Background(), Subscriber{URL: u}, "shop",
		newEvent("/s", "1", "t"))
	if res.Code != 0 || res.Err == nil || !Retryable(res.Code) {
		t.Errorf("result = %+v, want code 0, an error, retryable", res)
	}
}

func TestMalformedReplyIsAFailedDeliveryNotACrash(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
	}{
		{"data_base64 a number", http.Header{"Content-Type": {"application/cloudevents+json"}},
			`{"specversion":"1.0","id":"r1","source":"/s","type":"t","data_base64":5}`},
		{"bare Ce- header", http.Header{"Ce-": {"x"}, "Ce-Id": {"r1"}, "Ce-Source": {"/s"},
			"Ce-Type": {"t"}, "Ce-Specversion": {"1.0"}}, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusOK, Header: tc.header,
				Body: io.NopCloser(strings.NewReader(tc.body))}
			r := readAnswer(resp)
			if r.Err == nil || r.Code != http.StatusBadGateway || r.Reply != nil {
				t.Errorf("got code %d err %v reply %v, want a 502 failure", r.Code, r.Err, r.Reply)
			}
		})
	}
}

func TestAnswerCutShortIsRetryable(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{},
		Body: io.NopCloser(io.MultiReader(strings.NewReader("partial"),
			iotest.ErrReader(io.ErrUnexpectedEOF)))}
	r := readAnswer(resp)
	if r.Err == nil || r.Code != 0 || !Retryable(r.Code) {
		t.Errorf("got code %d err %v, want a retryable network failure", r.Code, r.Err)
	}
}

// The dispatcher writes an event's headers and body itself: exactly as the
// SDK's binary-mode encoder does, for every kind of attribute and
// extension value, blank attributes and empty extensions included.
func TestWriteBinaryMatchesSDK(t *testing.T) {
	full := newEvent("/shop/orders", "order-17", "order.created")
	full.SetSubject("orders/17")
	full.SetTime(time.Date(2026, 7, 1, 12, 30, 0, 123456789, time.FixedZone("x", 3600)))
	full.SetDataSchema("https://example.com/order.json")
	_ = full.SetData("application/json", map[string]int{"total": 42})
	for name, v := range map[string]any{
		"tenant": "acme", "empty": "", "ttl": int32(255), "urgent": true,
		"blob": []byte{0, 1, 254}, "ref": types.URIRef{URL: url.URL{Path: "/a"}},
		"at":  types.Timestamp{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		"1st": "digit",
	} {
		full.SetExtension(name, v)
	}
	bare := newEvent("/s", "1", "t")
	binary := newEvent("/s", "2", "t")
	_ = binary.SetData("image/png", []byte{0x89, 'P', 'N', 'G', 0})
	old := event.New(event.CloudEventsVersionV03)
	old.SetID("3")
	old.SetSource("/s")
	old.SetType("t")
	old.SetDataContentEncoding(event.Base64)
	_ = old.SetData("text/plain", []byte("hi"))

	for name, e := range map[string]*event.Event{"full": full, "bare": bare,
		"binary data": binary, "CloudEvents 0.3": &old} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			want, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
			if err := cehttp.WriteRequest(ctx, binding.ToMessage(e), want); err != nil {
				t.Fatal(err)
			}
			got, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
			if err := writeBinary(ctx, got, e); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Header, want.Header) {
				t.Errorf("headers\n got %v\nwant %v", got.Header, want.Header)
			}
			if got.ContentLength != want.ContentLength {
				t.Errorf("content length %d, want %d", got.ContentLength,
					want.ContentLength)
			}
			if got, want := readBody(t, got), readBody(t, want); got != want {
				t.Errorf("body %q, want %q", got, want)
			}
		})
	}
}

// readBody reads req's body, and the copy GetBody gives when it is set.
func readBody(t *testing.T, req *http.Request) string {
	t.Helper()
	if req.Body == nil {
		return ""
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetBody != nil {
		again, err := req.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		if b2, _ := io.ReadAll(again); string(b2) != string(b) {
			t.Errorf("GetBody gives %q, the body %q", b2, b)
		}
	}
	return string(b)
}

// BenchmarkSendRequest is the building of one delivery's request: an event
// as a Trigger's queue holds it, with Ferry's two extensions.
func BenchmarkSendRequest(b *testing.B) {
	e := orderEvent()
	stampAccepted(e)
	u, _ := url.Parse("http://127.0.0.1:8080/fn")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			u.String(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := writeBinary(ctx, req, e); err != nil {
			b.Fatal(err)
		}
	}
}
