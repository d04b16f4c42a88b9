package eventing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/types"
)

// Bounds on what an event's attributes may hold, so that every backend can
// carry them: bbolt keys take at most 32 KiB (id and source are the key),
// Ce- headers take no control characters, and RabbitMQ refuses a message
// whose headers pass its frame size (128 KiB by default), closing the
// publisher's connection, which would fail every event in flight with it.
const (
	// AttributeBytesMax bounds each attribute's and extension's value.
	AttributeBytesMax = 4096
	// AttributesBytesMax bounds all of them together.
	AttributesBytesMax = 64 << 10
)

// ErrAttributes marks an event whose attributes no delivery could carry.
var ErrAttributes = errors.New("undeliverable attributes")

// CheckAttributes reports, wrapping ErrAttributes, an attribute or
// extension of e over AttributeBytesMax, all of them over
// AttributesBytesMax, or one of id, source, type and subject holding a
// control character.
func CheckAttributes(e interface {
	ID() string
	Source() string
	Type() string
	Subject() string
	Extensions() map[string]interface{}
}) error {
	total := 0
	check := func(name, value string, printable bool) error {
		total += len(name) + len(value)
		if len(value) > AttributeBytesMax {
			return fmt.Errorf("%w: attribute %s: %d bytes, more than the %d allowed",
				ErrAttributes, name, len(value), AttributeBytesMax)
		}
		if printable {
			if i := strings.IndexFunc(value, isControl); i >= 0 {
				return fmt.Errorf("%w: attribute %s: control character %q at byte %d",
					ErrAttributes, name, value[i], i)
			}
		}
		return nil
	}
	for _, a := range []struct{ name, value string }{
		{"id", e.ID()}, {"source", e.Source()}, {"type", e.Type()},
		{"subject", e.Subject()},
	} {
		if err := check(a.name, a.value, true); err != nil {
			return err
		}
	}
	for name, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			s = fmt.Sprint(v)
		}
		if err := check(name, s, false); err != nil {
			return err
		}
	}
	if total > AttributesBytesMax {
		return fmt.Errorf("%w: attributes take %d bytes, more than the %d allowed",
			ErrAttributes, total, AttributesBytesMax)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
