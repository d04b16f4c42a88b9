package eventing

import (
	"net/http"
	"strings"
	"testing"
	"time"

	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func ptr[T any](v T) *T { return &v }

func TestNewDeliveryPolicyReadsDeliverySpec(t *testing.T) {
	sink := &duckv1.Destination{URI: apis.HTTP("dead.example")}
	linear := eventingduckv1.BackoffPolicyLinear
	exponential := eventingduckv1.BackoffPolicyExponential
	tests := []struct {
		name string
		spec *eventingduckv1.DeliverySpec
		want DeliveryPolicy
	}{{
		name: "nil spec gives Knative's defaults",
		spec: nil,
		want: DeliveryPolicy{Exponential: true, Timeout: DeliveryTimeoutDefault},
	}, {
		name: "empty spec gives the same defaults",
		spec: &eventingduckv1.DeliverySpec{},
		want: DeliveryPolicy{Exponential: true, Timeout: DeliveryTimeoutDefault},
	}, {
		name: "retry with linear backoff of 0.2 s",
		spec: &eventingduckv1.DeliverySpec{
			Retry:         ptr[int32](5),
			BackoffPolicy: &linear,
			BackoffDelay:  ptr("PT0.2S"),
		},
		want: DeliveryPolicy{Retries: 5, Delay: 200 * time.Millisecond,
			Timeout: DeliveryTimeoutDefault},
	}, {
		name: "exponential backoff, timeout and dead letter sink",
		spec: &eventingduckv1.DeliverySpec{
			Retry:          ptr[int32](3),
			BackoffPolicy:  &exponential,
			BackoffDelay:   ptr("PT1S"),
			Timeout:        ptr("PT1M30S"),
			DeadLetterSink: sink,
		},
		want: DeliveryPolicy{Retries: 3, Exponential: true, Delay: time.Second,
			Timeout: 90 * time.Second, DeadLetterSink: sink},
	}, {
		name: "backoff delay without a policy keeps exponential",
		spec: &eventingduckv1.DeliverySpec{BackoffDelay: ptr("PT0.5S")},
		want: DeliveryPolicy{Exponential: true, Delay: 500 * time.Millisecond,
			Timeout: DeliveryTimeoutDefault},
	}, {
		// The ISO-8601 parser Knative uses keeps tenths of a second:
		// PT0.25S is 200 ms and PT0.05S is no delay at all, on the
		// cluster as here.
		name: "delay below a tenth of a second is cut, as in Knative",
		spec: &eventingduckv1.DeliverySpec{BackoffDelay: ptr("PT0.05S"),
			Timeout: ptr("PT0.25S")},
		want: DeliveryPolicy{Exponential: true, Delay: 0,
			Timeout: 200 * time.Millisecond},
	}, {
		name: "retry 0 is one attempt",
		spec: &eventingduckv1.DeliverySpec{Retry: ptr[int32](0)},
		want: DeliveryPolicy{Exponential: true, Timeout: DeliveryTimeoutDefault},
	}, {
		name: "timeout in minutes",
		spec: &eventingduckv1.DeliverySpec{Timeout: ptr("PT2M")},
		want: DeliveryPolicy{Exponential: true, Timeout: 2 * time.Minute},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDeliveryPolicy(tt.spec)
			if err != nil {
				t.Fatalf("NewDeliveryPolicy: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNewDeliveryPolicyNamesTheBadField(t *testing.T) {
	tests := []struct {
		name  string
		spec  eventingduckv1.DeliverySpec
		field string
		value string
	}{
		{"negative retry", eventingduckv1.DeliverySpec{Retry: ptr[int32](-1)},
			"retry", "-1"},
		{"unknown policy", eventingduckv1.DeliverySpec{
			BackoffPolicy: ptr(eventingduckv1.BackoffPolicyType("random"))},
			"backoffPolicy", "random"},
		{"delay not ISO-8601", eventingduckv1.DeliverySpec{
			BackoffDelay: ptr("200ms")}, "backoffDelay", "200ms"},
		{"timeout not ISO-8601", eventingduckv1.DeliverySpec{
			Timeout: ptr("ten seconds")}, "timeout", "ten seconds"},
		{"zero timeout", eventingduckv1.DeliverySpec{Timeout: ptr("PT0S")},
			"timeout", "greater than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDeliveryPolicy(&tt.spec)
			if err == nil {
				t.Fatal("NewDeliveryPolicy gave no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.field+":") {
				t.Errorf("error %q does not start with the field %q", msg,
					tt.field)
			}
			if !strings.Contains(msg, tt.value) {
				t.Errorf("error %q does not quote %q", msg, tt.value)
			}
		})
	}
}

func TestBackoffLinear(t *testing.T) {
	p := DeliveryPolicy{Delay: 200 * time.Millisecond}
	want := map[int]time.Duration{
		0:  200 * time.Millisecond, // below 1 counts as the first retry
		1:  200 * time.Millisecond,
		2:  400 * time.Millisecond,
		3:  600 * time.Millisecond,
		10: 2 * time.Second,
	}
	for n, w := range want {
		if got := p.Backoff(n); got != w {
			t.Errorf("linear Backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestBackoffExponential(t *testing.T) {
	p := DeliveryPolicy{Exponential: true, Delay: 200 * time.Millisecond}
	want := map[int]time.Duration{
		1:  400 * time.Millisecond,
		2:  800 * time.Millisecond,
		3:  1600 * time.Millisecond,
		4:  3200 * time.Millisecond,
		10: 204800 * time.Millisecond,
		// 0.2 s · 2^40 is years: capped.
		40: maxBackoff,
		// 2^2000 overflows float64 to +Inf: still capped.
		2000: maxBackoff,
	}
	for n, w := range want {
		if got := p.Backoff(n); got != w {
			t.Errorf("exponential Backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestBackoffWithoutDelayIsZero(t *testing.T) {
	for _, exp := range []bool{false, true} {
		p := DeliveryPolicy{Exponential: exp}
		if got := p.Backoff(3); got != 0 {
			t.Errorf("Exponential=%v: Backoff(3) = %v, want 0", exp, got)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{0, true}, // no answer: connection refused, timeout
		{200, false},
		{202, false},
		{204, false},
		{302, false},
		{400, false},
		{401, false},
		{403, false},
		{404, true},
		{408, true},
		{409, true},
		{410, false},
		{422, false},
		{429, true},
		{500, true},
		{502, true},
		{503, true},
		{504, true},
	}
	for _, tt := range tests {
		if got := Retryable(tt.code); got != tt.want {
			t.Errorf("Retryable(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestRetryWaitHonoursRetryAfterWhenAskedTo(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	httpDate := now.Add(90 * time.Second).Format(http.TimeFormat)
	ten, zero := 10*time.Minute, time.Duration(0)
	tests := []struct {
		name       string
		max        *time.Duration
		code       int
		retryAfter string
		want       time.Duration
	}{
		{"no retryAfterMax: backoff only", nil, 429, "120", time.Second},
		{"PT0S: backoff only", &zero, 503, "120", time.Second},
		{"429 seconds", &ten, 429, "120", 2 * time.Minute},
		{"503 HTTP date", &ten, 503, httpDate, 90 * time.Second},
		{"capped at retryAfterMax", &ten, 429, "3600", 10 * time.Minute},
		{"shorter than backoff", &ten, 429, "0", time.Second},
		{"500 ignores Retry-After", &ten, 500, "120", time.Second},
		{"date in the past", &ten, 503,
			now.Add(-time.Hour).Format(http.TimeFormat), time.Second},
		{"garbage", &ten, 429, "soon", time.Second},
		{"negative", &ten, 429, "-5", time.Second},
		{"missing", &ten, 429, "", time.Second},
	}
	for _, tt := range tests {
		p := DeliveryPolicy{Delay: time.Second, RetryAfterMax: tt.max}
		if got := p.RetryWait(1, tt.code, tt.retryAfter, now); got != tt.want {
			t.Errorf("%s: RetryWait = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNewDeliveryPolicyReadsRetryAfterMax(t *testing.T) {
	p, err := NewDeliveryPolicy(&eventingduckv1.DeliverySpec{
		RetryAfterMax: ptr("PT2M")})
	if err != nil || p.RetryAfterMax == nil || *p.RetryAfterMax != 2*time.Minute {
		t.Errorf("policy %+v, err %v; want RetryAfterMax 2m", p, err)
	}
	_, err = NewDeliveryPolicy(&eventingduckv1.DeliverySpec{
		RetryAfterMax: ptr("2m")})
	if err == nil || !strings.HasPrefix(err.Error(), "retryAfterMax:") {
		t.Errorf("error %v, want one naming retryAfterMax", err)
	}
}
