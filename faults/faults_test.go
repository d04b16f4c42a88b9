//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/internal/testservices"
)

// sink is a subscriber that records the ids it got and answers with
// status(), or 200 when status is nil.
type sink struct {
	mu     sync.Mutex
	got    map[string]int
	status func() int
	srv    *httptest.Server
}

func newSink(t *testing.T, status func() int) *sink {
	s := &sink{got: map[string]int{}, status: status}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		code := http.StatusOK
		if s.status != nil {
			code = s.status()
		}
		if code/100 == 2 {
			s.mu.Lock()
			s.got[r.Header.Get("Ce-Id")]++
			s.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[id] > 0
}

// stack starts ferry dev on RabbitMQ with the given manifests, in a
// namespace of its own.
func stack(t *testing.T, manifests string) *devstack.Stack {
	t.Helper()
	amqpURL, _ := testservices.Services(t)
	ns := fmt.Sprintf("ferryfault-%08x", rand.Uint32())
	testservices.CleanupRabbit(t, amqpURL, ns, "default")

	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	if err := os.MkdirAll(config, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "all.yaml"), []byte(manifests), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", DataDir: dir, FunctionsDir: filepath.Join(dir, "none"),
		ConfigDir: config, Namespace: ns, BrokerURL: amqpURL,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func post(client *http.Client, base string) (id string, resp *http.Response, err error) {
	id = uuid.NewString()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader([]byte(`{}`)))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Ce-Source", "/tests/faults")
	req.Header.Set("Ce-Type", "dev.ferry.test.fault")
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return id, resp, err
}

func rabbitmqctl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

func readyz(base string) int {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitReadyz(t *testing.T, base string, want int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); {
		if readyz(base) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz never answered %d within %s", want, within)
}

func TestRabbitMQRestartDuringStreamLosesNoAcceptedEvent(t *testing.T) {
	sub := newSink(t, nil)
	s := stack(t, fmt.Sprintf(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: all}
spec:
  broker: default
  subscriber: {uri: %q}
`, sub.srv.URL))
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "start_app").Run() })

	var (
		accepted    []string
		unavailable int
		done        = make(chan struct{})
	)
	client := &http.Client{Timeout: 15 * time.Second}
	go func() {
		defer close(done)
		for end := time.Now().Add(12 * time.Second); time.Now().Before(end); {
			id, resp, err := post(client, s.URL())
			switch {
			case err != nil:
				t.Errorf("post: %v (a request must never hang or break)", err)
			case resp.StatusCode == http.StatusAccepted:
				accepted = append(accepted, id)
			case resp.StatusCode == http.StatusServiceUnavailable:
				unavailable++
				if resp.Header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
			default:
				t.Errorf("post: %d", resp.StatusCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	time.Sleep(2 * time.Second)
	rabbitmqctl(t, "stop_app")
	waitReadyz(t, s.URL(), http.StatusServiceUnavailable, 10*time.Second)
	time.Sleep(3 * time.Second)
	rabbitmqctl(t, "start_app")
	waitReadyz(t, s.URL(), http.StatusOK, 60*time.Second)
	<-done

	if unavailable == 0 {
		t.Errorf("no 503 while RabbitMQ was down")
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range accepted {
		for !sub.has(id) {
			if time.Now().After(deadline) {
				t.Fatalf("event %s got a 202 and was never delivered", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%d events accepted and delivered, %d answered 503 while RabbitMQ was down",
		len(accepted), unavailable)
}

func TestDeadLetterSinkDownLosesNothing(t *testing.T) {
	failing := newSink(t, func() int { return http.StatusInternalServerError })
	up := time.Now().Add(3 * time.Second)
	dls := newSink(t, func() int {
		if time.Now().Before(up) {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	s := stack(t, fmt.Sprintf(`apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: failing}
spec:
  broker: default
  subscriber: {uri: %q}
  delivery:
    retry: 1
    backoffPolicy: linear
    backoffDelay: PT0.05S
    deadLetterSink: {uri: %q}
`, failing.srv.URL, dls.srv.URL))

	var ids []string
	client := &http.Client{Timeout: 15 * time.Second}
	for i := 0; i < 10; i++ {
		id, resp, err := post(client, s.URL())
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %v %v", err, resp)
		}
		ids = append(ids, id)
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for !dls.has(id) {
			if time.Now().After(deadline) {
				t.Fatalf("event %s never reached the dead letter sink", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
