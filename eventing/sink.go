package eventing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Defaults of SinkParams.
const (
	// SinkTimeoutDefault bounds one POST to the sink when SinkParams.Client
	// is nil: 30 s, enough for a 16 MiB event to a busy Broker.
	SinkTimeoutDefault = 30 * time.Second
	// SinkBrokerDefault names the Broker behind the sink when
	// SinkParams.Broker is empty.
	SinkBrokerDefault = "default"
)

// ErrBrokerRejected is returned by Sink.Publish when the Broker answered
// with a 4xx other than 404, 408 and 429: it will not take the event as it
// is (malformed, too large, refused), so posting it again is pointless.
var ErrBrokerRejected = errors.New("broker rejected the event")

// SinkParams configure a Sink.
type SinkParams struct {
	// URL is the Broker's address, the K_SINK a SinkBinding injects (for
	// the RabbitMQ broker http://<broker>-broker-ingress.<ns>.svc...).
	// Required; http or https.
	URL string
	// Broker is the Broker's name. The Observer is told that an accepted
	// event will be delivered to one pseudo-Trigger of that name, since
	// the cluster's Triggers are not known here. "" means
	// SinkBrokerDefault.
	Broker string
	// Client makes the POSTs; nil means a client with SinkTimeoutDefault.
	Client *http.Client
	// Observer, when set, is told Routed(KindAccepted, e, [Broker]) for
	// every event the Broker accepted, after it accepted it.
	Observer Observer
	// Seen, when set, reports whether an event with e's source and id was
	// accepted before (its task exists). Such an event is not posted
	// again: the receipt names its task with Duplicate set. An error from
	// Seen is logged and the event is posted.
	Seen func(ctx context.Context, e *event.Event) (bool, error)
	// Send, when set, hands each event to the Broker instead of posting it
	// to URL, which may then be empty: the ingress's publisher straight to
	// the RabbitMQ broker's exchange uses it. A nil error must mean the
	// Broker has stored the event; an error the producer should retry must
	// wrap ErrBrokerUnavailable.
	Send func(ctx context.Context, e *event.Event) error
	// Logger gets the failures; nil means slog.Default().
	Logger *slog.Logger
}

// Sink is a Publisher that posts each event, in CloudEvents binary mode, to
// a Broker's HTTP address: the ingress's publisher on a cluster, whatever
// the Broker's class. It stamps correlationid (TaskID) and knativebrokerttl
// (BrokerTTLDefault) on events that lack them, as the embedded Broker does.
//
// A nil error from Publish means the Broker answered 2xx, which for
// Knative's Brokers means the event is stored (the RabbitMQ broker answers
// 202 once RabbitMQ confirmed the message). A 5xx, 404 (Broker not there
// yet), 408, 429, a network error or a timeout is ErrBrokerUnavailable;
// another 4xx is ErrBrokerRejected.
//
// Deduplication is as good as Seen: two ingress replicas that receive the
// same new event at once may both post it, and delivery is at least once
// anyway.
type Sink struct {
	send     func(ctx context.Context, e *event.Event) error
	url      string
	broker   string
	client   *http.Client
	observer Observer
	seen     func(ctx context.Context, e *event.Event) (bool, error)
	log      *slog.Logger
}

// NewSink returns a Sink for p. It fails when p.URL is not an absolute
// http or https URL.
func NewSink(p SinkParams) (*Sink, error) {
	if p.Send == nil {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sink %q: need an absolute http(s) URL", p.URL)
		}
	}
	s := &Sink{
		send:     p.Send,
		url:      p.URL,
		broker:   p.Broker,
		client:   p.Client,
		observer: p.Observer,
		seen:     p.Seen,
		log:      p.Logger,
	}
	if s.broker == "" {
		s.broker = SinkBrokerDefault
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: SinkTimeoutDefault}
	}
	if s.observer == nil {
		s.observer = nopObserver{}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "sink", "broker", s.broker)
	return s, nil
}

// Publish implements Publisher: it posts e to the sink and records it.
func (s *Sink) Publish(ctx context.Context, e *event.Event) (Receipt, error) {
	stampAccepted(e)
	r := Receipt{TaskID: TaskID(e)}

	if s.seen != nil {
		dup, err := s.seen(ctx, e)
		if err != nil {
			s.log.Warn("duplicate check failed; posting", "id", e.ID(),
				"err", err)
		}
		if dup {
			r.Duplicate = true
			return r, nil
		}
	}

	send, to := s.post, s.url
	if s.send != nil {
		send, to = s.send, "the broker"
	}
	if err := send(ctx, e); err != nil {
		return Receipt{}, fmt.Errorf("publish %s to %s: %w", e.ID(), to, err)
	}

	// The Broker has the event: a failure to record it does not undo
	// that, so it is logged and the producer still gets its task. The
	// task appears once its first follow-up is recorded.
	err := s.observer.Routed(ctx, KindAccepted, e, []string{s.broker})
	if err != nil {
		s.log.Error("record accepted event", "id", e.ID(), "task", r.TaskID,
			"err", err)
	}
	return r, nil
}

// post sends e in binary mode and maps the answer to an error.
func (s *Sink) post(ctx context.Context, e *event.Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, nil)
	if err != nil {
		return err
	}
	err = cehttp.WriteRequest(ctx, binding.ToMessage(e), req)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}

	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBrokerUnavailable, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 500, code == http.StatusNotFound,
		code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return fmt.Errorf("%w: HTTP %d %s", ErrBrokerUnavailable, code,
			clipBody(body))
	default:
		return fmt.Errorf("%w: HTTP %d %s", ErrBrokerRejected, code,
			clipBody(body))
	}
}

// clipBody is the start of a Broker's error answer, for messages.
func clipBody(b []byte) string {
	const max = 200
	if len(b) > max {
		b = b[:max]
	}
	return string(b)
}

var _ Publisher = (*Sink)(nil)
