package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Liveness checking, as a Kubernetes liveness probe does it for a Knative
// Service's container.
const (
	// LivenessIntervalDefault is how often a ready instance's liveness
	// endpoint is probed when Params.LivenessInterval is 0.
	LivenessIntervalDefault = 3 * time.Second
	// livenessFailures is how many probes in a row must fail before the
	// instance is replaced (a Kubernetes probe's failureThreshold).
	livenessFailures = 3
	// livenessProbeTimeout bounds one probe (a probe's timeoutSeconds).
	livenessProbeTimeout = time.Second
)

// watchLiveness probes inst's liveness endpoint every interval while it is
// ready or draining, and replaces it after livenessFailures failures in a
// row: a failure is an answer other than 200, no answer within
// livenessProbeTimeout, or no connection.
func (f *function) watchLiveness(inst *instance, interval time.Duration) {
	defer f.r.wg.Done()
	client := &http.Client{
		Timeout:   livenessProbeTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	url := "http://" + inst.addr + f.health.liveness
	tick := time.NewTicker(interval)
	defer tick.Stop()

	failed := 0
	for {
		select {
		case <-inst.done:
			return
		case <-f.r.ctx.Done():
			return
		case <-tick.C:
		}
		if !f.probing(inst) {
			return
		}
		err := probeLiveness(f.r.ctx, client, url)
		if err == nil {
			failed = 0
			continue
		}
		failed++
		f.log.Debug("liveness probe failed", "pid", inst.pid,
			"failures", failed, "err", err)
		if failed >= livenessFailures {
			f.replace(inst, fmt.Errorf("liveness probe failed %d times "+
				"in a row: %w", failed, err))
			return
		}
	}
}

// probing reports whether inst is still to be probed: it is ready or
// draining.
func (f *function) probing(inst *instance) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return inst.state == stateReady || inst.state == stateDraining
}

// probeLiveness makes one liveness request; nil means it answered 200.
func probeLiveness(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
