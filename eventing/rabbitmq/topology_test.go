package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// queueRow and bindingRow are rows of rabbitmqctl's JSON listings.
type queueRow struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Durable   bool     `json:"durable"`
	Arguments argTable `json:"arguments"`
}

type bindingRow struct {
	Source      string   `json:"source_name"`
	Destination string   `json:"destination_name"`
	Arguments   argTable `json:"arguments"`
}

// argTable reads arguments as rabbitmqctl prints them: a list of
// [name, type, value] triples.
type argTable map[string]any

func (a *argTable) UnmarshalJSON(b []byte) error {
	var rows [][3]any
	if err := json.Unmarshal(b, &rows); err != nil {
		return err
	}
	*a = argTable{}
	for _, r := range rows {
		name, _ := r[0].(string)
		(*a)[name] = r[2]
	}
	return nil
}

func TestOpenDeclaresTopologyAsEventingRabbitMQ(t *testing.T) {
	for _, qt := range []string{QueueTypeQuorum, QueueTypeClassic} {
		t.Run(qt, func(t *testing.T) {
			cesql := trig("cesql", nil, 0)
			cesql.Spec.Filters = []eventingv1.SubscriptionsAPIFilter{
				{Exact: map[string]string{"type": "dev.ferry.x"}}}
			q := openQueue(t, Params{
				QueueType: map[string]string{QueueTypeQuorum: "",
					QueueTypeClassic: QueueTypeClassic}[qt],
				Triggers: []*eventingv1.Trigger{
					trig("photos", map[string]string{
						"type": "dev.ferry.thumbnail", "source": "/cam",
						"subject": ""}, 0),
					trig("everything", nil, 0),
					cesql,
				},
			})
			ns, b := testNamespace, q.p.Broker

			queues := map[string]queueRow{}
			var rows []queueRow
			listJSON(t, &rows, "list_queues", "name", "type", "durable",
				"arguments")
			for _, r := range rows {
				queues[r.Name] = r
			}
			for _, name := range []string{ns + ".photos." + b,
				ns + ".everything." + b, ns + ".cesql." + b,
				"b." + ns + "." + b + ".dead"} {
				r, ok := queues[name]
				if !ok {
					t.Fatalf("queue %s not declared", name)
				}
				if r.Type != qt || !r.Durable {
					t.Errorf("queue %s: type %s durable %v, want %s durable",
						name, r.Type, r.Durable, qt)
				}
			}
			photos := queues[ns+".photos."+b]
			if photos.Arguments["x-dead-letter-routing-key"] !=
				"b."+ns+"."+b+".dead" {
				t.Errorf("trigger queue does not dead-letter to the dead "+
					"queue: %v", photos.Arguments)
			}

			var bindings []bindingRow
			listJSON(t, &bindings, "list_bindings", "source_name",
				"destination_name", "arguments")
			got := map[string]argTable{}
			for _, r := range bindings {
				if r.Source == "b."+ns+"."+b {
					got[r.Destination] = r.Arguments
				}
			}
			want := map[string]map[string]any{
				ns + ".photos." + b: {"x-match": "all",
					"x-knative-trigger": "photos",
					"type":              "dev.ferry.thumbnail", "source": "/cam"},
				ns + ".everything." + b: {"x-match": "all",
					"x-knative-trigger": "everything"},
				ns + ".cesql." + b: {"x-match": "all",
					"x-knative-trigger": "cesql"},
			}
			if len(got) != len(want) {
				t.Errorf("bindings of the exchange: %v, want %v", got, want)
			}
			for dest, args := range want {
				if !sameArgs(got[dest], args) {
					t.Errorf("binding to %s: %v, want %v", dest, got[dest],
						args)
				}
			}
		})
	}
}

// listJSON runs a rabbitmqctl listing and decodes its JSON rows.
func listJSON(t *testing.T, rows any, args ...string) {
	t.Helper()
	out := rabbitmqctl(t, append([]string{args[0], "-q", "--formatter",
		"json"}, args[1:]...)...)
	if err := json.Unmarshal(out, rows); err != nil {
		t.Fatalf("read %s: %v\n%s", args[0], err, out)
	}
}

// sameArgs compares binding arguments as rabbitmqctl prints them.
func sameArgs(got argTable, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestOpenRefusesQueueOfOtherType(t *testing.T) {
	p := Params{Triggers: []*eventingv1.Trigger{trig("a", nil, 0)}}
	first := openQueue(t, p)
	p.Broker = first.p.Broker
	p.QueueType = QueueTypeClassic

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	q, err := Open(ctx, testParams(p))
	if err == nil {
		q.Close()
		t.Fatal("opened a classic queue over a quorum one")
	}
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae.Code != amqp.PreconditionFailed {
		t.Errorf("err = %v, want PRECONDITION_FAILED", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Open waited %s for a mismatch no retry mends",
			time.Since(start))
	}
}

func TestOpenWaitsForRabbitMQ(t *testing.T) {
	admin(t) // RabbitMQ itself must be there
	px := startProxy(t)
	px.Down()
	p := testParams(Params{URL: px.url(),
		Triggers: []*eventingv1.Trigger{trig("a", nil, 0)}})

	opened := make(chan error, 1)
	var q *Queue
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(),
			20*time.Second)
		defer cancel()
		var err error
		q, err = Open(ctx, p)
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned while RabbitMQ was unreachable: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	px.Up()
	if err := <-opened; err != nil {
		t.Fatalf("Open after RabbitMQ came: %v", err)
	}
	t.Cleanup(func() {
		_ = q.Close()
		deleteTopology(t, q.top)
	})
	if err := q.Ready(context.Background()); err != nil {
		t.Errorf("Ready after Open: %v", err)
	}
}

func TestOpenGivesUpWhenContextEnds(t *testing.T) {
	ln := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, testParams(Params{
		URL: "amqp://guest:guest@" + ln + "/"}))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	// The port was closed when picked; another process may take it in
	// between, so the cause is "refused" or whatever that one answered.
	if !strings.Contains(err.Error(), "dial") {
		t.Errorf("err = %v, want it to say why (the dial failed)", err)
	}
}

func TestOpenRefusesBadParams(t *testing.T) {
	const u = "amqp://127.0.0.1:1/"
	a := func() []*eventingv1.Trigger {
		return []*eventingv1.Trigger{trig("a", nil, 0)}
	}
	cases := map[string]Params{
		"no url":      {Broker: "b"},
		"no broker":   {URL: u},
		"queue type":  {URL: u, Broker: "b", QueueType: "stream"},
		"prefetch":    {URL: u, Broker: "b", Prefetch: 70000},
		"parallelism": {URL: u, Broker: "b", Parallelism: 1001},
		"annotation":  {URL: u, Broker: "b", Triggers: a()},
		"two same name": {URL: u, Broker: "b",
			Triggers: append(a(), a()...)},
	}
	cases["annotation"].Triggers[0].Annotations = map[string]string{
		ParallelismAnnotation: "many"}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(),
				5*time.Second)
			defer cancel()
			_, err := Open(ctx, p)
			if err == nil || errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want a parameter error before any dial",
					err)
			}
		})
	}
}
