package conformance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/eventing/embedded"
	"github.com/ferryfn/ferry/ingress"
	"github.com/ferryfn/ferry/tasks"
)

// TestRetryAfterMaxIsRefusedInManifests: a default Knative cluster's
// webhook refuses spec.delivery.retryAfterMax (the delivery-retryafter
// feature is off by default), and so does `ferry dev`, which validates
// manifests with Knative's default features.
func TestRetryAfterMaxIsRefusedInManifests(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	_, err := tryStart(t, brokerDoc(""), triggerDoc("patient", sub.URL(),
		deliveryDoc(1, delay, "", "retryAfterMax: PT10S")))
	if err == nil || !strings.Contains(err.Error(), "patient") ||
		!strings.Contains(err.Error(), "retryAfterMax") {
		t.Fatalf("Start: %v, want an error naming Trigger patient and "+
			"spec.delivery.retryAfterMax", err)
	}
}

// TestRetryAfterHonouredWithRetryAfterMax: with retryAfterMax set, the
// wait before retrying a 429 or 503 is at least its Retry-After (seconds
// or an HTTP date), capped at retryAfterMax; other codes ignore it.
//
// Manifests cannot set retryAfterMax under `ferry dev` (see above), so
// this test assembles the same parts Start does (embedded queue, Broker,
// task store, ingress) around a DeliverySpec given in Go.
func TestRetryAfterHonouredWithRetryAfterMax(t *testing.T) {
	t.Parallel()
	// An HTTP date 2 s ahead of the answer, at a second's precision: more
	// than 1 s after the first request.
	inTwoSeconds := func() string {
		return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
	}
	cases := []struct {
		name   string
		after  func() string
		code   int
		minGap time.Duration
	}{
		{"seconds-429", seconds("1"), http.StatusTooManyRequests, time.Second},
		{"seconds-503", seconds("1"), http.StatusServiceUnavailable, time.Second},
		// An hour asked, capped at retryAfterMax (1.5 s).
		{"capped", seconds("3600"), http.StatusServiceUnavailable,
			1500 * time.Millisecond},
		{"date", inTwoSeconds, http.StatusTooManyRequests, time.Second},
	}
	subs := map[string]*subscriber{}
	var triggers []*eventingv1.Trigger
	for _, c := range cases {
		subs[c.name] = newSubscriber(t, retryAfter(1, c.code, c.after))
		triggers = append(triggers, uriTrigger(t, c.name, subs[c.name].URL(),
			"dev.conformance."+c.name))
	}
	retry, policy := int32(1), eventingduckv1.BackoffPolicyLinear
	backoff, max := "PT0.1S", "PT1.5S"
	s := startAssembled(t, &eventingduckv1.DeliverySpec{Retry: &retry,
		BackoffPolicy: &policy, BackoffDelay: &backoff, RetryAfterMax: &max},
		triggers)

	ids := map[string]string{}
	for _, c := range cases {
		ids[c.name] = s.publish(binary(c.name, "dev.conformance."+c.name), nil)
	}
	for _, c := range cases {
		tk := s.awaitFinished(ids[c.name])
		if tk.State != "succeeded" || tk.Attempts != 2 {
			t.Errorf("%s: task %s after %d attempts, want succeeded after 2",
				c.name, tk.State, tk.Attempts)
			continue
		}
		gap := arrivalGaps(subs[c.name].received())[0]
		if gap < c.minGap {
			t.Errorf("%s: retried after %s, want at least %s", c.name, gap,
				c.minGap)
		}
	}
}

// TestRetryAfterOf500IsIgnored: only 429 and 503 make Retry-After count.
// A 500 asking for an hour, under a retryAfterMax of an hour, is retried
// after the backoff, well within the suite's deadline.
func TestRetryAfterOf500IsIgnored(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, retryAfter(1, http.StatusInternalServerError,
		seconds("3600")))
	retry, policy := int32(1), eventingduckv1.BackoffPolicyLinear
	backoff, max := "PT0.1S", "PT1H"
	s := startAssembled(t, &eventingduckv1.DeliverySpec{Retry: &retry,
		BackoffPolicy: &policy, BackoffDelay: &backoff, RetryAfterMax: &max},
		[]*eventingv1.Trigger{uriTrigger(t, "impatient", sub.URL(),
			"dev.conformance.impatient")})

	tk := s.awaitFinished(s.publish(binary("impatient",
		"dev.conformance.impatient"), nil))
	if tk.State != "succeeded" || tk.Attempts != 2 {
		t.Errorf("task %s after %d attempts, want succeeded after 2",
			tk.State, tk.Attempts)
	}
}

// uriTrigger is a Trigger of the test's Broker for events of type typ,
// with a URI subscriber.
func uriTrigger(t *testing.T, name, subscriber, typ string) *eventingv1.Trigger {
	t.Helper()
	u, err := apis.ParseURL(subscriber)
	if err != nil {
		t.Fatal(err)
	}
	tr := &eventingv1.Trigger{}
	tr.Name = name
	tr.Spec.Broker = brokerName
	tr.Spec.Subscriber = duckv1.Destination{URI: u}
	tr.Spec.Filter = &eventingv1.TriggerFilter{
		Attributes: eventingv1.TriggerFilterAttributes{"type": typ}}
	return tr
}

// startAssembled runs the Broker of `ferry dev` (embedded queue, disk
// task store, ingress) with a delivery spec given in Go rather than read
// from a manifest.
func startAssembled(t *testing.T, delivery *eventingduckv1.DeliverySpec,
	triggers []*eventingv1.Trigger) *stack {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "ferry.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := tasks.NewDiskStore(db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := embedded.Open(db, brokerName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := eventing.NewBroker(eventing.Params{Name: brokerName,
		Namespace: "default", Delivery: delivery, Triggers: triggers,
		Queue: q, Resolver: uriResolver{}, Observer: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	api := ingress.New(ingress.Params{Publisher: b, Tasks: store,
		Brokers: map[string]eventing.Publisher{"default/" + brokerName: b}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		db.Close()
	})
	return &stack{t: t, url: srv.URL}
}

// uriResolver reaches URI subscribers over HTTP, as `ferry dev` does.
type uriResolver struct{}

func (uriResolver) Resolve(d duckv1.Destination) (eventing.Subscriber, error) {
	u := d.URI.URL()
	return eventing.Subscriber{URL: u, Transport: http.DefaultTransport}, nil
}
