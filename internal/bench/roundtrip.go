package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/tasks"
)

// Round trips before the timed ones, to warm connections and caches.
const roundTripWarmups = 20

// storedTimeout bounds the wait for one task's result.
const storedTimeout = 10 * time.Second

// RoundTrip is the submit-to-result-stored latency at concurrency 1.
type RoundTrip struct {
	// Stored is from the start of the POST until the task store holds the
	// task as succeeded with its result; Accepted until the 202.
	Stored   Latencies
	Accepted Latencies
}

// storedFunc waits until the task with id is succeeded with a result.
type storedFunc func(ctx context.Context, id string) error

// roundTrip posts Runs events one after the other to a RoleAll stack on
// be whose Trigger's subscriber replies with a tiny CloudEvent, and times
// each until its task is stored as succeeded with that reply as result:
// read straight from Redis on RabbitMQ + Redis, over GET /v1/tasks/{id}
// on the embedded store (whose file the stack holds locked).
func (b *bencher) roundTrip(ctx context.Context, be backend) (RoundTrip,
	error) {
	phase := "roundtrip"
	if be == embedded {
		phase = "embedded-" + phase
	}
	s := newScratch(b.run, phase)
	total := roundTripWarmups + b.o.Runs
	sub := newSubscriber(s, total, true, nil)
	defer sub.Close()
	cfg, err := writeConfig(b.tempDir(s), sub.URL(), 0)
	if err != nil {
		return RoundTrip{}, err
	}
	st, err := startStack(ctx, b.o, s, cfg, b.tempDir(s), devstack.RoleAll, be)
	if err != nil {
		return RoundTrip{}, err
	}
	client := newClient(1)
	defer client.CloseIdleConnections()

	var stored storedFunc
	if be == onRabbit {
		defer b.dropTopology(s)
		defer b.dropTasks(s, int64(total))
		store, err := tasks.OpenRedis(ctx, b.o.RedisURL, tasks.RedisOptions{
			Prefix: tasks.NamespacePrefix(s.ns), Logger: b.o.Logger})
		if err != nil {
			_ = closeStack(st)
			return RoundTrip{}, err
		}
		defer store.Close()
		stored = storedIn(store)
	} else {
		stored = storedAt(client, st.URL())
	}

	rt, err := b.timeRoundTrips(ctx, client, st.URL(), s, stored)
	if cerr := closeStack(st); err == nil && cerr != nil {
		err = fmt.Errorf("close stack: %w", cerr)
	}
	return rt, err
}

func (b *bencher) timeRoundTrips(ctx context.Context, client *http.Client,
	base string, s scratch, stored storedFunc) (RoundTrip, error) {
	var rt RoundTrip
	for seq := int64(1); seq <= int64(roundTripWarmups+b.o.Runs); seq++ {
		id := s.taskID(seq)
		start := time.Now()
		if err := post(ctx, client, base, s, seq); err != nil {
			return rt, err
		}
		accepted := time.Since(start)
		wctx, cancel := context.WithTimeout(ctx, storedTimeout)
		err := stored(wctx, id)
		cancel()
		if err != nil {
			return rt, fmt.Errorf("task %s of event %d: %w", id, seq, err)
		}
		if seq > roundTripWarmups {
			rt.Stored = append(rt.Stored, time.Since(start))
			rt.Accepted = append(rt.Accepted, accepted)
		}
	}
	return rt, nil
}

// errTaskFailed is a task that failed where it should have succeeded.
var errTaskFailed = errors.New("task failed")

// pollPause is the pause between two reads of a task while a round trip
// waits for it. Reading in a tight loop would take a core from the flow
// it measures on this 2-core machine (and Redis's one thread from the
// store's own writes); the pause makes each time at most 0.1 ms later
// than the moment the store held the result.
const pollPause = 100 * time.Microsecond

// storedIn polls the Redis task store every pollPause.
func storedIn(store *tasks.RedisStore) storedFunc {
	return func(ctx context.Context, id string) error {
		for first := true; ; first = false {
			if !first && !pause(ctx, pollPause) {
				return ctx.Err()
			}
			t, err := store.Get(ctx, id)
			switch {
			case err == nil && t.State == tasks.Succeeded &&
				t.ResultEventID != "":
				return nil
			case err == nil && t.State == tasks.Failed:
				return fmt.Errorf("%w: %s", errTaskFailed, t.Reason)
			case err != nil && !errors.Is(err, tasks.ErrNotFound):
				return err
			}
		}
	}
}

// storedAt polls GET /v1/tasks/{id} of the ingress at base every
// pollPause.
func storedAt(client *http.Client, base string) storedFunc {
	return func(ctx context.Context, id string) error {
		for first := true; ; first = false {
			if !first && !pause(ctx, pollPause) {
				return ctx.Err()
			}
			t, err := getTask(ctx, client, base, id)
			switch {
			case err != nil:
				return err
			case t == nil:
				continue
			case t.State == tasks.Succeeded && t.ResultEventID != "":
				return nil
			case t.State == tasks.Failed:
				return fmt.Errorf("%w: %s", errTaskFailed, t.Reason)
			}
		}
	}
}

// getTask reads a task over HTTP; nil while the ingress answers 404.
func getTask(ctx context.Context, client *http.Client, base, id string) (
	*tasks.Task, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/v1/tasks/"+id, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get task: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, fmt.Errorf("get task: %w", err)
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("get task: %s: %s", resp.Status, raw)
	}
	t := &tasks.Task{}
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, fmt.Errorf("decode task: %w", err)
	}
	return t, nil
}
