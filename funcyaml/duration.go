package funcyaml

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a func.yaml duration, as kn func reads one into a Go
// time.Duration: a string such as "90s" or "1m30s" (what kn func writes),
// or an integer number of nanoseconds.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string or an integer of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return &durationError{fmt.Sprintf(
				"%q is not a duration (want 60s, 1m30s, ...)", s)}
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return &durationError{fmt.Sprintf("%s is not a duration (want "+
			"60s, 1m30s, ... or an integer of nanoseconds)", b)}
	}
	*d = Duration(n)
	return nil
}

// durationError is a value that is not a duration.
type durationError struct{ msg string }

func (e *durationError) Error() string { return e.msg }
