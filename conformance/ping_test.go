package conformance

import (
	"strings"
	"testing"
	"time"

	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"

	"github.com/ferryfn/ferry/eventing"
)

// pingDoc is a PingSource sinking into the test's Broker.
func pingDoc(name, schedule, more string) string {
	return "apiVersion: sources.knative.dev/v1\nkind: PingSource\n" +
		"metadata:\n  name: " + name + "\nspec:\n  schedule: \"" + schedule +
		"\"\n" + indent(more, "  ") + "  sink:\n    ref:\n" +
		"      apiVersion: eventing.knative.dev/v1\n      kind: Broker\n" +
		"      name: " + brokerName + "\n"
}

func TestPingSourceFiresIntoBroker(t *testing.T) {
	t.Parallel()
	sub := newSubscriber(t, accept)
	// Six fields: every second, which Knative's parser takes too.
	s := startStack(t, brokerDoc(""),
		pingDoc("every-second", "*/1 * * * * *",
			"contentType: application/json\ndata: '{\"report\":\"daily\"}'\n"),
		triggerDoc("pings", sub.URL(), typeFilter("dev.knative.sources.ping")))

	got := sub.await(t, 2)
	for _, r := range got[:2] {
		if v := r.ce("source"); v != "/apis/v1/namespaces/default/pingsources/every-second" {
			t.Errorf("source %q, want Knative's PingSource source", v)
		}
		if v := r.ce("type"); v != "dev.knative.sources.ping" {
			t.Errorf("type %q", v)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if string(r.Body) != `{"report":"daily"}` {
			t.Errorf("data %q, want the PingSource's", r.Body)
		}
		if r.ce("time") == "" || r.ce("id") == "" {
			t.Errorf("no time or id: %v", r.Header)
		}
	}
	if got[0].ce("id") == got[1].ce("id") {
		t.Errorf("two firings share id %q", got[0].ce("id"))
	}
	s.awaitState(s.task(got[0].ce("correlationid")).ID, "succeeded")
}

func TestPingSourceWithEveryStopsStart(t *testing.T) {
	t.Parallel()
	_, err := tryStart(t, brokerDoc(""), pingDoc("minutely", "@every 1m", ""))
	if err == nil || !strings.Contains(err.Error(), "minutely") ||
		!strings.Contains(err.Error(), "schedule") {
		t.Fatalf("Start: %v, want an error naming PingSource minutely "+
			"and its schedule", err)
	}
}

func TestPingSourceHonoursTimezone(t *testing.T) {
	t.Parallel()
	cases := []struct {
		tz, schedule string
		after, want  string
	}{
		// 09:00 at UTC+14 is 19:00 UTC the day before.
		{"Pacific/Kiritimati", "0 9 * * *", "2026-01-01T00:00:00Z",
			"2026-01-01T19:00:00Z"},
		// 09:00 at UTC-10 is 19:00 UTC the same day.
		{"Pacific/Honolulu", "0 9 * * *", "2026-01-01T00:00:00Z",
			"2026-01-01T19:00:00Z"},
		// Berlin: midnight on the day daylight saving time starts.
		{"Europe/Berlin", "0 0 * * *", "2026-03-28T12:00:00Z",
			"2026-03-28T23:00:00Z"},
		{"Europe/Berlin", "0 0 * * *", "2026-03-29T12:00:00Z",
			"2026-03-29T22:00:00Z"},
		// Without a timezone the schedule is in UTC.
		{"", "0 9 * * *", "2026-01-01T00:00:00Z", "2026-01-01T09:00:00Z"},
	}
	for _, c := range cases {
		spec := &sourcesv1.PingSource{}
		spec.Name = "tz"
		spec.Spec.Schedule = c.schedule
		spec.Spec.Timezone = c.tz
		p, err := eventing.NewPing(spec, "default")
		if err != nil {
			t.Fatalf("%s: %v", c.tz, err)
		}
		after, _ := time.Parse(time.RFC3339, c.after)
		want, _ := time.Parse(time.RFC3339, c.want)
		if got := p.Next(after); !got.Equal(want) {
			t.Errorf("%q in %q after %s: next %s, want %s", c.schedule, c.tz,
				c.after, got.UTC().Format(time.RFC3339), c.want)
		}
	}
}
