package function

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// dataDir holds the shared sample files: /work/shared/data seen from
// /work/main/functions/csvstats.
const dataDir = "../../../shared/data/"

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(dataDir + name)
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}

// newEvent is a dev.ferry.csvstats event carrying data, as the broker
// delivers it.
func newEvent(t *testing.T, data []byte) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("task-1")
	e.SetSource("/test/producer")
	e.SetType(EventType)
	e.SetSubject("reports/sample.csv")
	if err := e.SetData("text/csv", data); err != nil {
		t.Fatalf("set data: %v", err)
	}
	return e
}

// handle runs the function on e and checks that the reply is a valid
// CloudEvent, as the runtime would send it.
func handle(t *testing.T, e event.Event) *event.Event {
	t.Helper()
	out, err := New().Handle(context.Background(), e)
	if err != nil {
		t.Fatalf("Handle returned error %v; want a reply", err)
	}
	if out == nil {
		t.Fatal("Handle returned no reply")
	}
	if err := out.Validate(); err != nil {
		t.Fatalf("reply is not a valid CloudEvent: %v", err)
	}
	return out
}

// statsOf checks that out is a done reply and decodes its JSON.
func statsOf(t *testing.T, out *event.Event) Stats {
	t.Helper()
	if out.Type() != DoneType {
		t.Fatalf("reply type = %q, want %q (data %s)", out.Type(), DoneType,
			out.Data())
	}
	if ct := out.DataContentType(); ct != "application/json" {
		t.Fatalf("datacontenttype = %q, want application/json", ct)
	}
	var s Stats
	if err := json.Unmarshal(out.Data(), &s); err != nil {
		t.Fatalf("reply data is not Stats JSON: %v", err)
	}
	return s
}

// problemOf checks that out is a failed reply and decodes its problem.
func problemOf(t *testing.T, out *event.Event) Problem {
	t.Helper()
	if out.Type() != FailedType {
		t.Fatalf("reply type = %q, want %q (data %s)", out.Type(), FailedType,
			out.Data())
	}
	if ct := out.DataContentType(); ct != ProblemContentType {
		t.Fatalf("datacontenttype = %q, want %q", ct, ProblemContentType)
	}
	var p Problem
	if err := json.Unmarshal(out.Data(), &p); err != nil {
		t.Fatalf("reply data %q is not a problem: %v", out.Data(), err)
	}
	if p.Type != ProblemInvalidInput || p.Title == "" {
		t.Errorf("problem = %+v, want type %q and a title", p, ProblemInvalidInput)
	}
	return p
}

func columnNamed(t *testing.T, s Stats, name string) ColumnStats {
	t.Helper()
	for _, c := range s.Columns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no column %q in %+v", name, s.Columns)
	return ColumnStats{}
}

// sample is a sample CSV parsed independently of the function, with plain
// string splitting; it suits files without quoted fields.
type sample struct {
	header []string
	rows   [][]string
}

func splitSample(t *testing.T, data []byte) sample {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	s := sample{header: strings.Split(lines[0], ",")}
	for _, line := range lines[1:] {
		s.rows = append(s.rows, strings.Split(line, ","))
	}
	return s
}

func (s sample) values(t *testing.T, name string) []string {
	t.Helper()
	i := slices.Index(s.header, name)
	if i < 0 {
		t.Fatalf("sample has no column %q", name)
	}
	var vs []string
	for _, row := range s.rows {
		vs = append(vs, row[i])
	}
	return vs
}

// assertNumeric compares c with min, max and mean computed from vs.
func assertNumeric(t *testing.T, c ColumnStats, vs []string) {
	t.Helper()
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, v := range vs {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("sample value %q of %s: %v", v, c.Name, err)
		}
		lo, hi, sum = math.Min(lo, x), math.Max(hi, x), sum+x
	}
	mean := sum / float64(len(vs))

	if c.Kind != KindNumeric || c.Count != len(vs) || c.Empty != 0 {
		t.Fatalf("%s: kind %q count %d empty %d, want numeric %d 0", c.Name,
			c.Kind, c.Count, c.Empty, len(vs))
	}
	if c.Min == nil || c.Max == nil || c.Mean == nil {
		t.Fatalf("%s: min, max or mean missing: %+v", c.Name, c)
	}
	if *c.Min != lo || *c.Max != hi {
		t.Errorf("%s: min, max = %v, %v; want %v, %v", c.Name, *c.Min, *c.Max,
			lo, hi)
	}
	if math.Abs(*c.Mean-mean) > 1e-9*math.Max(1, math.Abs(mean)) {
		t.Errorf("%s: mean = %v, want %v", c.Name, *c.Mean, mean)
	}
	if c.Distinct != 0 || c.Top != nil {
		t.Errorf("%s: a numeric column has distinct %d, top %v", c.Name,
			c.Distinct, c.Top)
	}
}

// assertText compares c with the distinct count and top values of vs.
func assertText(t *testing.T, c ColumnStats, vs []string) {
	t.Helper()
	counts := map[string]int{}
	for _, v := range vs {
		counts[v]++
	}
	var top []ValueCount
	for v, n := range counts {
		top = append(top, ValueCount{v, n})
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].Count != top[j].Count {
			return top[i].Count > top[j].Count
		}
		return top[i].Value < top[j].Value
	})
	top = top[:min(5, len(top))]

	if c.Kind != KindText || c.Count != len(vs) {
		t.Fatalf("%s: kind %q count %d, want text %d", c.Name, c.Kind, c.Count,
			len(vs))
	}
	if c.Distinct != len(counts) || c.Capped {
		t.Errorf("%s: distinct %d capped %v, want %d", c.Name, c.Distinct,
			c.Capped, len(counts))
	}
	if !slices.Equal(c.Top, top) {
		t.Errorf("%s: top = %v, want %v", c.Name, c.Top, top)
	}
	if c.Min != nil || c.Max != nil || c.Mean != nil {
		t.Errorf("%s: a text column has min, max or mean: %+v", c.Name, c)
	}
}

func TestSeattleWeatherStats(t *testing.T) {
	data := readSample(t, "seattle-weather.csv")
	want := splitSample(t, data)

	s := statsOf(t, handle(t, newEvent(t, data)))

	if s.Rows != 1461 || s.Rows != len(want.rows) {
		t.Errorf("rows = %d, want 1461 (%d in the sample)", s.Rows,
			len(want.rows))
	}
	var names []string
	for _, c := range s.Columns {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, want.header) {
		t.Errorf("columns = %v, want %v", names, want.header)
	}
	for _, name := range []string{"precipitation", "temp_max", "temp_min", "wind"} {
		assertNumeric(t, columnNamed(t, s, name), want.values(t, name))
	}
	for _, name := range []string{"weather", "date"} {
		assertText(t, columnNamed(t, s, name), want.values(t, name))
	}

	// Counted with: cut -d, -f6 seattle-weather.csv | sort | uniq -c
	weather := columnNamed(t, s, "weather")
	top := []ValueCount{{"rain", 641}, {"sun", 640}, {"fog", 101},
		{"drizzle", 53}, {"snow", 26}}
	if weather.Distinct != 5 || !slices.Equal(weather.Top, top) {
		t.Errorf("weather: distinct %d, top %v; want 5, %v", weather.Distinct,
			weather.Top, top)
	}
}

func TestStocksStats(t *testing.T) {
	data := readSample(t, "stocks.csv")
	want := splitSample(t, data)

	s := statsOf(t, handle(t, newEvent(t, data)))

	if s.Rows != 560 || s.Rows != len(want.rows) {
		t.Errorf("rows = %d, want 560 (%d in the sample)", s.Rows, len(want.rows))
	}
	assertText(t, columnNamed(t, s, "symbol"), want.values(t, "symbol"))
	assertText(t, columnNamed(t, s, "date"), want.values(t, "date"))
	assertNumeric(t, columnNamed(t, s, "price"), want.values(t, "price"))
}

// airports.csv quotes names that hold commas, so the test reads it with
// encoding/csv and ReadAll.
func TestAirportsStatsWithQuotedFields(t *testing.T) {
	data := readSample(t, "airports.csv")
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := sample{header: records[0], rows: records[1:]}

	s := statsOf(t, handle(t, newEvent(t, data)))

	if s.Rows != 3376 || s.Rows != len(want.rows) {
		t.Errorf("rows = %d, want 3376 (%d in the sample)", s.Rows, len(want.rows))
	}
	assertNumeric(t, columnNamed(t, s, "latitude"), want.values(t, "latitude"))
	assertNumeric(t, columnNamed(t, s, "longitude"), want.values(t, "longitude"))
	assertText(t, columnNamed(t, s, "state"), want.values(t, "state"))
	assertText(t, columnNamed(t, s, "name"), want.values(t, "name"))
}

func TestEmptyCellsAreCountedApart(t *testing.T) {
	csvText := "a,b,c,d\n1,x,,NaN\n,y,,2\n 3 ,x,  ,Inf\n"

	s := statsOf(t, handle(t, newEvent(t, []byte(csvText))))

	one, three, two := 1.0, 3.0, 2.0
	want := []ColumnStats{
		{Name: "a", Kind: KindNumeric, Count: 2, Empty: 1, Min: &one, Max: &three,
			Mean: &two},
		{Name: "b", Kind: KindText, Count: 3, Distinct: 2,
			Top: []ValueCount{{"x", 2}, {"y", 1}}},
		{Name: "c", Kind: KindEmpty, Empty: 3},
		// NaN and Inf parse as floats but are not numbers to average.
		{Name: "d", Kind: KindText, Count: 3, Distinct: 3,
			Top: []ValueCount{{"2", 1}, {"Inf", 1}, {"NaN", 1}}},
	}
	if s.Rows != 3 {
		t.Errorf("rows = %d, want 3", s.Rows)
	}
	got, _ := json.Marshal(s.Columns)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		t.Errorf("columns =\n%s\nwant\n%s", got, wantJSON)
	}
}

func TestTopValuesBreakTiesByValue(t *testing.T) {
	csvText := "v\nb\na\nc\nb\nd\ne\nf\na\n"

	s := statsOf(t, handle(t, newEvent(t, []byte(csvText))))

	want := []ValueCount{{"a", 2}, {"b", 2}, {"c", 1}, {"d", 1}, {"e", 1}}
	if got := s.Columns[0].Top; !slices.Equal(got, want) {
		t.Errorf("top = %v, want %v", got, want)
	}
}

func TestDistinctValuesAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,even\n")
	for i := range MaxDistinct + 500 {
		fmt.Fprintf(&b, "id-%d,%v\n", i, i%2 == 0)
	}

	s := statsOf(t, handle(t, newEvent(t, []byte(b.String()))))

	id := columnNamed(t, s, "id")
	if id.Distinct != MaxDistinct || !id.Capped || id.Count != MaxDistinct+500 {
		t.Errorf("id: distinct %d capped %v count %d; want %d true %d",
			id.Distinct, id.Capped, id.Count, MaxDistinct, MaxDistinct+500)
	}
	even := columnNamed(t, s, "even")
	want := []ValueCount{{"false", 5250}, {"true", 5250}}
	if even.Capped || !slices.Equal(even.Top, want) {
		t.Errorf("even: capped %v top %v; want false %v", even.Capped, even.Top,
			want)
	}
}

func TestHeaderOnlyHasNoRows(t *testing.T) {
	s := statsOf(t, handle(t, newEvent(t, []byte("\ufeffa,b\n"))))

	if s.Rows != 0 || len(s.Columns) != 2 || s.Columns[0].Name != "a" {
		t.Errorf("stats = %+v, want 0 rows, columns a and b", s)
	}
	for _, c := range s.Columns {
		if c.Kind != KindEmpty {
			t.Errorf("%s: kind %q, want %q", c.Name, c.Kind, KindEmpty)
		}
	}
}

func TestBrokenCSVFails(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		detail string
	}{
		{"PNG bytes", readSample(t, "ffox.png"),
			"data is not UTF-8 text: invalid byte 0x89 at offset 0"},
		{"JPEG bytes", readSample(t, "video-001.jpeg"),
			"data is not UTF-8 text: invalid byte 0xff at offset 0"},
		{"NUL byte", []byte("a,b\n1,\x002\n"),
			"data is not text: NUL byte at offset 6"},
		{"Latin-1 text", []byte("city\nK\xf6ln\n"),
			"data is not UTF-8 text: invalid byte 0xf6 at offset 6"},
		{"empty body", nil, "empty body: want CSV with a header row"},
		{"blank lines", []byte("\n\n\n"), "no header row: the data is blank"},
		{"short row", []byte("a,b,c\n1,2,3\n4,5\n"),
			"parse CSV: record on line 3: wrong number of fields: 2, the header has 3"},
		{"long row", []byte("a,b\n1,2\n3,4\n\n5,6,7\n"),
			"parse CSV: record on line 5: wrong number of fields: 3, the header has 2"},
		{"bare quote", []byte("a,b\n1,x\"y\n"),
			`parse CSV: parse error on line 2, column 4: bare " in non-quoted-field`},
		{"unclosed quote in header", []byte("\"a,b\n"),
			`parse CSV header: parse error on line 1, column 6: extraneous or missing " in quoted-field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newEvent(t, tt.data)

			out := handle(t, in)

			p := problemOf(t, out)
			if p.Detail != tt.detail {
				t.Errorf("detail = %q\nwant     %q", p.Detail, tt.detail)
			}
			if out.Source() != Source || out.Subject() != in.Subject() {
				t.Errorf("source, subject = %q, %q; want %q, %q", out.Source(),
					out.Subject(), Source, in.Subject())
			}
		})
	}
}

func TestReplyIsNewEventFromThisFunction(t *testing.T) {
	in := newEvent(t, []byte("a\n1\n"))

	out := handle(t, in)

	if out.Source() != Source || out.Subject() != in.Subject() {
		t.Errorf("source, subject = %q, %q; want %q, %q", out.Source(),
			out.Subject(), Source, in.Subject())
	}
	if out.ID() == "" || out.ID() == in.ID() {
		t.Errorf("reply id = %q, want a new id", out.ID())
	}
	if v := out.Extensions()["causationid"]; v != in.ID() {
		t.Errorf("reply causationid = %v, want the input's id %s", v, in.ID())
	}
	if v, ok := out.Extensions()["correlationid"]; ok {
		t.Errorf("reply correlationid = %v; the input has none", v)
	}
	in.SetExtension("correlationid", "task-42")
	if v := handle(t, in).Extensions()["correlationid"]; v != "task-42" {
		t.Errorf("reply correlationid = %v, want the input's task-42", v)
	}
}

func TestCanceledContextIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := newEvent(t, readSample(t, "seattle-weather.csv"))

	out, err := New().Handle(ctx, in)

	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if out != nil {
		t.Errorf("reply = %v, want none so that the broker retries", out)
	}
}
