package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"mime"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"

	"github.com/ferryfn/ferry/eventing"
)

// The references: how a task and an event's attributes were encoded before
// encode.go, through encoding/json and sdk-go's JSON writer.

func encodeTaskReference(t *Task) ([]byte, error) {
	return json.Marshal(stored{Task: *t, Failure: t.failure})
}

// newEventReference reads e's attributes back from sdk-go's JSON of e
// without its data. A panic (Event.Clone's, on values it does not know)
// counts as an error.
func newEventReference(kind string, e *event.Event, now time.Time) (
	rec Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	rec = Event{Kind: kind, DataSize: len(e.Data()), RecordedAt: now}
	head := e.Clone()
	_ = head.SetData("", nil)
	head.DataEncoded = nil
	raw, err := json.Marshal(head)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(raw, &rec.Attributes); err != nil {
		return rec, err
	}
	if e.DataContentType() != "" {
		rec.Attributes["datacontenttype"] = e.DataContentType()
	}
	rec.Data = inlineDataReference(e)
	return rec, nil
}

func inlineDataReference(e *event.Event) json.RawMessage {
	data := e.Data()
	if len(data) == 0 || len(data) > InlineDataMax || !utf8.Valid(data) {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(e.DataContentType())
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		(mt == "" && json.Valid(data)):
		if json.Valid(data) {
			var buf bytes.Buffer
			if json.Compact(&buf, data) == nil {
				return buf.Bytes()
			}
		}
	case strings.HasPrefix(mt, "text/") || mt == "application/xml" ||
		strings.HasSuffix(mt, "+xml"):
	default:
		return nil
	}
	s, _ := json.Marshal(string(data))
	return s
}

// checkEncoding fails the test unless appendTask's JSON of task reads
// back, into a stored and into plain values, as the reference's does, and
// re-encodes to the same bytes after decodeTask.
func checkEncoding(t *testing.T, task *Task) {
	t.Helper()
	want, wantErr := encodeTaskReference(task)
	got, err := appendTask(nil, task)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("task %q: appendTask error %v, json.Marshal error %v",
			task.ID, err, wantErr)
	}
	if err != nil {
		return
	}
	if !utf8.Valid(got) || !json.Valid(got) {
		t.Fatalf("task %q: not valid JSON in UTF-8: %q", task.ID, got)
	}

	gotStored, gotData := decodeStoredForTest(t, got)
	wantStored, wantData := decodeStoredForTest(t, want)
	if !reflect.DeepEqual(gotStored, wantStored) {
		t.Fatalf("task %q reads back as\n%#v\nwant\n%#v", task.ID, gotStored,
			wantStored)
	}
	if !reflect.DeepEqual(gotData, wantData) {
		t.Fatalf("task %q: data reads back as %#v, want %#v", task.ID, gotData,
			wantData)
	}
	var gotAny, wantAny any
	mustUnmarshal(t, got, &gotAny)
	mustUnmarshal(t, want, &wantAny)
	if !reflect.DeepEqual(gotAny, wantAny) {
		t.Fatalf("task %q:\n got %s\nwant %s", task.ID, got, want)
	}

	// What a store read back encodes to the same bytes every time: the
	// first encoding may differ, where it replaced bytes that are not
	// UTF-8 by \ufffd, which reads back as the character itself.
	first := reencodeForTest(t, task.ID, got)
	if second := reencodeForTest(t, task.ID, first); !bytes.Equal(second,
		first) {
		t.Fatalf("task %q re-encodes as\n%s\nthen as\n%s", task.ID, first,
			second)
	}
}

func reencodeForTest(t *testing.T, id string, raw []byte) []byte {
	t.Helper()
	task, err := decodeTask(id, raw)
	if err != nil {
		t.Fatal(err)
	}
	again, err := appendTask(nil, task)
	if err != nil {
		t.Fatalf("re-encode task %q: %v", id, err)
	}
	return again
}

// decodeStoredForTest decodes raw into a stored, and each event's data
// apart into a plain value: the bytes of Data differ where json.Marshal
// escapes <, > and &.
func decodeStoredForTest(t *testing.T, raw []byte) (stored, []any) {
	t.Helper()
	var st stored
	mustUnmarshal(t, raw, &st)
	var data []any
	for i := range st.Events {
		var v any
		if st.Events[i].Data != nil {
			mustUnmarshal(t, st.Events[i].Data, &v)
		}
		data = append(data, v)
		st.Events[i].Data = nil
	}
	return st, data
}

func mustUnmarshal(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}

// eventGen makes varied events and report sequences from a seeded source,
// so that a failure repeats.
type eventGen struct {
	r   *rand.Rand
	seq int
	now time.Time
}

func newEventGen(seed uint64) *eventGen {
	return &eventGen{
		r:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now: time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC),
	}
}

// textPieces are what strings are made of: plain and multi-byte text,
// every kind of character JSON escapes, HTML characters, and bytes that
// are not UTF-8 (a lone byte, a cut sequence, an encoded surrogate, a
// code point above U+10FFFF).
var textPieces = []string{
	"a", "Z", "0", " ", "-", "é", "日本", "😀", "\u2028", "\ufffd", "\u00ad",
	"\x00", "\x01", "\x1f", "\n", "\r", "\t", "\b", "\f", "\"", "\\", "/",
	"<", ">", "&", "'", "\x7f", "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80",
	"\xf4\x90\x80\x80",
}

// uriPieces may follow a URI's prefix: url.Parse refuses control
// characters, and takes the rest into path, query or fragment.
var uriPieces = []string{
	"a", "0", "é", "日本", "😀", " ", "<", ">", "&", "\"", "\\", "%41", "%",
	"?x=1", "#f", "\u00ad", "\xff", "\U000e0001",
}

var uriPrefixes = []string{
	"/shop", "https://example.com/a", "urn:ferry:", "http://h/p?q=", "", "//h",
}

func (g *eventGen) text(pieces []string, max int) string {
	var b strings.Builder
	for range g.r.IntN(max + 1) {
		b.WriteString(pieces[g.r.IntN(len(pieces))])
	}
	return b.String()
}

func (g *eventGen) uri() string {
	return uriPrefixes[g.r.IntN(len(uriPrefixes))] + g.text(uriPieces, 4)
}

func (g *eventGen) chance(percent int) bool { return g.r.IntN(100) < percent }

// timeOf is a time at any nanosecond of the years 1-9999 or, one time in
// twenty, outside them, in one of several zones.
func (g *eventGen) time() time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800),
		time.FixedZone("", -12*3600), time.FixedZone("X", 0)}
	year := 1 + g.r.IntN(9999)
	if g.chance(5) {
		year = []int{0, -1, 10000, 12345}[g.r.IntN(4)]
	}
	return time.Date(year, time.Month(1+g.r.IntN(12)), 1+g.r.IntN(28),
		g.r.IntN(24), g.r.IntN(60), g.r.IntN(60), g.r.IntN(1e9),
		zones[g.r.IntN(len(zones))])
}

func (g *eventGen) tick() time.Time {
	g.now = g.now.Add(time.Duration(1+g.r.IntN(5000)) * time.Microsecond)
	return g.now
}

// event is a new event of spec 1.0 or 0.3 with random context attributes,
// extensions of every CloudEvents type, and data of random kind.
func (g *eventGen) event(taskID string) *event.Event {
	g.seq++
	e := event.New(event.CloudEventsVersionV1)
	if g.chance(40) {
		e = event.New(event.CloudEventsVersionV03)
	}
	e.SetID(fmt.Sprintf("id-%d-%s", g.seq, g.text(textPieces, 4)))
	e.SetSource(g.uri())
	e.SetType("com.example." + g.text(textPieces, 3))
	if g.chance(50) {
		e.SetSubject(g.text(textPieces, 6))
	}
	if g.chance(50) {
		e.SetTime(g.time())
	}
	if g.chance(30) {
		e.SetDataSchema(g.uri())
	}
	if e.SpecVersion() == event.CloudEventsVersionV03 && g.chance(20) {
		e.SetDataContentEncoding(event.Base64)
	}
	e.SetExtension(eventing.ExtCorrelationID, taskID)
	e.SetExtension(eventing.ExtBrokerTTL, eventing.BrokerTTLDefault)
	g.extensions(&e)
	g.data(&e)
	return &e
}

func (g *eventGen) extensions(e *event.Event) {
	u, err := url.Parse(g.uri())
	if err != nil {
		u = &url.URL{Scheme: "urn", Opaque: "x"}
	}
	values := []func() any{
		func() any { return g.text(textPieces, 8) },
		func() any { return int32(g.r.Uint32()) },
		func() any { return g.r.IntN(1000) - 500 },
		func() any { return g.r.Float64()*1e6 - 5e5 },
		func() any { return g.chance(50) },
		func() any { return g.time() },
		func() any { return time.Time{} },
		func() any { return u },
		func() any { return types.URIRef{URL: *u} },
		func() any { return []byte(g.text(textPieces, 4)) },
	}
	for i := range g.r.IntN(6) {
		e.SetExtension(fmt.Sprintf("ext%d", i),
			values[g.r.IntN(len(values))]())
	}
	if e.SpecVersion() == event.CloudEventsVersionV03 && g.chance(30) {
		// 0.3 takes any name, so two can read back as one.
		for _, name := range []string{"N\xff", "N\xfe", "N\ufffd", `q"<`} {
			e.SetExtension(name, values[g.r.IntN(len(values))]())
		}
	}
}

// data gives e no data, JSON (with or without a JSON content type, with
// white space, invalid), text, XML, binary or data too big to inline.
func (g *eventGen) data(e *event.Event) {
	doc := map[string]any{"s": g.text(textPieces, 6), "n": g.r.IntN(100),
		"a": []any{true, nil, 1.5, "<&>"}}
	indented, _ := json.MarshalIndent(doc, "", "  ")
	big := []byte(`"` + strings.Repeat("x", InlineDataMax) + `"`)
	kinds := []struct {
		contentType string
		data        []byte
	}{
		{"", nil},
		{"application/json", indented},
		{"application/cloudevents+json; charset=utf-8", indented},
		{"", indented},
		{"", []byte("not json")},
		{"application/json", []byte(`{"cut":`)},
		{"text/plain; charset=utf-8", []byte(g.text(textPieces[:22], 10))},
		{"application/xml", []byte(`<a href="x">&amp;</a>`)},
		{"image/png", []byte{0x89, 'P', 'N', 'G', 0xff, 0}},
		{"text/plain", []byte("a\xffb")},
		{"application/json", big},
		{"application/problem+json", []byte(`{"detail":"no <stock>"}`)},
	}
	k := kinds[g.r.IntN(len(kinds))]
	e.SetDataContentType(k.contentType)
	e.DataEncoded = k.data
	e.DataBase64 = g.chance(50)
}

// task runs a random sequence of reports through applyRouted,
// applyAttempt and derive, as the stores do, and calls check after each.
func (g *eventGen) task(check func(*Task)) {
	id := fmt.Sprintf("task-%d-%s", g.seq, g.text(textPieces, 3))
	in := g.event(id)
	now := g.tick()
	task := newTask(id, in, now)
	triggers := []string{"t1", "t2", `t"<3>`}[:g.r.IntN(4)]
	if _, err := applyRouted(task, eventing.KindAccepted, in, triggers, nil,
		now); err != nil {
		return // the stores refuse the report the same way
	}
	task.derive(now)
	check(task)

	for _, trigger := range triggers {
		for n := 1; n <= 4; n++ {
			a := g.attempt(in, trigger, n)
			now := g.tick()
			if _, err := applyAttempt(task, a, now); err != nil {
				return
			}
			task.derive(now)
			check(task)
			if a.Outcome == eventing.OutcomeDelivered && g.chance(70) {
				g.reply(task, in, check)
			}
			if a.Outcome == eventing.OutcomeDelivered ||
				a.Outcome == eventing.OutcomeDeadLettered {
				break
			}
		}
	}
}

func (g *eventGen) attempt(in *event.Event, trigger string,
	n int) eventing.Attempt {
	outcomes := []eventing.Outcome{eventing.OutcomeStarted,
		eventing.OutcomeRetrying, eventing.OutcomeDelivered,
		eventing.OutcomeDeadLettered}
	a := eventing.Attempt{Event: in, Trigger: trigger, Number: n,
		Outcome: outcomes[g.r.IntN(len(outcomes))]}
	if g.chance(50) {
		a.Subscriber = "http://fn." + g.text(textPieces, 3)
	}
	if a.Outcome != eventing.OutcomeStarted {
		a.Code = []int{0, 200, 202, 429, 500, 503}[g.r.IntN(6)]
		a.Reason = g.text(textPieces, 8)
	}
	if a.Outcome == eventing.OutcomeRetrying {
		a.NextAttempt = g.time()
	}
	return a
}

// reply routes a reply to in, a failure reply (with a problem's detail or
// title, or text) one time in three.
func (g *eventGen) reply(task *Task, in *event.Event, check func(*Task)) {
	r := g.event(task.ID)
	if g.chance(33) {
		r.SetType(in.Type() + FailedSuffix)
		problem, _ := json.Marshal(map[string]string{
			[]string{"detail", "title", "other"}[g.r.IntN(3)]: g.text(
				textPieces, 6)})
		r.SetDataContentType("application/problem+json")
		r.DataEncoded = problem
	}
	now := g.tick()
	if _, err := applyRouted(task, eventing.KindReply, r,
		[]string{"next"}, nil, now); err != nil {
		return
	}
	task.derive(now)
	check(task)
}

func TestAppendTaskReadsBackAsJSONMarshal(t *testing.T) {
	g := newEventGen(1)
	var checked, failed, retrying int
	for range 400 {
		g.task(func(task *Task) {
			checkEncoding(t, task)
			checked++
			if task.failure != "" {
				failed++
			}
			for _, d := range task.Deliveries {
				if d.NextAttempt != nil {
					retrying++
				}
			}
		})
	}
	t.Logf("checked %d tasks, %d with a failure, %d retrying deliveries",
		checked, failed, retrying)
	// The sequences must reach what the test is about.
	if checked < 1000 || failed < 20 || retrying < 50 {
		t.Fatalf("checked %d tasks, %d with a failure, %d retrying "+
			"deliveries: too few", checked, failed, retrying)
	}
}

func TestNewEventMatchesSDKJSON(t *testing.T) {
	g := newEventGen(2)
	var refused int
	for i := range 3000 {
		e := g.event(fmt.Sprint("task-", i))
		now := g.tick()
		got, err := newEvent("accepted", e, now)
		want, wantErr := newEventReference("accepted", e, now)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("event %d: error %v, reference's %v\n%s", i, err,
				wantErr, e)
		}
		if err != nil {
			refused++
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d:\n got %#v\nwant %#v", i, got, want)
		}
	}
	t.Logf("%d of 3000 events refused", refused)
	if refused == 0 || refused > 300 {
		t.Fatalf("%d of 3000 events refused, want a few", refused)
	}
}

// TestNewEventExtensionValuesMatchSDKJSON covers each extension type
// sdk-go stores or Event.Clone accepts, set straight into the map as a
// decoder other than sdk-go's might.
func TestNewEventExtensionValuesMatchSDKJSON(t *testing.T) {
	u, _ := url.Parse("http://h/p?q=<1>&r=é")
	odd := &url.URL{Scheme: "http", Host: "h", RawQuery: "q=\xff"}
	wide := &url.URL{Scheme: "http", Host: "h", RawQuery: "q=\U000e0001"}
	at := time.Date(2024, 1, 2, 3, 4, 5, 600, time.FixedZone("", 3600))
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	// Refused are the values the reference fails (or panics) on.
	values := map[string]struct {
		v       any
		refused bool
	}{
		"string":        {v: "a\xe2\x82b\x00"},
		"int32":         {v: int32(-7)},
		"bool":          {v: false},
		"nil":           {v: nil},
		"bytes":         {v: []byte{0, 1, 0xff}},
		"bytesEmpty":    {v: []byte{}},
		"bytesNil":      {v: []byte(nil)},
		"urlValue":      {v: *u},
		"urlPointer":    {v: u},
		"uri":           {v: types.URI{URL: *u}},
		"uriPointer":    {v: &types.URI{URL: *u}},
		"uriRef":        {v: types.URIRef{URL: *u}},
		"uriRefPointer": {v: &types.URIRef{URL: *u}},
		"uriNotUTF8":    {v: types.URI{URL: *odd}, refused: true},
		"uriWide":       {v: types.URIRef{URL: *wide}, refused: true},
		"uriNil":        {v: (*types.URI)(nil), refused: true},
		"time":          {v: at},
		"timePointer":   {v: &at},
		"timeFar":       {v: far, refused: true},
		"timeOffset25h": {v: at.In(time.FixedZone("", 25*3600)), refused: true},
		"timestamp":     {v: types.Timestamp{Time: at}},
		"timestampPtr":  {v: &types.Timestamp{Time: at}},
		"timestampZero": {v: &types.Timestamp{}},
		"timestampFar":  {v: &types.Timestamp{Time: far}},
		"float64":       {v: 1.5, refused: true},
		"map":           {v: map[string]any{}, refused: true},
	}
	for name, c := range values {
		t.Run(name, func(t *testing.T) {
			for _, spec := range []string{"1.0", "0.3"} {
				e := redisTestAccepted("x", "t", "", nil)
				e.SetSpecVersion(spec)
				switch ec := e.Context.(type) {
				case *event.EventContextV1:
					ec.Extensions["x"] = c.v
				case *event.EventContextV03:
					ec.Extensions["x"] = c.v
				}
				got, err := newEvent("accepted", e, redisTestEpoch)
				want, wantErr := newEventReference("accepted", e,
					redisTestEpoch)
				if (err != nil) != c.refused || (wantErr != nil) != c.refused {
					t.Fatalf("%s: error %v, reference's %v, want refused %v",
						spec, err, wantErr, c.refused)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s:\n got %#v\nwant %#v", spec, got, want)
				}
			}
		})
	}
}

func TestInlineDataMatchesBefore(t *testing.T) {
	g := newEventGen(3)
	for i := range 2000 {
		e := g.event("task")
		got, want := inlineData(e), inlineDataReference(e)
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("event %d (%q, %q): %q, want %q", i, e.DataContentType(),
				e.Data(), got, want)
		}
		if got != nil && !json.Valid(got) {
			t.Fatalf("event %d: inline data %q is not JSON", i, got)
		}
	}
}

// TestAppendStringReadsBackAsJSONMarshal writes each byte alone and
// random strings of escapes, multi-byte text and invalid UTF-8.
func TestAppendStringReadsBackAsJSONMarshal(t *testing.T) {
	var cases []string
	for c := range 256 {
		cases = append(cases, string([]byte{byte(c)}), "x"+string(rune(c)))
	}
	g := newEventGen(4)
	for range 2000 {
		cases = append(cases, g.text(textPieces, 12))
	}
	for _, s := range cases {
		got := appendString(nil, s)
		if !utf8.Valid(got) || !json.Valid(got) {
			t.Fatalf("%q: %q is not a JSON string in UTF-8", s, got)
		}
		want, _ := json.Marshal(s)
		var gotS, wantS string
		mustUnmarshal(t, got, &gotS)
		mustUnmarshal(t, want, &wantS)
		if gotS != wantS {
			t.Fatalf("%q reads back as %q, want %q", s, gotS, wantS)
		}
		if gotS != jsonText(s) {
			t.Fatalf("%q: jsonText gives %q, JSON %q", s, jsonText(s), gotS)
		}
	}
}

// TestAppendTaskRefusesWhatJSONMarshalRefuses: times outside RFC 3339
// and numbers JSON lacks fail both; other attribute values match.
func TestAppendTaskRefusesWhatJSONMarshalRefuses(t *testing.T) {
	base := func() *Task {
		at := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
		return &Task{ID: "x", State: Accepted, CreatedAt: at, UpdatedAt: at,
			Events: []Event{{Kind: "accepted", RecordedAt: at,
				Attributes: map[string]any{"id": "1"}}}}
	}
	cases := map[string]func(*Task){
		"year 10000": func(t *Task) {
			t.CreatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"year -1": func(t *Task) {
			t.UpdatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"offset 24h": func(t *Task) {
			next := time.Date(2026, 1, 1, 0, 0, 0, 0,
				time.FixedZone("", 24*3600))
			t.Deliveries = []Delivery{{EventID: "1", Trigger: "t",
				NextAttempt: &next}}
		},
		"NaN": func(t *Task) { t.Events[0].Attributes["n"] = math.NaN() },
		"Inf": func(t *Task) { t.Events[0].Attributes["n"] = math.Inf(-1) },
		"channel": func(t *Task) {
			t.Events[0].Attributes["c"] = make(chan int)
		},
		"numbers": func(t *Task) {
			for i, f := range []float64{0, math.Copysign(0, -1), 1e21,
				1e-7, 1e-6, 123456789.125, 5e-324, math.MaxFloat64, -42} {
				t.Events[0].Attributes[fmt.Sprint("n", i)] = f
			}
		},
		"nested": func(t *Task) {
			t.Events[0].Attributes["m"] = map[string]any{"b": []any{
				"<\xff>", 1.0, nil}, "a": true}
		},
		"empty": func(t *Task) {
			t.Events[0].Attributes = map[string]any{}
			t.Events[0].Data = json.RawMessage(`null`)
			t.Deliveries = []Delivery{}
		},
		"nil attributes": func(t *Task) {
			t.Events[0].Attributes = nil
			t.Events = append(t.Events, Event{Kind: "reply"})
		},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			task := base()
			change(task)
			checkEncoding(t, task)
		})
	}
}

func TestAppendTaskAppendsToDst(t *testing.T) {
	g := newEventGen(5)
	var task *Task
	for task == nil {
		g.task(func(t *Task) { task = t })
	}
	alone, err := appendTask(nil, task)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendTask([]byte("prefix,"), task)
	if err != nil {
		t.Fatal(err)
	}
	if want := "prefix," + string(alone); string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// benchAcceptedTask is a task as it stands after its accepted event, with
// 1 KiB of JSON data, was routed to one Trigger.
func benchAcceptedTask(b *testing.B) (*Task, *event.Event) {
	b.Helper()
	data := []byte(`{"n":"` + strings.Repeat("x", 1000) + `"}`)
	e := redisTestAccepted("bench-1", "bench.accept", "application/json", data)
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	t := newTask(eventing.TaskID(e), e, now)
	if _, err := applyRouted(t, eventing.KindAccepted, e, []string{"t"}, nil,
		now); err != nil {
		b.Fatal(err)
	}
	t.derive(now)
	return t, e
}

// BenchmarkEncodeTask compares encodeTask with the reference,
// json.Marshal, on a task with one accepted event of 1 KiB of JSON data.
func BenchmarkEncodeTask(b *testing.B) {
	t, _ := benchAcceptedTask(b)
	b.Run("encodeTask", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeTask(t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeTaskReference(t); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNewEvent compares newEvent with the reference, which reads the
// attributes back from sdk-go's JSON, on an event with 1 KiB of JSON data.
func BenchmarkNewEvent(b *testing.B) {
	_, e := benchAcceptedTask(b)
	now := time.Now()
	b.Run("newEvent", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newEvent("accepted", e, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newEventReference("accepted", e, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
