package bench

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// replyBody is the data of the subscriber's reply.
var replyBody = []byte(`{"ok":true}`)

// subscriber is the trivial function the dispatch and round-trip points
// deliver to: an HTTP handler on 127.0.0.1 that answers 200 at once, with
// no body, or (reply set) with a tiny binary-mode CloudEvent. It counts
// the distinct events among 1 to want that it got, and when the first and
// the last of them came, with the CPU time read at those two moments.
type subscriber struct {
	srv    *httptest.Server
	source string
	reply  bool
	meter  *cpuMeter

	mu       sync.Mutex
	seen     map[int64]bool
	want     int
	distinct int
	repeats  int
	first    time.Time
	last     time.Time
	cpuFirst CPU
	cpuAll   CPU
	all      chan struct{} // closed once want distinct events came
}

// newSubscriber starts a subscriber for the events of s; meter (nil for
// none) reads the CPU time at the first and the last event.
func newSubscriber(s scratch, want int, reply bool,
	meter *cpuMeter) *subscriber {
	sub := &subscriber{source: s.source + "/reply", reply: reply,
		meter: meter, seen: map[int64]bool{}, want: want,
		all: make(chan struct{})}
	sub.srv = httptest.NewServer(http.HandlerFunc(sub.serve))
	return sub
}

func (sub *subscriber) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Ce-Id")
	sub.note(id)
	if !sub.reply {
		w.WriteHeader(http.StatusOK)
		return
	}
	h := w.Header()
	h["Ce-Specversion"] = []string{event.CloudEventsVersionV1}
	h["Ce-Id"] = []string{"r" + id}
	h["Ce-Source"] = []string{sub.source}
	h["Ce-Type"] = []string{replyType}
	h["Content-Type"] = []string{contentType}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(replyBody)
}

// note counts a delivery of the event with id.
func (sub *subscriber) note(id string) {
	seq, err := strconv.ParseInt(id, 10, 64)
	now := time.Now()
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if err != nil || seq < 1 || seq > int64(sub.want) {
		return
	}
	if sub.seen[seq] {
		sub.repeats++
		return
	}
	sub.seen[seq] = true
	sub.distinct++
	if sub.distinct == 1 {
		sub.first = now
		sub.cpuFirst = sub.meter.read()
	}
	sub.last = now
	if sub.distinct == sub.want {
		sub.cpuAll = sub.meter.read()
		close(sub.all)
	}
}

// drained is what the subscriber got of events pre-published events:
// distinct events, repeated deliveries, the time from the first distinct
// event to the last, and the CPU time in between when every event came.
func (sub *subscriber) drained(events int) Drain {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	d := Drain{Events: events, Distinct: sub.distinct, Repeats: sub.repeats,
		Span: sub.last.Sub(sub.first)}
	if sub.distinct == sub.want {
		d.CPU = sub.cpuAll.Sub(sub.cpuFirst)
	}
	return d
}

// URL is where the subscriber listens.
func (sub *subscriber) URL() string { return sub.srv.URL }

// Close stops the subscriber.
func (sub *subscriber) Close() { sub.srv.Close() }
