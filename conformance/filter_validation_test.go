package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestInvalidCESQLStopsStart: an invalid CESQL expression in a Trigger is
// an error of devstack.Start naming the Trigger, never a panic and never a
// Trigger that matches everything. Several of these expressions make
// Knative v0.50.0's CESQL filter constructor panic.
func TestInvalidCESQLStopsStart(t *testing.T) {
	t.Parallel()
	for i, expr := range []string{
		"(", "type =", "type = 'a' AND", "'unterminated", "EXISTS",
		"type LIKE", "(type = 'a'", "type = 'a')", "NOT", "type IN ()", "@@",
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("broken-cesql-%d", i)
			sub := newSubscriber(t, accept)
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("cesql %q: Start panicked: %v", expr, p)
					}
				}()
				_, err = tryStart(t, brokerDoc(""), triggerDoc(name, sub.URL(),
					fmt.Sprintf("filters:\n- cesql: %q\n", expr)))
			}()
			if err == nil {
				t.Fatalf("cesql %q: Start succeeded, want an error", expr)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("cesql %q: error %q does not name Trigger %s",
					expr, err, name)
			}
		})
	}
}

// TestFilterWithTwoDialectsStopsStart: one filters element with two
// dialects cannot be built; Start fails naming the Trigger.
func TestFilterWithTwoDialectsStopsStart(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	_, err := tryStart(t, brokerDoc(""), triggerDoc("two-dialects", sub.URL(),
		"filters:\n- exact:\n    type: a\n  prefix:\n    type: b\n"))
	if err == nil || !strings.Contains(err.Error(), "two-dialects") {
		t.Fatalf("Start: %v, want an error naming Trigger two-dialects", err)
	}
}

// TestNonBooleanCESQLStopsStart: an expression that parses but yields no
// boolean ("type", "1 + 1") passes Knative's validation, and Knative's
// CESQL filter panics on it at the first event; Start refuses it.
func TestNonBooleanCESQLStopsStart(t *testing.T) {
	t.Parallel()
	for i, expr := range []string{"type", "1 + 1", "'x'", "LENGTH(type)"} {
		name := fmt.Sprintf("no-condition-%d", i)
		sub := newSubscriber(t, accept)
		_, err := tryStart(t, brokerDoc(""), triggerDoc(name, sub.URL(),
			fmt.Sprintf("filters:\n- cesql: %q\n", expr)))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("cesql %q: Start: %v, want an error naming Trigger %s",
				expr, err, name)
		}
	}
}

// TestCESQLYieldingNonBooleanNeverMatches: "myext" yields a string only
// on events that have the extension, so it gets past Start; on such an
// event the Trigger must not match (not even under "not"), the post must
// be accepted, and routing a reply (inside a delivery, where a panic would
// stop ferry dev) must go on.
func TestCESQLYieldingNonBooleanNeverMatches(t *testing.T) {
	t.Parallel()
	odd := newSubscriber(t, accept)
	echo := newSubscriber(t, reply(func(n int, _ *http.Request) (
		map[string]string, []byte) {
		return binary(fmt.Sprintf("echo-%d", n), "dev.conformance.echoed",
			"myext", "yes"), nil
	}))
	s := startStack(t, brokerDoc(""),
		triggerDoc("odd", odd.URL(), "filters:\n- cesql: \"myext\"\n"),
		triggerDoc("odd-not", odd.URL(),
			"filters:\n- not:\n    cesql: \"myext\"\n"+
				"- exact:\n    type: dev.conformance.echoed\n"),
		triggerDoc("echo", echo.URL(), typeFilter("dev.conformance.ask")))

	tk := s.awaitFinished(s.publish(binary("ask", "dev.conformance.ask",
		"myext", "yes"), nil))
	if tk.State != "succeeded" || len(tk.Events) != 2 {
		t.Errorf("task %s with %d events (%s), want succeeded with the "+
			"event and its reply", tk.State, len(tk.Events), tk.Reason)
	}
	checkReceived(t, echo, []string{"ask"})
	checkReceived(t, odd, nil)
}
