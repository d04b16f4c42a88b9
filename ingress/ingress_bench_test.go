package ingress_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/ingress"
)

// nopPublisher accepts every event into the same task and stores nothing.
type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, *event.Event) (eventing.Receipt,
	error) {
	return eventing.Receipt{TaskID: "task-1"}, nil
}

// BenchmarkPostBinaryEvent measures the ingress's own cost of accepting a
// binary-mode event with a small JSON body: reading, validating, answering
// and logging (to a discarding handler), without a Broker.
func BenchmarkPostBinaryEvent(b *testing.B) {
	h := ingress.New(ingress.Params{
		Publisher: nopPublisher{},
		Tasks:     newFakeTasks(),
		Logger:    slog.New(slog.DiscardHandler),
	}).Handler()
	body := []byte(`{"order":42,"items":["tea","scones"],"total":12.5}`)
	header := http.Header{}
	for k, v := range binaryHeaders("1.0") {
		header.Set(k, v)
	}
	header.Set("Ce-Time", "2026-12-04T10:30:00Z")
	header.Set("Ce-Tenant", "acme")

	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/events",
			bytes.NewReader(body))
		req.Header = header.Clone()
		rec := httptest.NewRecorder()

		h.ServeHTTP(rec, req)

		if rec.Code != http.StatusAccepted {
			b.Fatalf("status = %d, body %s", rec.Code, rec.Body)
		}
	}
}
