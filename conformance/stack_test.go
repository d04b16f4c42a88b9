package conformance

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryfn/ferry/devstack"
)

// brokerName is the Broker every test declares; events are posted to
// /default/<brokerName>, Knative's Broker ingress path.
const brokerName = "conformance"

// stack is a running `ferry dev` with the manifests of one test, as the
// tests reach it: over HTTP.
type stack struct {
	t   *testing.T
	url string
}

// URL is the stack's base URL, such as http://127.0.0.1:41234.
func (s *stack) URL() string { return s.url }

// brokerURL is where the test's Broker takes events.
func (s *stack) brokerURL() string {
	return s.URL() + "/default/" + brokerName
}

// startStack writes docs into a fresh config folder and starts `ferry dev`
// on it, as the developer would: no functions, a fresh data directory, a
// free port. It fails the test when the stack does not start.
func startStack(t *testing.T, docs ...string) *stack {
	t.Helper()
	s, err := tryStart(t, docs...)
	if err != nil {
		t.Fatalf("start ferry dev: %v", err)
	}
	return s
}

// tryStart is startStack that returns Start's error.
func tryStart(t *testing.T, docs ...string) (*stack, error) {
	t.Helper()
	cfg := t.TempDir()
	yaml := strings.Join(docs, "---\n")
	err := os.WriteFile(filepath.Join(cfg, "eventing.yaml"), []byte(yaml), 0o644)
	if err != nil {
		t.Fatalf("write manifests: %v", err)
	}
	s, err := devstack.Start(context.Background(), devstack.Config{
		Addr:         "127.0.0.1:0",
		DataDir:      t.TempDir(),
		FunctionsDir: t.TempDir(),
		ConfigDir:    cfg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t},
			&slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close ferry dev: %v", err)
		}
	})
	return &stack{t: t, url: s.URL()}, nil
}

// testWriter sends the stack's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// brokerDoc is the test's Broker manifest; spec holds the YAML under
// spec (a delivery, usually), unindented.
func brokerDoc(spec string) string {
	doc := "apiVersion: eventing.knative.dev/v1\nkind: Broker\n" +
		"metadata:\n  name: " + brokerName + "\n"
	if spec != "" {
		doc += "spec:\n" + indent(spec, "  ")
	}
	return doc
}

// triggerDoc is a Trigger of the test's Broker whose subscriber is the URI
// subscriber; spec holds more YAML under spec (filter, filters, delivery),
// unindented.
func triggerDoc(name, subscriber string, spec ...string) string {
	doc := fmt.Sprintf("apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"+
		"metadata:\n  name: %s\nspec:\n  broker: %s\n  subscriber:\n"+
		"    uri: %s\n", name, brokerName, subscriber)
	for _, s := range spec {
		doc += indent(s, "  ")
	}
	return doc
}

// deliveryDoc is a spec.delivery block: retry, linear backoff of delay,
// and the dead letter sink when sink is not "".
func deliveryDoc(retry int, delay, sink string, more ...string) string {
	doc := fmt.Sprintf("delivery:\n  retry: %d\n  backoffPolicy: linear\n"+
		"  backoffDelay: %s\n", retry, delay)
	if sink != "" {
		doc += "  deadLetterSink:\n    uri: " + sink + "\n"
	}
	for _, m := range more {
		doc += "  " + m + "\n"
	}
	return doc
}

// typeFilter is a spec.filter matching events of type typ.
func typeFilter(typ string) string {
	return "filter:\n  attributes:\n    type: " + typ + "\n"
}

// indent puts prefix before every non-empty line of s.
func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
	}
	out := b.String()
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out
}
