// Package function is a test function: it sleeps for the number of
// milliseconds in the event's sleepms extension, then replies. Tests use it
// to have a delivery in flight for as long as they need. With the extension
// crash set to "always" its process exits instead of answering; with
// "once" it does so on the first delivery of an event only (it remembers
// the event in a marker file under the system's temporary folder).
package function

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
)

// Function is the instanced function.
type Function struct{}

// New returns the function.
func New() *Function { return &Function{} }

// Handle sleeps, then answers dev.ferry.test.slept.
func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	switch fmt.Sprint(e.Extensions()["crash"]) {
	case "always":
		os.Exit(3)
	case "once":
		marker := filepath.Join(os.TempDir(), "ferry-sleeper-"+e.ID())
		if _, err := os.Stat(marker); err != nil {
			_ = os.WriteFile(marker, nil, 0o644)
			os.Exit(3)
		}
		_ = os.Remove(marker)
	}
	ms, _ := strconv.Atoi(fmt.Sprint(e.Extensions()["sleepms"]))
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := event.New()
	r.SetID(uuid.NewString())
	r.SetSource("/ferry/functions/sleeper")
	r.SetType("dev.ferry.test.slept")
	if err := r.SetData("application/json", map[string]int{"slept": ms}); err != nil {
		return nil, err
	}
	return &r, nil
}
