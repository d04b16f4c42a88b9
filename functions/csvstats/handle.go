// Package function is Ferry's csvstats function: a kn func CloudEvents
// function that answers each dev.ferry.csvstats event carrying a CSV with
// a header row with a dev.ferry.csvstats.done reply carrying, as JSON, the
// number of data rows and per-column statistics (Stats): min, max and mean
// of numeric columns, distinct count and most common values of text ones.
//
// The CSV is read once, row by row. An input that can never succeed (an
// empty body, binary data, ragged rows) is answered with a
// dev.ferry.csvstats.failed reply carrying application/problem+json, never
// with a 4xx; see Problem. The function keeps no state between events.
package function

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Event types and the source of replies.
const (
	// EventType is the type of the events this function handles; its
	// Trigger filters on it (see func.yaml).
	EventType = "dev.ferry.csvstats"
	// DoneType is the type of the reply that carries the Stats.
	DoneType = EventType + ".done"
	// FailedType is the type of the reply to an input that can never
	// succeed.
	FailedType = EventType + ".failed"
	// Source is the source attribute of every reply.
	Source = "/ferry/functions/csvstats"
)

// Stats is the data of a DoneType reply.
type Stats struct {
	// Rows is how many data rows the CSV has, not counting the header row
	// or blank lines.
	Rows int `json:"rows"`
	// Columns describes each column, in the header's order.
	Columns []ColumnStats `json:"columns"`
}

// Function computes CSV statistics. It holds no state, so one instance
// serves concurrent events; its zero value is ready to use.
type Function struct{}

// New returns a Function; kn func's runtime calls it once at start.
func New() *Function {
	return &Function{}
}

// Handle answers e with a DoneType reply carrying Stats as
// application/json, or with a FailedType reply when e can never succeed.
// It returns an error, which the runtime answers with a 5xx that the
// broker retries, only when ctx ends before the CSV is read.
func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	start := time.Now()
	log := slog.Default().With("function", "csvstats", "id", e.ID(),
		"source", e.Source(), "type", e.Type())

	stats, err := summarize(ctx, e.Data())
	var broken *brokenInput
	if errors.As(err, &broken) {
		log.Warn("broken input", "problem", broken.typ, "detail", broken.Error())
		return failedReply(e, broken)
	}
	if err != nil {
		log.Error("csvstats", "err", err)
		return nil, fmt.Errorf("csvstats %s: %w", e.ID(), err)
	}

	out := newReply(e, DoneType)
	if err := out.SetData(event.ApplicationJSON, stats); err != nil {
		return nil, fmt.Errorf("csvstats %s: encode stats: %w", e.ID(), err)
	}

	log.Info("csvstats done", "rows", stats.Rows, "columns", len(stats.Columns),
		"duration", time.Since(start))
	return &out, nil
}

// checkEvery is how many rows summarize reads between looks at its context.
const checkEvery = 1024

// summarize reads data, a CSV with a header row, in one pass.
func summarize(ctx context.Context, data []byte) (*Stats, error) {
	data, err := text(data)
	if err != nil {
		return nil, err
	}

	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, invalidInput(errors.New("no header row: the data is blank"))
	}
	if err != nil {
		return nil, invalidInput(fmt.Errorf("parse CSV header: %w", err))
	}

	cols := make([]*column, len(header))
	for i, name := range header {
		cols[i] = newColumn(strings.Clone(name))
	}

	stats := &Stats{}
	for {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, csv.ErrFieldCount) {
			return nil, invalidInput(fmt.Errorf("parse CSV: %w: %d, the header has %d",
				err, len(record), len(header)))
		}
		if err != nil {
			return nil, invalidInput(fmt.Errorf("parse CSV: %w", err))
		}

		for i, cell := range record {
			cols[i].add(cell)
		}
		stats.Rows++
		if stats.Rows%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}

	stats.Columns = make([]ColumnStats, len(cols))
	for i, c := range cols {
		stats.Columns[i] = c.stats()
	}
	return stats, nil
}

// utf8BOM is the byte order mark some spreadsheets write before a CSV.
var utf8BOM = []byte("\ufeff")

// text checks that data is UTF-8 text, the only encoding encoding/csv reads,
// and drops a leading byte order mark.
func text(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, invalidInput(errors.New("empty body: want CSV with a header row"))
	}

	if i := invalidUTF8(data); i >= 0 {
		return nil, invalidInput(fmt.Errorf(
			"data is not UTF-8 text: invalid byte 0x%02x at offset %d", data[i], i))
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, invalidInput(fmt.Errorf(
			"data is not text: NUL byte at offset %d", i))
	}
	return bytes.TrimPrefix(data, utf8BOM), nil
}

// invalidUTF8 returns the offset of the first byte that is not part of a
// valid UTF-8 sequence, or -1.
func invalidUTF8(data []byte) int {
	if utf8.Valid(data) {
		return -1
	}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}
