package conformance

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// delay is the backoff delay of the suite: short, to keep it fast. It is
// not PT0.05S: Knative's ISO-8601 reader (rickb777/date v1.13) keeps
// tenths of a second only, so PT0.05S is no delay at all, in Ferry as in
// Knative.
const delay = "PT0.1S"

func TestBrokerDeliveryAppliesWhenTriggerHasNone(t *testing.T) {
	t.Parallel()
	sink := newSubscriber(t, accept)
	survives := newSubscriber(t, failFirst(3, http.StatusInternalServerError))
	exhausts := newSubscriber(t, failFirst(4, http.StatusInternalServerError))
	s := startStack(t, brokerDoc(deliveryDoc(3, delay, sink.URL())),
		triggerDoc("survives", survives.URL(), typeFilter("dev.conformance.three")),
		triggerDoc("exhausts", exhausts.URL(), typeFilter("dev.conformance.four")))

	three := s.awaitFinished(s.publish(binary("three", "dev.conformance.three"), nil))
	if three.State != "succeeded" || three.Attempts != 4 {
		t.Errorf("3 failures with retry 3: task %s after %d attempts, want "+
			"succeeded after 4", three.State, three.Attempts)
	}
	if n := len(survives.received()); n != 4 {
		t.Errorf("3 failures with retry 3: subscriber got %d requests, want 4", n)
	}

	four := s.awaitFinished(s.publish(binary("four", "dev.conformance.four"), nil))
	if four.State != "failed" || four.Attempts != 4 {
		t.Errorf("4 failures with retry 3: task %s after %d attempts, want "+
			"failed after 4", four.State, four.Attempts)
	}
	got := sink.await(t, 1)
	settle()
	if n := len(exhausts.received()); n != 4 {
		t.Errorf("4 failures with retry 3: subscriber got %d requests, want 4", n)
	}
	checkReceived(t, sink, []string{"four"})
	if got[0].ce("id") != "four" {
		t.Errorf("dead letter sink got %q, want four", got[0].ce("id"))
	}
}

func TestTriggerDeliveryOverridesBrokerDelivery(t *testing.T) {
	t.Parallel()
	brokerSink := newSubscriber(t, accept)
	triggerSink := newSubscriber(t, accept)
	withSink := newSubscriber(t, always(http.StatusInternalServerError, nil))
	withoutSink := newSubscriber(t, always(http.StatusInternalServerError, nil))
	s := startStack(t, brokerDoc(deliveryDoc(5, delay, brokerSink.URL())),
		triggerDoc("with-sink", withSink.URL(), typeFilter("dev.conformance.a"),
			deliveryDoc(1, delay, triggerSink.URL())),
		triggerDoc("without-sink", withoutSink.URL(),
			typeFilter("dev.conformance.b"), deliveryDoc(1, delay, "")))

	a := s.awaitFinished(s.publish(binary("a", "dev.conformance.a"), nil))
	b := s.awaitFinished(s.publish(binary("b", "dev.conformance.b"), nil))
	triggerSink.await(t, 1)
	settle()

	// retry 1 of the Trigger, not retry 5 of the Broker: two attempts.
	for name, tk := range map[string]task{"with-sink": a, "without-sink": b} {
		if tk.State != "failed" || tk.Attempts != 2 {
			t.Errorf("%s: task %s after %d attempts, want failed after 2",
				name, tk.State, tk.Attempts)
		}
	}
	if n, m := len(withSink.received()), len(withoutSink.received()); n != 2 || m != 2 {
		t.Errorf("subscribers got %d and %d requests, want 2 each", n, m)
	}
	// The Trigger's delivery replaces the Broker's as a whole: without a
	// sink of its own, the Broker's is not used.
	checkReceived(t, triggerSink, []string{"a"})
	checkReceived(t, brokerSink, nil)
}

func TestTriggerDeadLetterSinkIsUsedBeforeBrokers(t *testing.T) {
	t.Parallel()
	brokerSink := newSubscriber(t, accept)
	triggerSink := newSubscriber(t, accept)
	sub := newSubscriber(t, always(http.StatusServiceUnavailable, nil))
	s := startStack(t, brokerDoc(deliveryDoc(0, delay, brokerSink.URL())),
		triggerDoc("own-sink", sub.URL(), deliveryDoc(0, delay, triggerSink.URL())))

	s.awaitState(s.publish(binary("dead", "dev.conformance.dead"), nil), "failed")
	triggerSink.await(t, 1)
	settle()
	checkReceived(t, triggerSink, []string{"dead"})
	checkReceived(t, brokerSink, nil)
}

func TestLinearBackoffRetry5SurvivesDroppedDeliveries(t *testing.T) {
	t.Parallel()
	const step = 100 * time.Millisecond
	sub := newSubscriber(t, failFirst(5, http.StatusServiceUnavailable))
	s := startStack(t, brokerDoc(""), triggerDoc("flaky", sub.URL(),
		deliveryDoc(5, delay, "")))

	tk := s.awaitFinished(s.publish(binary("flaky", "dev.conformance.flaky"), nil))
	if tk.State != "succeeded" || tk.Attempts != 6 {
		t.Fatalf("task %s after %d attempts, want succeeded after 6",
			tk.State, tk.Attempts)
	}
	got := sub.received()
	if len(got) != 6 {
		t.Fatalf("subscriber got %d requests, want 6", len(got))
	}
	// Linear: the wait before retry n is at least n·delay, so the gaps
	// grow. Only lower bounds and order are checked, never speed.
	gaps := arrivalGaps(got)
	for i, g := range gaps {
		if min := time.Duration(i+1) * step; g < min {
			t.Errorf("gap before retry %d is %s, want at least %s", i+1, g, min)
		}
	}
	if gaps[4] <= gaps[0] {
		t.Errorf("gaps %v do not grow", gaps)
	}
	for _, r := range got {
		if r.ce("id") != "flaky" {
			t.Errorf("retry carries id %q, want the same event", r.ce("id"))
		}
	}
}

func TestExponentialBackoffGapsDouble(t *testing.T) {
	t.Parallel()
	const step = 100 * time.Millisecond
	sub := newSubscriber(t, failFirst(3, http.StatusInternalServerError))
	s := startStack(t, brokerDoc(""), triggerDoc("flaky", sub.URL(),
		"delivery:\n  retry: 3\n  backoffPolicy: exponential\n"+
			"  backoffDelay: PT0.1S\n"))

	s.awaitState(s.publish(binary("flaky", "dev.conformance.flaky"), nil),
		"succeeded")
	gaps := arrivalGaps(sub.await(t, 4))
	for i, g := range gaps {
		// delay·2^n before retry n: 200 ms, 400 ms, 800 ms at least.
		if min := step << (i + 1); g < min {
			t.Errorf("gap before retry %d is %s, want at least %s", i+1, g, min)
		}
	}
	if gaps[2] <= gaps[0] {
		t.Errorf("gaps %v do not grow", gaps)
	}
}

// arrivalGaps are the times between consecutive requests.
func arrivalGaps(rs []request) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(rs); i++ {
		gaps = append(gaps, rs[i].At.Sub(rs[i-1].At))
	}
	return gaps
}

func TestRetryableAnswersAreRetried(t *testing.T) {
	t.Parallel()
	codes := []int{404, 408, 409, 429, 500, 502, 503, 504}
	subs := map[string]*subscriber{}
	var docs []string
	for _, code := range codes {
		name := fmt.Sprintf("code-%d", code)
		subs[name] = newSubscriber(t, failFirst(1, code))
		docs = append(docs, triggerDoc(name, subs[name].URL(),
			typeFilter("dev.conformance."+name), deliveryDoc(1, delay, "")))
	}
	// Timeout: the first attempt outlasts delivery.timeout (0.5 s).
	subs["timeout"] = newSubscriber(t, func(n int, w http.ResponseWriter,
		r *http.Request) {
		if n == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(waitMax):
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	docs = append(docs, triggerDoc("timeout", subs["timeout"].URL(),
		typeFilter("dev.conformance.timeout"),
		deliveryDoc(1, delay, "", "timeout: PT0.5S")))
	// Connection refused: nothing listens; the dead letter sink shows
	// the second attempt was made.
	refusedSink := newSubscriber(t, accept)
	docs = append(docs, triggerDoc("refused", closedURL(t),
		typeFilter("dev.conformance.refused"),
		deliveryDoc(1, delay, refusedSink.URL())))
	s := startStack(t, append([]string{brokerDoc("")}, docs...)...)

	for name, sub := range subs {
		tk := s.awaitFinished(s.publish(binary(name, "dev.conformance."+name), nil))
		if tk.State != "succeeded" || tk.Attempts != 2 {
			t.Errorf("%s: task %s after %d attempts, want succeeded after 2",
				name, tk.State, tk.Attempts)
		}
		if n := len(sub.received()); n != 2 {
			t.Errorf("%s: subscriber got %d requests, want 2", name, n)
		}
	}
	tk := s.awaitFinished(s.publish(binary("refused", "dev.conformance.refused"), nil))
	if tk.State != "failed" || tk.Attempts != 2 {
		t.Errorf("refused: task %s after %d attempts, want failed after 2",
			tk.State, tk.Attempts)
	}
	if got := refusedSink.await(t, 1); got[0].ce("knativeerrorcode") != "0" {
		t.Errorf("refused: knativeerrorcode %q, want 0 (no answer)",
			got[0].ce("knativeerrorcode"))
	}
}

func TestOtherClientErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	codes := []int{400, 401, 403, 405, 413, 415, 422}
	sink := newSubscriber(t, accept)
	subs := map[int]*subscriber{}
	docs := []string{brokerDoc(deliveryDoc(3, delay, sink.URL()))}
	for _, code := range codes {
		subs[code] = newSubscriber(t, failFirst(1, code))
		docs = append(docs, triggerDoc(fmt.Sprintf("code-%d", code),
			subs[code].URL(), typeFilter(fmt.Sprintf("dev.conformance.%d", code))))
	}
	s := startStack(t, docs...)

	for _, code := range codes {
		id := strconv.Itoa(code)
		tk := s.awaitFinished(s.publish(binary(id, "dev.conformance."+id), nil))
		if tk.State != "failed" || tk.Attempts != 1 || tk.Code != code {
			t.Errorf("%d: task %s after %d attempts with code %d, want "+
				"failed after 1 with %d", code, tk.State, tk.Attempts, tk.Code, code)
		}
	}
	got := sink.await(t, len(codes))
	settle()
	for _, code := range codes {
		if n := len(subs[code].received()); n != 1 {
			t.Errorf("%d: subscriber got %d requests, want 1", code, n)
		}
	}
	for _, r := range got {
		if r.ce("knativeerrorcode") != r.ce("id") {
			t.Errorf("dead letter of %s: knativeerrorcode %q", r.ce("id"),
				r.ce("knativeerrorcode"))
		}
	}
	if n := len(sink.received()); n != len(codes) {
		t.Errorf("dead letter sink got %d events, want %d", n, len(codes))
	}
}

func TestRetryAfterIgnoredWithoutRetryAfterMax(t *testing.T) {
	t.Parallel()
	// Retry-After asks for an hour; without retryAfterMax the backoff
	// (50 ms) decides, so the retry comes within the suite's deadline.
	for _, code := range []int{http.StatusTooManyRequests,
		http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			sub := newSubscriber(t, retryAfter(1, code, seconds("3600")))
			s := startStack(t, brokerDoc(""),
				triggerDoc("later", sub.URL(), deliveryDoc(1, delay, "")))
			tk := s.awaitFinished(s.publish(binary("later", "dev.conformance.later"), nil))
			if tk.State != "succeeded" || tk.Attempts != 2 {
				t.Errorf("task %s after %d attempts, want succeeded after 2",
					tk.State, tk.Attempts)
			}
		})
	}
}

// retryAfter answers the first n requests with code and a Retry-After
// header whose value after gives at the time of the answer, and 202
// after.
func retryAfter(n, code int, after func() string) answer {
	return func(i int, w http.ResponseWriter, _ *http.Request) {
		if i <= n {
			w.Header().Set("Retry-After", after())
			w.WriteHeader(code)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

// seconds is a fixed Retry-After value.
func seconds(v string) func() string { return func() string { return v } }

func TestDeliveryUsesBinaryModeWithKnativeHeaders(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	s := startStack(t, brokerDoc(""), triggerDoc("all", sub.URL()))

	s.publishStructured(map[string]any{"specversion": "1.0", "id": "hdr",
		"source": "/conformance", "type": "dev.conformance.headers",
		"datacontenttype": "text/plain", "data": "hello"})
	got := sub.await(t, 1)[0]
	for k, want := range map[string]string{
		"Kn-Namespace": "default", "Prefer": "reply",
		"Ce-Id": "hdr", "Ce-Specversion": "1.0", "Content-Type": "text/plain",
	} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if string(got.Body) != "hello" {
		t.Errorf("body %q, want the data alone (binary mode)", got.Body)
	}
}

// settle gives a delivery that should not happen the chance to show up
// before a test counts what arrived. It is a window for a negative check,
// not a claim about speed.
func settle() { time.Sleep(300 * time.Millisecond) }
