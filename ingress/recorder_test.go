package ingress_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/ingress"
	"github.com/ferryfn/ferry/tasks"
)

// cluster is the ingress as it runs on a cluster: a real task store, an
// eventing.Sink posting to a stand-in for the Broker's ingress, and
// /v1/records where the Broker's results Trigger and dead letter sink
// deliver.
type cluster struct {
	url   string
	store *tasks.DiskStore

	mu     sync.Mutex
	broker []*event.Event // what the Broker stand-in accepted
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	broker := httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			c.mu.Lock()
			c.broker = append(c.broker, e)
			c.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
	t.Cleanup(broker.Close)

	db, err := bolt.Open(filepath.Join(t.TempDir(), "tasks.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if c.store, err = tasks.NewDiskStore(db); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sink, err := eventing.NewSink(eventing.SinkParams{URL: broker.URL,
		Observer: c.store, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := ingress.New(ingress.Params{Publisher: sink, Tasks: c.store,
		Records: c.store, Logger: log})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	c.url = hs.URL
	return c
}

// accept posts a producer's event to /v1/events and returns the event as
// the Broker got it (with its correlationid).
func (c *cluster) accept(t *testing.T, id string) *event.Event {
	t.Helper()
	e := event.New()
	e.SetID(id)
	e.SetSource("/test/producer")
	e.SetType("dev.ferry.csvstats")
	_ = e.SetData("text/csv", "a,b\n1,2\n")
	if code := c.deliver(t, "/v1/events", &e); code != http.StatusAccepted {
		t.Fatalf("POST /v1/events = %d, want 202", code)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broker[len(c.broker)-1]
}

// deliver posts e in binary mode, as Knative's dispatchers do, and returns
// the status.
func (c *cluster) deliver(t *testing.T, path string, e *event.Event) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(e),
		req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if path == ingress.RecordsPath && resp.StatusCode == http.StatusNoContent &&
		len(body) != 0 {
		t.Errorf("204 from %s has a body: %q", path, body)
	}
	return resp.StatusCode
}

func (c *cluster) task(t *testing.T, id string) *tasks.Task {
	t.Helper()
	task, err := c.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("task %s: %v", id, err)
	}
	return task
}

// replyTo is a function's reply to in, carrying the Correlation extension
// as Ferry's functions set it.
func replyTo(in *event.Event, typ, data string) *event.Event {
	r := event.New()
	r.SetID("reply-of-" + in.ID())
	r.SetSource("/ferry/functions/csvstats")
	r.SetType(typ)
	ct := "application/json"
	if strings.HasSuffix(typ, tasks.FailedSuffix) {
		ct = "application/problem+json"
	}
	_ = r.SetData(ct, json.RawMessage(data))
	r.SetExtension(eventing.ExtCorrelationID,
		in.Extensions()[eventing.ExtCorrelationID])
	r.SetExtension(eventing.ExtCausationID, in.ID())
	return &r
}

func TestReplyAtRecordsMakesTheTaskSucceedWithItsResult(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-1")
	taskID := eventing.TaskID(in)
	if s := c.task(t, taskID).State; s != tasks.Accepted {
		t.Fatalf("state after accept = %s, want accepted", s)
	}

	reply := replyTo(in, "dev.ferry.csvstats.done", `{"rows":1}`)
	if code := c.deliver(t, ingress.RecordsPath, reply); code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d, want 204", code)
	}

	task := c.task(t, taskID)
	if task.State != tasks.Succeeded || task.ResultEventID != reply.ID() {
		t.Fatalf("task = %s, result %q; want succeeded with %s",
			task.State, task.ResultEventID, reply.ID())
	}
	if len(task.Deliveries) != 1 || task.Deliveries[0].EventID != in.ID() ||
		task.Deliveries[0].Trigger != eventing.SinkBrokerDefault {
		t.Errorf("deliveries = %+v, want one of %s to %s", task.Deliveries,
			in.ID(), eventing.SinkBrokerDefault)
	}
	res, err := c.store.Result(context.Background(), taskID)
	if err != nil || !bytes.Equal(res.Data(), []byte(`{"rows":1}`)) {
		t.Errorf("result = %v, %v; want the reply's data", res, err)
	}

	// The Broker delivers at least once: the same reply again changes
	// nothing.
	if code := c.deliver(t, ingress.RecordsPath, reply); code != http.StatusNoContent {
		t.Fatalf("again: POST /v1/records = %d, want 204", code)
	}
	if again := c.task(t, taskID); again.State != tasks.Succeeded ||
		len(again.Events) != len(task.Events) {
		t.Errorf("after a redelivery: %s with %d events, want succeeded "+
			"with %d", again.State, len(again.Events), len(task.Events))
	}
}

func TestFailureReplyAtRecordsFailsTheTask(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-2")

	reply := replyTo(in, "dev.ferry.csvstats.failed",
		`{"type":"https://ferry.dev/problems/invalid-input",`+
			`"title":"Invalid input","detail":"ragged row 2"}`)
	if code := c.deliver(t, ingress.RecordsPath, reply); code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d, want 204", code)
	}

	task := c.task(t, eventing.TaskID(in))
	if task.State != tasks.Failed || task.Reason != "ragged row 2" {
		t.Errorf("task = %s (%q), want failed (ragged row 2)", task.State,
			task.Reason)
	}
}

func TestDeadLetterAtRecordsFailsTheTaskWithCodeAndBody(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-3")

	dead := in.Clone()
	dead.SetExtension("knativeerrordest",
		"http://csvstats.ferry.svc.cluster.local")
	dead.SetExtension("knativeerrorcode", 500)
	dead.SetExtension("knativeerrordata",
		base64.StdEncoding.EncodeToString([]byte("disk full")))
	if code := c.deliver(t, ingress.RecordsPath, &dead); code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d, want 204", code)
	}

	task := c.task(t, eventing.TaskID(in))
	want := "delivery to http://csvstats.ferry.svc.cluster.local failed " +
		"for good with HTTP 500: disk full"
	if task.State != tasks.Failed || task.Code != 500 || task.Reason != want {
		t.Errorf("task = %s, code %d, reason %q; want failed, 500, %q",
			task.State, task.Code, task.Reason, want)
	}
	if n := len(task.Events); n != 2 || task.Events[1].Kind != "deadletter" {
		t.Errorf("events = %+v, want the accepted event and its dead letter",
			task.Events)
	}
}

func TestDeadLetterWithoutAnswerNamesNoStatus(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-4")

	dead := in.Clone()
	dead.SetExtension("knativeerrordest", "http://csvstats")
	dead.SetExtension("knativeerrorcode", 0)
	if code := c.deliver(t, ingress.RecordsPath, &dead); code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d, want 204", code)
	}
	task := c.task(t, eventing.TaskID(in))
	want := "delivery to http://csvstats failed for good without an HTTP answer"
	if task.State != tasks.Failed || task.Reason != want {
		t.Errorf("task = %s (%q), want failed (%q)", task.State, task.Reason,
			want)
	}
}

func TestReplyThatFailedToReachRecordsIsStillAReply(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-5")

	// The results Trigger gave up on the ingress (it was down), so the
	// Broker dead-lettered the reply to the ingress itself.
	reply := replyTo(in, "dev.ferry.csvstats.done", `{"rows":1}`)
	reply.SetExtension("knativeerrordest",
		"http://ferry-ingress.ferry.svc.cluster.local/v1/records")
	reply.SetExtension("knativeerrorcode", 503)
	if code := c.deliver(t, ingress.RecordsPath, reply); code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d, want 204", code)
	}

	task := c.task(t, eventing.TaskID(in))
	if task.State != tasks.Succeeded || task.ResultEventID != reply.ID() {
		t.Errorf("task = %s, result %q; want succeeded with %s", task.State,
			task.ResultEventID, reply.ID())
	}
}

func TestRecordsIgnoresEventsOfNoTask(t *testing.T) {
	c := newCluster(t)
	in := c.accept(t, "rec-6")
	taskID := eventing.TaskID(in)

	// An unfiltered results Trigger (the RabbitMQ broker's) also brings
	// the task's own accepted event back.
	if code := c.deliver(t, ingress.RecordsPath, in); code != http.StatusNoContent {
		t.Fatalf("echo: POST /v1/records = %d, want 204", code)
	}
	task := c.task(t, taskID)
	if task.State != tasks.Accepted || task.ResultEventID != "" ||
		len(task.Events) != 1 {
		t.Errorf("after the echo: %s, result %q, %d events; want accepted, "+
			"no result, 1 event", task.State, task.ResultEventID,
			len(task.Events))
	}

	// An event from elsewhere, without correlationid, makes no task.
	other := event.New()
	other.SetID("other-1")
	other.SetSource("/elsewhere")
	other.SetType("dev.example.other")
	if code := c.deliver(t, ingress.RecordsPath, &other); code != http.StatusNoContent {
		t.Fatalf("other: POST /v1/records = %d, want 204", code)
	}
	_, err := c.store.Get(context.Background(), eventing.TaskID(&other))
	if err == nil {
		t.Errorf("an event without correlationid made a task")
	}
}

func TestRecordsRefusesWhatIsNoCloudEvent(t *testing.T) {
	c := newCluster(t)
	resp, err := http.Post(c.url+ingress.RecordsPath, "application/json",
		strings.NewReader(`{"hello":"world"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
}

func TestRecordsIsNotServedWithoutAnObserver(t *testing.T) {
	h := newHarness(t)
	resp, _ := h.post(t, ingress.RecordsPath, binaryHeaders("1.0"), "x")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status = %d, want 404", resp.StatusCode)
	}
	if received, _ := h.pub.counts(); received != 0 {
		t.Errorf("%d events published, want none", received)
	}
}
