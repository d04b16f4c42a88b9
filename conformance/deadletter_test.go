package conformance

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"testing"
)

func TestDeadLetterCarriesErrorExtensions(t *testing.T) {
	t.Parallel()
	errBody := bytes.Repeat([]byte("failure detail; "), 5<<10/16) // 5 KiB
	sink := newSubscriber(t, accept)
	sub := newSubscriber(t, always(http.StatusInternalServerError, errBody))
	s := startStack(t, brokerDoc(""), triggerDoc("doomed", sub.URL(),
		deliveryDoc(1, delay, sink.URL())))

	hdr := binary("doomed", "dev.conformance.doomed", "myext", "mine")
	hdr["Content-Type"] = "application/json"
	id := s.publish(hdr, []byte(`{"order":7}`))
	got := sink.await(t, 1)
	s.awaitState(id, "failed")
	settle()
	if n := len(sink.received()); n != 1 {
		t.Fatalf("dead letter sink got %d copies, want exactly 1", n)
	}

	dl := got[0]
	// The original event, unchanged...
	for k, want := range map[string]string{"id": "doomed",
		"type": "dev.conformance.doomed", "source": "/conformance",
		"specversion": "1.0", "myext": "mine"} {
		if v := dl.ce(k); v != want {
			t.Errorf("ce-%s = %q, want %q", k, v, want)
		}
	}
	if string(dl.Body) != `{"order":7}` ||
		dl.Header.Get("Content-Type") != "application/json" {
		t.Errorf("dead letter data %q (%s), want the original",
			dl.Body, dl.Header.Get("Content-Type"))
	}
	// ...plus Knative's error extensions.
	if v := dl.ce("knativeerrordest"); v != sub.URL() {
		t.Errorf("knativeerrordest %q, want the subscriber %s", v, sub.URL())
	}
	if v := dl.ce("knativeerrorcode"); v != "500" {
		t.Errorf("knativeerrorcode %q, want 500", v)
	}
	data := dl.ce("knativeerrordata")
	if data == "" || len(data) > 1024 {
		t.Fatalf("knativeerrordata of %d characters, want 1 to 1024", len(data))
	}
	decoded, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("knativeerrordata is not base64: %v", err)
	}
	if !bytes.HasPrefix(errBody, decoded) || len(decoded) < 512 {
		t.Errorf("knativeerrordata decodes to %q, want the start of the "+
			"subscriber's answer", clipped(decoded))
	}
}

func TestDeadLetterSinkDownStillGetsEvent(t *testing.T) {
	t.Parallel()
	// The sink is down for its first 5 requests: the connection drops
	// (3 times), then it answers 503 (2 times). The event must still
	// arrive, once.
	sink := newSubscriber(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch {
		case n <= 3:
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case n <= 5:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	sub := newSubscriber(t, always(http.StatusServiceUnavailable, nil))
	s := startStack(t, brokerDoc(""), triggerDoc("doomed", sub.URL(),
		deliveryDoc(0, delay, sink.URL())))

	id := s.publish(binary("kept", "dev.conformance.kept"), []byte("keep me"))
	got := sink.await(t, 6)
	settle()
	if n := len(sink.received()); n != 6 {
		t.Errorf("sink got %d requests, want 6 (5 failed, 1 taken)", n)
	}
	for _, r := range got {
		if r.ce("id") != "kept" || string(r.Body) != "keep me" {
			t.Errorf("sink got %q %q, want the event kept", r.ce("id"), r.Body)
		}
	}
	if tk := s.task(id); tk.State != "failed" || tk.Code != 503 {
		t.Errorf("task %s with code %d, want failed with 503", tk.State, tk.Code)
	}
}
