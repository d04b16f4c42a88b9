package ferry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/redis/go-redis/v9"
	fnhttp "knative.dev/func-go/http"

	"github.com/ferryfn/ferry"
	"github.com/ferryfn/ferry/ingress"
)

// The Ingress has every hook of kn func's instanced HTTP template, as
// func-go's runtime looks them up.
var (
	_ fnhttp.Handler           = (*ferry.Ingress)(nil)
	_ fnhttp.Starter           = (*ferry.Ingress)(nil)
	_ fnhttp.Stopper           = (*ferry.Ingress)(nil)
	_ fnhttp.ReadinessReporter = (*ferry.Ingress)(nil)
	_ fnhttp.LivenessReporter  = (*ferry.Ingress)(nil)
)

// brokerStub stands in for the Broker's ingress at K_SINK: it keeps what
// it is sent and answers 202, or 503 while down is set.
type brokerStub struct {
	mu     sync.Mutex
	events []*event.Event
	down   bool
}

func (b *brokerStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		http.Error(w, "rabbitmq is away", http.StatusServiceUnavailable)
		return
	}
	e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.events = append(b.events, e)
	w.WriteHeader(http.StatusAccepted)
}

func (b *brokerStub) received() []*event.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*event.Event(nil), b.events...)
}

// call sends one request to the instance's Handle, as func-go's mux does
// for every path but /health/*.
func call(t *testing.T, f *ferry.Ingress, method, path string,
	header map[string]string, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.Handle(w, req)
	return w
}

// photoEvent is a binary-mode CloudEvent post.
func photoEvent(id string) map[string]string {
	return map[string]string{
		"Ce-Specversion": "1.0",
		"Ce-Id":          id,
		"Ce-Source":      "/test/root",
		"Ce-Type":        "dev.ferry.csvstats",
		"Content-Type":   "text/csv",
	}
}

// startIngress runs New and Start with cfg plus K_SINK at a new broker
// stub, and Stop at cleanup.
func startIngress(t *testing.T, cfg map[string]string) (*ferry.Ingress,
	*brokerStub) {
	t.Helper()
	b := &brokerStub{}
	hs := httptest.NewServer(b)
	t.Cleanup(hs.Close)
	cfg[ferry.KeySink] = hs.URL
	cfg[ferry.KeyLogLevel] = "error"

	f := ferry.New()
	if err := f.Start(context.Background(), cfg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	return f, b
}

// driveTask posts an event, delivers the function's reply to /v1/records
// as the results Trigger would, and checks the task's states and result
// through the API.
func driveTask(t *testing.T, f *ferry.Ingress, b *brokerStub, id string) {
	t.Helper()
	w := call(t, f, http.MethodPost, "/v1/events", photoEvent(id), "a,b\n1,2\n")
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST /v1/events = %d %s, want 202", w.Code, w.Body)
	}
	var acc ingress.Acceptance
	if err := json.Unmarshal(w.Body.Bytes(), &acc); err != nil {
		t.Fatal(err)
	}
	got := b.received()
	if len(got) != 1 || got[0].ID() != id ||
		got[0].Extensions()["correlationid"] != acc.ID {
		t.Fatalf("the Broker got %v, want %s with correlationid %s", got, id,
			acc.ID)
	}
	if s := taskState(t, f, acc.ID); s != "accepted" {
		t.Errorf("state after 202 = %s, want accepted", s)
	}

	reply := map[string]string{
		"Ce-Specversion":   "1.0",
		"Ce-Id":            "reply-" + id,
		"Ce-Source":        "/ferry/functions/csvstats",
		"Ce-Type":          "dev.ferry.csvstats.done",
		"Ce-Correlationid": acc.ID,
		"Ce-Causationid":   id,
		"Content-Type":     "application/json",
	}
	w = call(t, f, http.MethodPost, "/v1/records", reply, `{"rows":1}`)
	if w.Code != http.StatusNoContent {
		t.Fatalf("POST /v1/records = %d %s, want 204", w.Code, w.Body)
	}
	if s := taskState(t, f, acc.ID); s != "succeeded" {
		t.Errorf("state after the reply = %s, want succeeded", s)
	}
	w = call(t, f, http.MethodGet, "/v1/tasks/"+acc.ID+"/result", nil, "")
	if w.Code != http.StatusOK || w.Body.String() != `{"rows":1}` {
		t.Errorf("result = %d %q, want 200 {\"rows\":1}", w.Code, w.Body)
	}

	// The same event again is the same task, and is not posted again.
	w = call(t, f, http.MethodPost, "/v1/events", photoEvent(id), "a,b\n1,2\n")
	if w.Code != http.StatusAccepted ||
		!strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Errorf("repost = %d %s, want 202 duplicate", w.Code, w.Body)
	}
	if n := len(b.received()); n != 1 {
		t.Errorf("the Broker got %d posts, want 1", n)
	}
}

func taskState(t *testing.T, f *ferry.Ingress, id string) string {
	t.Helper()
	w := call(t, f, http.MethodGet, "/v1/tasks/"+id, nil, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /v1/tasks/%s = %d %s", id, w.Code, w.Body)
	}
	var task struct{ State string }
	if err := json.Unmarshal(w.Body.Bytes(), &task); err != nil {
		t.Fatal(err)
	}
	return task.State
}

func TestIngressThroughTheInstancedHTTPInterface(t *testing.T) {
	f := ferry.New()
	ctx := context.Background()

	// Before Start: not ready, and requests are answered 503.
	if ok, err := f.Ready(ctx); ok || err != nil {
		t.Errorf("Ready before Start = %v, %v; want false, nil", ok, err)
	}
	w := call(t, f, http.MethodGet, "/v1/tasks/x", nil, "")
	if w.Code != http.StatusServiceUnavailable ||
		w.Header().Get("Content-Type") != ingress.ProblemContentType {
		t.Errorf("Handle before Start = %d %s, want 503 problem", w.Code,
			w.Header().Get("Content-Type"))
	}

	b := &brokerStub{}
	hs := httptest.NewServer(b)
	defer hs.Close()
	cfg := map[string]string{
		ferry.KeySink:     hs.URL,
		ferry.KeyDataDir:  t.TempDir(),
		ferry.KeyLogLevel: "error",
	}
	if err := f.Start(ctx, cfg); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if ok, err := f.Ready(ctx); !ok || err != nil {
		t.Errorf("Ready after Start = %v, %v; want true, nil", ok, err)
	}
	if ok, _ := f.Alive(ctx); !ok {
		t.Errorf("Alive after Start = false")
	}

	driveTask(t, f, b, "photo-1")

	// The Broker down: nothing is accepted, the producer is told to retry.
	b.mu.Lock()
	b.down = true
	b.mu.Unlock()
	w = call(t, f, http.MethodPost, "/", photoEvent("photo-2"), "x")
	if w.Code != http.StatusServiceUnavailable ||
		!strings.Contains(w.Body.String(), "broker-unavailable") {
		t.Errorf("post while the Broker is down = %d %s, want 503 "+
			"broker-unavailable", w.Code, w.Body)
	}

	if err := f.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if ok, _ := f.Alive(ctx); ok {
		t.Errorf("Alive after Stop = true")
	}
	if ok, _ := f.Ready(ctx); ok {
		t.Errorf("Ready after Stop = true")
	}
	if w := call(t, f, http.MethodGet, "/v1/tasks/x", nil, ""); w.Code !=
		http.StatusServiceUnavailable {
		t.Errorf("Handle after Stop = %d, want 503", w.Code)
	}
	if err := f.Start(ctx, cfg); !errors.Is(err, ferry.ErrStopped) {
		t.Errorf("Start after Stop = %v, want ErrStopped", err)
	}
}

func TestIngressKeepsTasksAcrossRestartsOnDisk(t *testing.T) {
	dir := t.TempDir()
	f, _ := startIngress(t, map[string]string{ferry.KeyDataDir: dir})
	w := call(t, f, http.MethodPost, "/v1/events", photoEvent("p"), "x")
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST = %d", w.Code)
	}
	var acc ingress.Acceptance
	_ = json.Unmarshal(w.Body.Bytes(), &acc)
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	g, _ := startIngress(t, map[string]string{ferry.KeyDataDir: dir})
	if s := taskState(t, g, acc.ID); s != "accepted" {
		t.Errorf("after a restart: state %s, want accepted", s)
	}
}

func TestStartWithoutSinkFails(t *testing.T) {
	f := ferry.New()
	err := f.Start(context.Background(), map[string]string{
		ferry.KeyDataDir: t.TempDir()})
	if !errors.Is(err, ferry.ErrNoSink) {
		t.Fatalf("Start = %v, want ErrNoSink", err)
	}
	if ok, _ := f.Ready(context.Background()); ok {
		t.Errorf("Ready after a failed Start = true")
	}
}

func TestStartRefusesBadValues(t *testing.T) {
	for key, value := range map[string]string{
		ferry.KeyWaitMax:  "soon",
		ferry.KeyLogLevel: "loud",
		ferry.KeySink:     "broker-without-scheme",
	} {
		cfg := map[string]string{ferry.KeySink: "http://127.0.0.1:1",
			ferry.KeyDataDir: t.TempDir(), key: value}
		if err := ferry.New().Start(context.Background(), cfg); err == nil {
			t.Errorf("Start with %s=%q: no error", key, value)
		}
	}
}

// redisURL is FERRY_REDIS_URL or the machine's Redis.
func redisURL() string {
	if u := os.Getenv("FERRY_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// needRedis returns a client for the test's Redis, skipping the test when
// it is unreachable, except under CI=true, where that fails it.
func needRedis(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatalf("FERRY_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is unreachable under CI: %v", redisURL(), err)
		}
		t.Skipf("Redis at %s is unreachable: %v", redisURL(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIngressOnRedisSharesTasksBetweenReplicas(t *testing.T) {
	rc := needRedis(t)
	prefix := fmt.Sprintf("ferry-test-root-%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rc.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			rc.Del(ctx, iter.Val())
		}
	})
	cfg := func() map[string]string {
		return map[string]string{ferry.KeyRedisURL: redisURL(),
			ferry.KeyRedisPrefix: prefix}
	}

	f, b := startIngress(t, cfg())
	driveTask(t, f, b, "redis-photo-1")

	// A second replica on the same Redis answers for the same task and
	// knows the event: it does not post it again.
	g, b2 := startIngress(t, cfg())
	w := call(t, g, http.MethodPost, "/v1/events", photoEvent("redis-photo-1"),
		"a,b\n1,2\n")
	if w.Code != http.StatusAccepted ||
		!strings.Contains(w.Body.String(), `"duplicate":true`) {
		t.Errorf("repost to replica 2 = %d %s, want 202 duplicate", w.Code,
			w.Body)
	}
	if n := len(b2.received()); n != 0 {
		t.Errorf("replica 2 posted %d events, want 0", n)
	}

	keys, err := rc.Keys(context.Background(), prefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("keys under %s = %v, %v; want the task's", prefix, keys, err)
	}
}
