package eventing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

func TestCommitLogsAReturnedDeliveryAsAWarning(t *testing.T) {
	var logs bytes.Buffer
	b := &Broker{log: slog.New(slog.NewTextHandler(&logs, nil))}
	e := event.New()
	e.SetID("c1")
	d := Delivery{Event: &e, Trigger: "t"}

	b.commit(context.Background(), d, fmt.Errorf("ack: %w", ErrDeliveryReturned))
	b.commit(context.Background(), d, errors.New("disk full"))

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[1], "level=ERROR") {
		t.Errorf("logs:\n%s\nwant a warning for the returned delivery, "+
			"an error for the other", logs.String())
	}
}
