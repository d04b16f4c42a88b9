package eventing

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rickb777/date/period"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// DeliveryTimeoutDefault bounds one delivery attempt when the delivery spec
// sets no timeout.
const DeliveryTimeoutDefault = 60 * time.Second

// DeliveryPolicy is a Knative DeliverySpec in a form ready to use.
type DeliveryPolicy struct {
	// Retries is how many times a failed delivery is tried again before the
	// event goes to the dead letter path; 0 means one attempt only.
	Retries int
	// Exponential selects the backoff: Delay·2^n before retry n when set,
	// Delay·n when not (linear), as Knative defines them.
	Exponential bool
	// Delay is the backoff delay, BackoffDelay in the spec.
	Delay time.Duration
	// Timeout bounds each attempt.
	Timeout time.Duration
	// DeadLetterSink receives what could not be delivered, when set.
	DeadLetterSink *duckv1.Destination
	// RetryAfterMax, when set, makes a 429 or 503 answer's Retry-After
	// header count: the wait before the retry is the larger of the backoff
	// and Retry-After, the latter capped at RetryAfterMax. Zero (PT0S)
	// ignores Retry-After; nil too, as Knative does while the feature is
	// opt-in.
	RetryAfterMax *time.Duration
}

// NewDeliveryPolicy reads a Knative DeliverySpec. A nil spec gives Knative's
// defaults: one attempt, no dead letter sink.
func NewDeliveryPolicy(spec *eventingduckv1.DeliverySpec) (DeliveryPolicy, error) {
	p := DeliveryPolicy{Exponential: true, Timeout: DeliveryTimeoutDefault}
	if spec == nil {
		return p, nil
	}
	if spec.Retry != nil {
		if *spec.Retry < 0 {
			return p, fmt.Errorf("retry: %d is negative", *spec.Retry)
		}
		p.Retries = int(*spec.Retry)
	}
	if spec.BackoffPolicy != nil {
		switch *spec.BackoffPolicy {
		case eventingduckv1.BackoffPolicyExponential:
		case eventingduckv1.BackoffPolicyLinear:
			p.Exponential = false
		default:
			return p, fmt.Errorf("backoffPolicy: %q is neither linear nor "+
				"exponential", *spec.BackoffPolicy)
		}
	}
	var err error
	if spec.BackoffDelay != nil {
		if p.Delay, err = isoDuration(*spec.BackoffDelay); err != nil {
			return p, fmt.Errorf("backoffDelay: %w", err)
		}
	}
	if spec.Timeout != nil {
		if p.Timeout, err = isoDuration(*spec.Timeout); err != nil {
			return p, fmt.Errorf("timeout: %w", err)
		}
		if p.Timeout <= 0 {
			return p, fmt.Errorf("timeout: must be greater than 0")
		}
	}
	if spec.RetryAfterMax != nil {
		d, err := isoDuration(*spec.RetryAfterMax)
		if err != nil {
			return p, fmt.Errorf("retryAfterMax: %w", err)
		}
		p.RetryAfterMax = &d
	}
	p.DeadLetterSink = spec.DeadLetterSink
	return p, nil
}

// Backoff returns how long to wait before retry n (n counts from 1): Delay·n
// when linear and Delay·2^n when exponential, as Knative's dispatcher
// computes it. With Delay 200 ms, exponential gives 400 ms, 800 ms, 1.6 s...
func (p DeliveryPolicy) Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if !p.Exponential {
		return p.Delay * time.Duration(n)
	}
	d := float64(p.Delay) * math.Pow(2, float64(n))
	if d > float64(maxBackoff) {
		return maxBackoff
	}
	return time.Duration(d)
}

// RetryWait is how long to wait before retry n after an answer with status
// code and Retry-After header retryAfter: Backoff(n), or the Retry-After
// delay when the policy honours it and it is longer.
func (p DeliveryPolicy) RetryWait(n, code int, retryAfter string,
	now time.Time) time.Duration {
	wait := p.Backoff(n)
	if p.RetryAfterMax == nil || *p.RetryAfterMax <= 0 ||
		(code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable) {
		return wait
	}
	ra := parseRetryAfter(retryAfter, now)
	return max(wait, min(ra, *p.RetryAfterMax))
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
// Anything else is no delay.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxBackoff/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// maxBackoff caps an exponential backoff that would overflow.
const maxBackoff = 24 * time.Hour

// Retryable reports whether a delivery that ended with HTTP status code
// should be tried again: network errors and timeouts (code 0), 404, 408, 409,
// 429 and every 5xx, as Knative's dispatcher decides. Other 4xx are final.
func Retryable(code int) bool {
	switch {
	case code == 0, code >= 500:
		return true
	case code == http.StatusNotFound, code == http.StatusRequestTimeout,
		code == http.StatusConflict, code == http.StatusTooManyRequests:
		return true
	}
	return false
}

func isoDuration(s string) (time.Duration, error) {
	p, err := period.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an ISO-8601 duration: %w", s, err)
	}
	d, _ := p.Duration()
	return d, nil
}
