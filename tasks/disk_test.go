package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
)

// diskFixture is a DiskStore on a bbolt file in a temporary folder, fed
// the reports a Broker makes, with a clock the test moves.
type diskFixture struct {
	t     testing.TB
	path  string
	db    *bolt.DB
	store *DiskStore
	clock time.Time
}

var diskEpoch = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func newDiskFixture(t testing.TB) *diskFixture {
	f := &diskFixture{t: t, path: filepath.Join(t.TempDir(), "ferry.db"),
		clock: diskEpoch}
	f.open()
	t.Cleanup(func() { _ = f.db.Close() })
	return f
}

func (f *diskFixture) open() {
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		f.t.Fatal(err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	s, err := NewDiskStore(db)
	if err != nil {
		f.t.Fatal(err)
	}
	s.now = func() time.Time { return f.clock }
	f.db, f.store = db, s
}

// reopen closes the bbolt file and opens it again, as after a restart.
func (f *diskFixture) reopen() {
	if err := f.db.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

// tick moves the clock by a second and returns the new time.
func (f *diskFixture) tick() time.Time {
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

func (f *diskFixture) routed(kind eventing.EventKind, e *event.Event,
	triggers ...string) {
	f.t.Helper()
	f.tick()
	if err := f.store.Routed(context.Background(), kind, e, triggers); err != nil {
		f.t.Fatalf("Routed %s: %v", e.ID(), err)
	}
}

// attempt reports a step of delivering e to trigger, at the next tick.
func (f *diskFixture) attempt(e *event.Event, trigger string, n int,
	outcome eventing.Outcome, opts ...func(*eventing.Attempt)) {
	f.t.Helper()
	a := eventing.Attempt{Event: e, Trigger: trigger, Number: n,
		Outcome: outcome, At: f.tick(),
		Subscriber: "http://" + trigger + ".shop.svc.cluster.local/"}
	if outcome == eventing.OutcomeDelivered {
		a.Code = 200
	}
	for _, o := range opts {
		o(&a)
	}
	if err := f.store.Attempted(context.Background(), a); err != nil {
		f.t.Fatalf("Attempted %s %s: %v", e.ID(), outcome, err)
	}
}

func failedWith(code int, reason string) func(*eventing.Attempt) {
	return func(a *eventing.Attempt) { a.Code, a.Reason = code, reason }
}

func withReply(r *event.Event) func(*eventing.Attempt) {
	return func(a *eventing.Attempt) { a.Reply = r }
}

func (f *diskFixture) get(id string) *Task {
	f.t.Helper()
	tk, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatalf("Get %s: %v", id, err)
	}
	return tk
}

// producerEvent is an event as the Broker stores it: with its correlationid
// and hop budget.
func producerEvent(id, typ string, data any) *event.Event {
	e := event.New()
	e.SetSource("/shop/orders")
	e.SetID(id)
	e.SetType(typ)
	e.SetTime(diskEpoch)
	if data != nil {
		_ = e.SetData(event.ApplicationJSON, data)
	}
	e.SetExtension(eventing.ExtCorrelationID, eventing.TaskID(&e))
	e.SetExtension(eventing.ExtBrokerTTL, eventing.BrokerTTLDefault)
	return &e
}

// replyEvent is a subscriber's reply to cause, linked as the Broker links it.
func replyEvent(cause *event.Event, source, id, typ, contentType string,
	data []byte) *event.Event {
	e := event.New()
	e.SetSource(source)
	e.SetID(id)
	e.SetType(typ)
	if data != nil {
		_ = e.SetData(contentType, data)
	}
	e.SetExtension(eventing.ExtCorrelationID, eventing.TaskID(cause))
	e.SetExtension(eventing.ExtCausationID, cause.ID())
	return &e
}

func TestTaskRunsAndSucceedsWithResult(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", map[string]int{"total": 42})
	id := eventing.TaskID(in)

	f.routed(eventing.KindAccepted, in, "invoice")
	tk := f.get(id)
	if tk.State != Accepted || tk.Attempts != 0 || tk.Type != "order.created" ||
		tk.Source != "/shop/orders" || tk.EventID != "order-17" ||
		!tk.CreatedAt.Equal(diskEpoch.Add(time.Second)) {
		t.Fatalf("after Routed: %+v", tk)
	}
	if len(tk.Deliveries) != 1 || tk.Deliveries[0].State != "pending" {
		t.Errorf("deliveries = %+v, want one pending", tk.Deliveries)
	}

	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	tk = f.get(id)
	if tk.State != Running || tk.Attempts != 1 ||
		tk.Deliveries[0].Subscriber != "http://invoice.shop.svc.cluster.local/" {
		t.Errorf("after start: %s, %d attempts, subscriber %q", tk.State,
			tk.Attempts, tk.Deliveries[0].Subscriber)
	}

	out := replyEvent(in, "/fn/invoice", "inv-1", "invoice.created",
		event.ApplicationJSON, []byte(`{"number": 7}`))
	f.routed(eventing.KindReply, out)
	if tk = f.get(id); tk.State != Running {
		t.Errorf("reply recorded, delivery not yet done: %s, want running", tk.State)
	}
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered, withReply(out))

	tk = f.get(id)
	done := diskEpoch.Add(4 * time.Second)
	if tk.State != Succeeded || tk.Attempts != 1 || tk.Reason != "" ||
		tk.ResultEventID != "inv-1" || tk.FinishedAt == nil ||
		!tk.FinishedAt.Equal(done) || !tk.UpdatedAt.Equal(done) {
		t.Errorf("after delivery: %+v", tk)
	}
	if d := tk.Deliveries[0]; d.State != "delivered" || d.Code != 200 ||
		!d.UpdatedAt.Equal(done) {
		t.Errorf("delivery = %+v, want delivered 200, updated at %v", d, done)
	}
	if len(tk.Events) != 2 || tk.Events[0].Kind != "accepted" ||
		tk.Events[1].Kind != "reply" || string(tk.Events[1].Data) != `{"number":7}` {
		t.Errorf("events = %+v", tk.Events)
	}

	res, err := f.store.Result(context.Background(), id)
	if err != nil {
		t.Fatalf("Result: %v", err)
	}
	if res.ID() != "inv-1" || res.DataContentType() != "application/json" ||
		string(res.Data()) != `{"number": 7}` ||
		res.Extensions()["causationid"] != "order-17" {
		t.Errorf("result = %s", res)
	}
}

func TestRetryingTaskShowsReasonAndNextAttempt(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice")
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	next := diskEpoch.Add(time.Minute)
	f.attempt(in, "invoice", 1, eventing.OutcomeRetrying,
		failedWith(503, "subscriber answered 503 Service Unavailable"),
		func(a *eventing.Attempt) { a.NextAttempt = next })

	tk := f.get(id)
	if tk.State != Retrying || tk.Code != 503 ||
		tk.Reason != "subscriber answered 503 Service Unavailable" ||
		tk.FinishedAt != nil {
		t.Errorf("task = %+v", tk)
	}
	d := tk.Deliveries[0]
	if d.State != "retrying" || d.NextAttempt == nil || !d.NextAttempt.Equal(next) {
		t.Errorf("delivery = %+v, want retrying, next attempt %v", d, next)
	}

	f.attempt(in, "invoice", 2, eventing.OutcomeStarted)
	tk = f.get(id)
	if tk.State != Running || tk.Attempts != 2 || tk.Reason != "" ||
		tk.Deliveries[0].NextAttempt != nil {
		t.Errorf("second attempt started: %+v", tk)
	}
	f.attempt(in, "invoice", 2, eventing.OutcomeDelivered)
	tk = f.get(id)
	if tk.State != Succeeded || tk.Attempts != 2 || tk.Code != 0 || tk.Reason != "" {
		t.Errorf("delivered on the second attempt: %+v", tk)
	}
}

func TestDeadLetteredTaskFails(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice")
	for n := 1; n <= 2; n++ {
		f.attempt(in, "invoice", n, eventing.OutcomeStarted)
		f.attempt(in, "invoice", n, eventing.OutcomeRetrying,
			failedWith(500, "subscriber answered 500"))
	}
	f.attempt(in, "invoice", 3, eventing.OutcomeStarted)
	f.attempt(in, "invoice", 3, eventing.OutcomeDeadLettered,
		failedWith(500, "subscriber answered 500 Internal Server Error: boom"))

	tk := f.get(id)
	if tk.State != Failed || tk.Code != 500 || tk.Attempts != 3 ||
		tk.Reason != "subscriber answered 500 Internal Server Error: boom" ||
		tk.FinishedAt == nil {
		t.Errorf("task = %+v", tk)
	}
	if n := len(tk.Events); n != 2 || tk.Events[1].Kind != "deadletter" ||
		tk.Events[1].Attributes["id"] != "order-17" {
		t.Errorf("events = %+v, want accepted and its dead letter", tk.Events)
	}
	if _, err := f.store.Result(context.Background(), id); !errors.Is(err, ErrNoResult) {
		t.Errorf("Result of a dead-lettered task: %v, want ErrNoResult", err)
	}
	// A late repeat of an earlier report changes nothing.
	f.attempt(in, "invoice", 2, eventing.OutcomeRetrying, failedWith(500, "x"))
	if again := f.get(id); again.State != Failed || again.Reason != tk.Reason {
		t.Errorf("after a repeat: %s %q", again.State, again.Reason)
	}
}

func TestFailureReplyFailsTask(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		data        string
		want        string
	}{
		{"problem detail", "application/problem+json",
			`{"type":"about:blank","title":"Bad image","detail":"not a JPEG: missing SOI marker"}`,
			"not a JPEG: missing SOI marker"},
		{"problem title only", "application/problem+json",
			`{"title":"Bad image"}`, "Bad image"},
		{"plain text", "text/plain", "  width must be positive\n",
			"width must be positive"},
		{"no data", "", "", "image.uploaded.failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDiskFixture(t)
			in := producerEvent("img-1", "image.uploaded", nil)
			id := eventing.TaskID(in)
			f.routed(eventing.KindAccepted, in, "thumbnail")
			f.attempt(in, "thumbnail", 1, eventing.OutcomeStarted)
			var data []byte
			if tt.data != "" {
				data = []byte(tt.data)
			}
			out := replyEvent(in, "/fn/thumbnail", "r-1", "image.uploaded.failed",
				tt.contentType, data)
			f.routed(eventing.KindReply, out)
			f.attempt(in, "thumbnail", 1, eventing.OutcomeDelivered, withReply(out))

			tk := f.get(id)
			if tk.State != Failed || tk.Reason != tt.want || tk.Code != 0 {
				t.Errorf("task %s %q code %d, want failed %q", tk.State,
					tk.Reason, tk.Code, tt.want)
			}
			res, err := f.store.Result(context.Background(), id)
			if err != nil || res.ID() != "r-1" {
				t.Errorf("Result = %v, %v; want the failure reply", res, err)
			}
			// The reason survives a restart.
			f.reopen()
			f.attempt(in, "thumbnail", 1, eventing.OutcomeDelivered)
			if tk := f.get(id); tk.State != Failed || tk.Reason != tt.want {
				t.Errorf("after reopen: %s %q", tk.State, tk.Reason)
			}
		})
	}
}

func TestChainStaysRunningUntilLastDeliveryIsDone(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("img-1", "image.uploaded", nil)
	id := eventing.TaskID(in)
	state := func(step string, want State) {
		t.Helper()
		if got := f.get(id).State; got != want {
			t.Errorf("%s: %s, want %s", step, got, want)
		}
	}

	f.routed(eventing.KindAccepted, in, "resize")
	f.attempt(in, "resize", 1, eventing.OutcomeStarted)
	resized := replyEvent(in, "/fn/resize", "resized-1", "image.resized",
		event.ApplicationJSON, []byte(`{"w":320}`))
	f.routed(eventing.KindReply, resized, "notify")
	state("reply routed to notify", Running)
	f.attempt(in, "resize", 1, eventing.OutcomeDelivered, withReply(resized))
	state("resize done, notify pending", Running)
	f.attempt(resized, "notify", 1, eventing.OutcomeStarted)
	state("notify running", Running)
	f.attempt(resized, "notify", 1, eventing.OutcomeRetrying, failedWith(502, "x"))
	state("notify retrying", Retrying)
	f.attempt(resized, "notify", 2, eventing.OutcomeStarted)
	f.attempt(resized, "notify", 2, eventing.OutcomeDelivered)
	state("notify done", Succeeded)

	tk := f.get(id)
	if tk.Attempts != 3 || len(tk.Deliveries) != 2 ||
		tk.Deliveries[1].EventID != "resized-1" || tk.Deliveries[1].Trigger != "notify" {
		t.Errorf("task = %+v", tk)
	}
	// notify answered without a reply: the result is resize's reply.
	res, err := f.store.Result(context.Background(), id)
	if err != nil || res.ID() != "resized-1" {
		t.Errorf("Result = %v, %v", res, err)
	}
}

func TestResultIsTheLatestReply(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("img-1", "image.uploaded", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "resize")
	first := replyEvent(in, "/fn/resize", "resized-1", "image.resized",
		"text/plain", []byte("320x200"))
	f.routed(eventing.KindReply, first, "caption")
	second := replyEvent(first, "/fn/caption", "captioned-1", "image.captioned",
		"text/plain", []byte("a cat on a mat"))
	f.routed(eventing.KindReply, second)

	res, err := f.store.Result(context.Background(), id)
	if err != nil || res.ID() != "captioned-1" || string(res.Data()) != "a cat on a mat" ||
		res.DataContentType() != "text/plain" {
		t.Errorf("Result = %v, %v; want the caption", res, err)
	}
	if tk := f.get(id); tk.ResultEventID != "captioned-1" {
		t.Errorf("ResultEventID = %s", tk.ResultEventID)
	}
}

func TestReportsAreIdempotent(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice", "audit")
	f.routed(eventing.KindAccepted, in, "invoice", "audit")
	out := replyEvent(in, "/fn/invoice", "inv-1", "invoice.created", "text/plain",
		[]byte("7"))
	f.routed(eventing.KindReply, out)
	f.routed(eventing.KindReply, out)

	tk := f.get(id)
	if len(tk.Events) != 2 || len(tk.Deliveries) != 2 {
		t.Errorf("after repeats: %d events, %d deliveries; want 2 and 2",
			len(tk.Events), len(tk.Deliveries))
	}
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered)
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered)
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted) // a late repeat
	tk = f.get(id)
	d := tk.Deliveries[0]
	if d.State != "delivered" || d.Attempts != 1 {
		t.Errorf("invoice delivery = %+v, want delivered after 1 attempt", d)
	}
	if tk.State != Running {
		t.Errorf("state %s, want running: audit is pending", tk.State)
	}
}

func TestStartedTwiceCountsTheCutAttempt(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice")
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	// The process died during attempt 1; the queue still says 0 attempts
	// made, so the delivery is made again as attempt 1.
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	if tk := f.get(id); tk.Attempts != 2 || tk.State != Running {
		t.Errorf("after the restart: %d attempts %s, want 2 running",
			tk.Attempts, tk.State)
	}
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered)
	if tk := f.get(id); tk.Attempts != 2 || tk.State != Succeeded {
		t.Errorf("delivered: %d attempts %s, want 2 succeeded", tk.Attempts, tk.State)
	}
}

func TestAttemptForUnknownTaskCreatesIt(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	// The Routed report was lost (the ingress died after the commit).
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)

	tk := f.get(id)
	if tk.ID != id || tk.Type != "order.created" || tk.Source != "/shop/orders" ||
		tk.EventID != "order-17" || tk.State != Running || tk.Attempts != 1 {
		t.Errorf("task = %+v", tk)
	}
	if len(tk.Deliveries) != 1 || tk.Deliveries[0].Trigger != "invoice" {
		t.Errorf("deliveries = %+v", tk.Deliveries)
	}
	// The late Routed report fills in the event and keeps the progress.
	f.routed(eventing.KindAccepted, in, "invoice")
	tk = f.get(id)
	if tk.State != Running || len(tk.Events) != 1 || tk.Events[0].Kind != "accepted" ||
		tk.Deliveries[0].State != "running" {
		t.Errorf("after the late Routed: %+v", tk)
	}
}

func TestNoTriggerMatchedLeavesTaskAccepted(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	f.routed(eventing.KindAccepted, in)
	tk := f.get(eventing.TaskID(in))
	if tk.State != Accepted || tk.Reason != "no Trigger matched the event" ||
		tk.FinishedAt != nil {
		t.Errorf("task = %+v", tk)
	}
}

func TestFanOutWaitsForEveryTrigger(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice", "audit", "email")
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered)
	f.attempt(in, "audit", 1, eventing.OutcomeStarted)
	f.attempt(in, "audit", 1, eventing.OutcomeRetrying, failedWith(429, "slow down"))
	if tk := f.get(id); tk.State != Retrying || tk.Reason != "slow down" || tk.Code != 429 {
		t.Errorf("one retrying: %s %q %d", tk.State, tk.Reason, tk.Code)
	}
	f.attempt(in, "email", 1, eventing.OutcomeStarted)
	f.attempt(in, "email", 1, eventing.OutcomeDeadLettered, failedWith(400, "bad address"))
	if tk := f.get(id); tk.State != Failed || tk.Reason != "bad address" {
		t.Errorf("one dead-lettered: %s %q, want failed", tk.State, tk.Reason)
	}
	f.attempt(in, "audit", 2, eventing.OutcomeStarted)
	f.attempt(in, "audit", 2, eventing.OutcomeDelivered)
	if tk := f.get(id); tk.State != Failed || tk.Attempts != 4 {
		t.Errorf("all done: %s, %d attempts; want failed, 4", tk.State, tk.Attempts)
	}
}

func TestUnknownTaskIsNotFound(t *testing.T) {
	f := newDiskFixture(t)
	if _, err := f.store.Get(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if _, err := f.store.Result(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Result: %v, want ErrNotFound", err)
	}
	in := producerEvent("order-17", "order.created", nil)
	f.routed(eventing.KindAccepted, in, "invoice")
	_, err := f.store.Result(context.Background(), eventing.TaskID(in))
	if !errors.Is(err, ErrNoResult) {
		t.Errorf("Result before any reply: %v, want ErrNoResult", err)
	}
}

func TestTasksSurviveReopen(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", map[string]int{"total": 42})
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "invoice")
	f.attempt(in, "invoice", 1, eventing.OutcomeStarted)
	before := f.get(id)

	f.reopen()
	after := f.get(id)
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("after reopen:\n%s\nbefore:\n%s", b2, b1)
	}
}

func TestInlineData(t *testing.T) {
	big := `"` + strings.Repeat("x", InlineDataMax) + `"`
	tests := []struct {
		name        string
		contentType string
		data        []byte
		want        string // "" for no inline data
	}{
		{"JSON compacted", "application/json", []byte("{\n  \"total\": 42\n}"),
			`{"total":42}`},
		{"JSON with charset", "application/json; charset=utf-8", []byte(`[1, 2]`),
			`[1,2]`},
		{"+json", "application/problem+json", []byte(`{"detail":"x"}`),
			`{"detail":"x"}`},
		{"no content type, JSON", "", []byte(`{"a":1}`), `{"a":1}`},
		{"no content type, not JSON", "", []byte("hello"), ""},
		{"JSON type, broken JSON", "application/json", []byte(`{"a":`), `"{\"a\":"`},
		{"text", "text/plain", []byte("320x200 \"cat\""), `"320x200 \"cat\""`},
		{"csv", "text/csv", []byte("a,b\n1,2\n"), `"a,b\n1,2\n"`},
		{"xml", "application/xml", []byte("<a>1</a>"), `"\u003ca\u003e1\u003c/a\u003e"`},
		{"binary type", "application/octet-stream", []byte("abc"), ""},
		{"not UTF-8", "text/plain", []byte{0xff, 0xfe, 0x00}, ""},
		{"PNG", "image/png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), ""},
		{"over InlineDataMax", "application/json", []byte(big), ""},
		{"no data", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newDiskFixture(t)
			e := event.New()
			e.SetSource("/s")
			e.SetID("1")
			e.SetType("t")
			if tt.data != nil {
				if err := e.SetData(tt.contentType, tt.data); err != nil {
					t.Fatal(err)
				}
			}
			f.routed(eventing.KindAccepted, &e)
			rec := f.get(eventing.TaskID(&e)).Events[0]
			if string(rec.Data) != tt.want {
				t.Errorf("data = %s, want %s", rec.Data, tt.want)
			}
			if rec.DataSize != len(tt.data) {
				t.Errorf("dataSize = %d, want %d", rec.DataSize, len(tt.data))
			}
			if tt.contentType != "" && rec.Attributes["datacontenttype"] != tt.contentType {
				t.Errorf("datacontenttype = %v", rec.Attributes["datacontenttype"])
			}
			if _, ok := rec.Attributes["data"]; ok {
				t.Error("attributes hold the data")
			}
			if _, ok := rec.Attributes["data_base64"]; ok {
				t.Error("attributes hold data_base64")
			}
			// The whole event, data included, stays readable.
			raw, err := json.Marshal(f.get(eventing.TaskID(&e)))
			if err != nil || !json.Valid(raw) {
				t.Errorf("task JSON: %v", err)
			}
		})
	}
}

func TestResultKeepsBinaryData(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("img-1", "image.uploaded", nil)
	id := eventing.TaskID(in)
	f.routed(eventing.KindAccepted, in, "thumbnail")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
	out := replyEvent(in, "/fn/thumbnail", "thumb-1", "image.thumbnail",
		"image/png", png)
	f.routed(eventing.KindReply, out)

	if rec := f.get(id).Events[1]; rec.Data != nil || rec.DataSize != len(png) {
		t.Errorf("recorded reply: data %q size %d", rec.Data, rec.DataSize)
	}
	res, err := f.store.Result(context.Background(), id)
	if err != nil || string(res.Data()) != string(png) || res.DataContentType() != "image/png" {
		t.Errorf("Result = %v, %v; want the PNG bytes", res, err)
	}
}

func TestConcurrentReportsOnOneTaskLoseNothing(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-17", "order.created", nil)
	id := eventing.TaskID(in)
	const n = 40
	triggers := make([]string, n)
	for i := range triggers {
		triggers[i] = fmt.Sprintf("t%02d", i)
	}
	f.routed(eventing.KindAccepted, in, triggers...)

	var wg sync.WaitGroup
	for _, trig := range triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, o := range []eventing.Outcome{eventing.OutcomeStarted,
				eventing.OutcomeDelivered} {
				err := f.store.Attempted(context.Background(), eventing.Attempt{
					Event: in, Trigger: trig, Number: 1, Outcome: o, Code: 200,
					At: diskEpoch.Add(time.Minute)})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	tk := f.get(id)
	if tk.State != Succeeded || tk.Attempts != n || len(tk.Deliveries) != n {
		t.Errorf("task %s, %d attempts, %d deliveries; want succeeded, %d, %d",
			tk.State, tk.Attempts, len(tk.Deliveries), n, n)
	}
}

// BenchmarkDiskStoreRouted is the cost of recording an accepted event: one
// bbolt commit with fsync, serially and with the commits grouped.
func BenchmarkDiskStoreRouted(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		f := newDiskFixture(b)
		i := 0
		for b.Loop() {
			i++
			e := producerEvent(fmt.Sprint(i), "order.created", map[string]int{"n": i})
			if err := f.store.Routed(context.Background(), eventing.KindAccepted,
				e, []string{"invoice"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		f := newDiskFixture(b)
		var mu sync.Mutex
		i := 0
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				i++
				id := i
				mu.Unlock()
				e := producerEvent(fmt.Sprint(id), "order.created", map[string]int{"n": id})
				if err := f.store.Routed(context.Background(), eventing.KindAccepted,
					e, []string{"invoice"}); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

func TestOutcomeWithoutItsStartCountsTheCutAttempt(t *testing.T) {
	f := newDiskFixture(t)
	unreported := func(a *eventing.Attempt) { a.StartUnreported = true }

	// A fast attempt reports only its outcome: one attempt.
	fast := producerEvent("order-1", "order.created", nil)
	f.routed(eventing.KindAccepted, fast, "invoice")
	f.attempt(fast, "invoice", 1, eventing.OutcomeDelivered, unreported)
	if tk := f.get(eventing.TaskID(fast)); tk.Attempts != 1 || tk.State != Succeeded {
		t.Errorf("fast attempt: %d attempts %s, want 1 succeeded",
			tk.Attempts, tk.State)
	}

	// A slow attempt 1 reported its start, then the process died; the
	// queue makes it again as attempt 1, which ends fast.
	cut := producerEvent("order-2", "order.created", nil)
	f.routed(eventing.KindAccepted, cut, "invoice")
	f.attempt(cut, "invoice", 1, eventing.OutcomeStarted)
	f.attempt(cut, "invoice", 1, eventing.OutcomeDelivered, unreported)
	if tk := f.get(eventing.TaskID(cut)); tk.Attempts != 2 || tk.State != Succeeded {
		t.Errorf("after a cut attempt: %d attempts %s, want 2 succeeded",
			tk.Attempts, tk.State)
	}
	// The same outcome reported again (a crash before the commit) counts
	// nothing more.
	f.attempt(cut, "invoice", 1, eventing.OutcomeDelivered, unreported)
	if tk := f.get(eventing.TaskID(cut)); tk.Attempts != 2 {
		t.Errorf("repeated outcome: %d attempts, want 2", tk.Attempts)
	}
}

// reportStore is what both stores are: told of events, read by id.
type reportStore interface {
	eventing.Observer
	Reader
}

func TestOutcomeWithReplyRecordsBothInOneReport(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) reportStore{
		"disk":  func(t *testing.T) reportStore { return newDiskFixture(t).store },
		"redis": func(t *testing.T) reportStore { return redisTestStore(t, RedisOptions{}) },
	} {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			ctx := context.Background()
			in := producerEvent("order-9", "order.created", nil)
			id := eventing.TaskID(in)
			reply := replyEvent(in, "/fn/invoice", "inv-9", "invoice.created.failed",
				"application/problem+json", []byte(`{"detail":"no such customer"}`))
			redisTestMust(t, store.Routed(ctx, eventing.KindAccepted, in, []string{"invoice"}))

			// A fast attempt: no start reported, the reply with the outcome.
			outcome := eventing.Attempt{Event: in, Trigger: "invoice", Number: 1,
				Outcome: eventing.OutcomeDelivered, Code: 200, Reply: reply,
				ReplyTriggers: []string{"audit"}, StartUnreported: true,
				At: time.Now()}
			for range 2 { // the second time as after a crash: no change
				redisTestMust(t, store.Attempted(ctx, outcome))
				tk, err := store.Get(ctx, id)
				redisTestMust(t, err)
				if tk.State != Failed || tk.Attempts != 1 ||
					tk.Reason != "no such customer" || tk.ResultEventID != "inv-9" ||
					len(tk.Events) != 2 || len(tk.Deliveries) != 2 {
					t.Fatalf("task = %+v, want failed after 1 attempt with the "+
						"reply as result and a delivery of it to audit", tk)
				}
			}
			res, err := store.Result(ctx, id)
			redisTestMust(t, err)
			if res.ID() != "inv-9" || string(res.Data()) != `{"detail":"no such customer"}` {
				t.Errorf("result = %s %s", res.ID(), res.Data())
			}
		})
	}
}

func TestOutcomeBeforeTheAcceptedReportStillReadsAcceptedFirst(t *testing.T) {
	f := newDiskFixture(t)
	in := producerEvent("order-5", "order.created", nil)
	id := eventing.TaskID(in)
	reply := replyEvent(in, "/fn/invoice", "inv-5", "invoice.created",
		"application/json", []byte(`{"n":5}`))
	acceptedAt := f.clock.Add(time.Second)

	// The dispatcher's report lands first, stamped later than the
	// ingress's, which was slow to reach the store.
	f.clock = f.clock.Add(2 * time.Second)
	f.attempt(in, "invoice", 1, eventing.OutcomeDelivered,
		func(a *eventing.Attempt) { a.Reply, a.StartUnreported = reply, true })
	outcomeAt := f.clock
	f.clock = acceptedAt.Add(-time.Second) // routed ticks to acceptedAt
	f.routed(eventing.KindAccepted, in, "invoice")

	tk := f.get(id)
	if tk.State != Succeeded || tk.Attempts != 1 || tk.ResultEventID != "inv-5" {
		t.Errorf("task %s, %d attempts, result %q; want succeeded, 1, inv-5",
			tk.State, tk.Attempts, tk.ResultEventID)
	}
	if len(tk.Events) != 2 || tk.Events[0].Kind != "accepted" ||
		tk.Events[1].Kind != "reply" {
		t.Errorf("events %+v, want the accepted one first", tk.Events)
	}
	if tk.EventID != "order-5" || tk.Type != "order.created" {
		t.Errorf("task of %s %s, want order-5 order.created", tk.EventID, tk.Type)
	}
	if !tk.CreatedAt.Equal(acceptedAt) || !tk.UpdatedAt.Equal(outcomeAt) {
		t.Errorf("created %v updated %v, want %v and %v", tk.CreatedAt,
			tk.UpdatedAt, acceptedAt, outcomeAt)
	}
}
