package bench

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ferryfn/ferry/devstack"
	"github.com/ferryfn/ferry/internal/testservices"
	"github.com/ferryfn/ferry/tasks"
)

// quietOptions are small Options against the test services.
func quietOptions(t *testing.T) Options {
	amqpURL, redisURL := testservices.Services(t)
	return Options{
		AMQPURL: amqpURL, RedisURL: redisURL,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Events: 200, Runs: 5,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// The raw ceiling must publish the very message Ferry's ingress writes
// for a posted event: same headers, same properties, same body.
func TestRawMessageIsTheMessageTheIngressWrites(t *testing.T) {
	o, err := quietOptions(t).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := runID()

	raw := newScratch(run, "sample-raw")
	t.Cleanup(func() { _ = raw.dropTopology(o.AMQPURL) })
	cfg, err := writeConfig(t.TempDir(), "http://127.0.0.1:9/", rawParallelism)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := messageTemplate(ctx, o, raw, cfg)
	if err != nil {
		t.Fatal(err)
	}

	via := newScratch(run, "sample-http")
	dir := t.TempDir()
	t.Cleanup(func() {
		_ = via.dropTopology(o.AMQPURL)
		_ = via.dropTasks(context.Background(), o.RedisURL, 1)
	})
	st, err := startStack(ctx, o, via, cfg, dir, devstack.RoleIngress, onRabbit)
	if err != nil {
		t.Fatal(err)
	}
	err = post(ctx, newClient(1), st.URL(), via, 1)
	if cerr := closeStack(st); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := takeOne(o.AMQPURL, via.queue())
	if err != nil {
		t.Fatal(err)
	}

	wantKeys := slices.Sorted(maps.Keys(tmpl.Headers))
	var gotKeys []string
	for k := range got.Headers {
		if k != hdrPublishTag {
			gotKeys = append(gotKeys, k)
		}
	}
	slices.Sort(gotKeys)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("headers: ingress wrote %v, raw publishes %v", gotKeys,
			wantKeys)
	}
	if string(got.Body) != string(tmpl.Body) ||
		got.ContentType != tmpl.ContentType ||
		got.DeliveryMode != tmpl.DeliveryMode {
		t.Errorf("ingress wrote %s %d %q, raw publishes %s %d %q",
			got.ContentType, got.DeliveryMode, got.Body[:20],
			tmpl.ContentType, tmpl.DeliveryMode, tmpl.Body[:20])
	}
	for _, k := range []string{"correlationid", "knativebrokerttl", "type"} {
		if _, ok := tmpl.Headers[k]; !ok {
			t.Errorf("raw message lacks header %s: %v", k, tmpl.Headers)
		}
	}
}

// A short run of every phase fills every row and leaves nothing behind
// on RabbitMQ or in Redis.
func TestRunMeasuresEveryPointAndCleansUp(t *testing.T) {
	o := quietOptions(t)
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range Concurrencies {
		if r.Ceiling.Publish[c].Count == 0 || r.Ingress[c].Count == 0 ||
			r.EmbeddedIngress[c].Count == 0 {
			t.Errorf("c=%d: a throughput point counted nothing", c)
		}
	}
	if !r.Ceiling.Consume.Complete() {
		t.Errorf("raw consume: %+v", r.Ceiling.Consume)
	}
	for _, p := range Parallelisms {
		if d := r.Dispatch[p]; !d.Complete() || d.Rate() <= 0 {
			t.Errorf("dispatch p=%d: %+v", p, d)
		}
	}
	for _, rt := range []*RoundTrip{r.RoundTrip, r.EmbeddedRoundTrip} {
		if rt == nil || len(rt.Stored) != o.Runs ||
			rt.Stored.P50() < rt.Accepted.P50() {
			t.Errorf("round trip %+v: want %d runs, stored after accepted",
				rt, o.Runs)
		}
	}
	for _, c := range Concurrencies {
		if r.Floor.Ingress[c].Count == 0 {
			t.Errorf("floor ingress c=%d counted nothing", c)
		}
	}
	for _, p := range Parallelisms {
		if d := r.Floor.Dispatch[p]; !d.Complete() || d.Rate() <= 0 {
			t.Errorf("floor dispatch p=%d: %+v", p, d)
		}
	}
	// RabbitMQ and Redis run on this machine in CI: every process's CPU
	// time is known, and 300 ms of posts at c=64 used some of this
	// process's (a short drain may take less than one 10 ms tick).
	if cpu := r.Ingress[64].CPU; !cpu.Known() || cpu.Self <= 0 {
		t.Errorf("ingress c=64: CPU time not measured: %+v", cpu)
	}
	if cpu := r.Dispatch[100].CPU; !cpu.Known() {
		t.Errorf("dispatch p=100: CPU time not measured: %+v", cpu)
	}
	md := r.Markdown()
	table, cpuTable, ok := strings.Cut(md, "CPU time per event")
	if !ok {
		t.Fatalf("no CPU table:\n%s", md)
	}
	if n := strings.Count(table, "\n| "); n != 24 {
		t.Errorf("table has %d rows, want 24 (header and 23 points):\n%s",
			n, md)
	}
	// Every throughput and drain point, not the two round trips.
	if n := strings.Count(cpuTable, "\n| "); n != 20 {
		t.Errorf("CPU table has %d rows, want 20 (header and 19 points):"+
			"\n%s", n, md)
	}

	prefix := "ferry-bench-" + r.Run + "-"
	out, err := exec.Command("rabbitmqctl", "list_queues", "-q",
		"--no-table-headers", "name").Output()
	if err != nil {
		t.Fatalf("rabbitmqctl list_queues: %v", err)
	}
	for _, q := range strings.Fields(string(out)) {
		if strings.Contains(q, prefix) {
			t.Errorf("queue %s left behind", q)
		}
	}
	assertNoTasks(t, o.RedisURL, newScratch(r.Run, "ingress-64"),
		newScratch(r.Run, "dispatch-100"), newScratch(r.Run, "roundtrip"))
}

// assertNoTasks checks that event 1 of each namespace left no key.
func assertNoTasks(t *testing.T, redisURL string, scratches ...scratch) {
	t.Helper()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	for _, s := range scratches {
		p := tasks.NamespacePrefix(s.ns)
		task := p + "task:{" + s.taskID(1) + "}"
		n, err := c.Exists(ctx, task, task+":events",
			p+"event:"+s.source+"\x00"+s.eventID(1)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d Redis keys of event 1 left behind", s.ns, n)
		}
	}
}
