package eventing

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"
	"github.com/robfig/cron/v3"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
)

// pingParser reads PingSource schedules as Knative's adapter does: five
// fields with optional seconds, descriptors such as @hourly, and a
// CRON_TZ= prefix for the timezone. @every is refused earlier, by the
// PingSource's own validation, as Knative's webhook refuses it.
var pingParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Ping is a Knative PingSource made ready to fire: Ferry's periodic tasks,
// its answer to Celery beat.
type Ping struct {
	Spec     *sourcesv1.PingSource
	schedule cron.Schedule
	proto    event.Event
}

// NewPing parses the PingSource's schedule (with its timezone) and builds
// the event it sends: type dev.knative.sources.ping, source
// /apis/v1/namespaces/<namespace>/pingsources/<name>, the CloudEvent
// overrides' extensions, and spec.data (or dataBase64) with
// spec.contentType, as Knative's ping adapter makes it.
func NewPing(spec *sourcesv1.PingSource, namespace string) (*Ping, error) {
	expr := spec.Spec.Schedule
	if spec.Spec.Timezone != "" {
		expr = "CRON_TZ=" + spec.Spec.Timezone + " " + expr
	}
	sched, err := pingParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("PingSource %s: spec.schedule %q: %w", spec.Name, expr, err)
	}

	ns := spec.Namespace
	if ns == "" {
		ns = namespace
	}
	e := event.New()
	e.SetType(sourcesv1.PingSourceEventType)
	e.SetSource(sourcesv1.PingSourceSource(ns, spec.Name))
	if o := spec.Spec.CloudEventOverrides; o != nil {
		for k, v := range o.Extensions {
			e.SetExtension(k, v)
		}
	}
	var data []byte
	switch {
	case spec.Spec.DataBase64 != "":
		if data, err = base64.StdEncoding.DecodeString(spec.Spec.DataBase64); err != nil {
			return nil, fmt.Errorf("PingSource %s: spec.dataBase64: %w", spec.Name, err)
		}
	case spec.Spec.Data != "":
		data = []byte(spec.Spec.Data)
	}
	if data != nil {
		if err := e.SetData(spec.Spec.ContentType, data); err != nil {
			return nil, fmt.Errorf("PingSource %s: data: %w", spec.Name, err)
		}
	}
	return &Ping{Spec: spec, schedule: sched, proto: e}, nil
}

// Next returns the first firing time after t.
func (p *Ping) Next(t time.Time) time.Time { return p.schedule.Next(t) }

// Event returns the event of a firing at t, with a new id.
func (p *Ping) Event(t time.Time) *event.Event {
	e := p.proto.Clone()
	e.SetID(uuid.NewString())
	e.SetTime(t)
	return &e
}

// Run fires p on its schedule into pub until ctx is done. Firings missed
// while the process was down are not made up, as with Knative's adapter;
// a firing the Broker refuses is logged and lost, as there.
func (p *Ping) Run(ctx context.Context, pub Publisher, log *slog.Logger) {
	log = log.With("component", "ping", "pingsource", p.Spec.Name)
	for {
		next := p.Next(time.Now())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		e := p.Event(next)
		r, err := pub.Publish(ctx, e)
		if err != nil {
			log.Error("ping not published", "id", e.ID(), "err", err)
			continue
		}
		log.Info("ping", "id", e.ID(), "task", r.TaskID)
	}
}
