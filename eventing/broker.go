package eventing

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// ParallelismDefault is how many deliveries a Broker makes at once when
// Params.Parallelism is 0.
const ParallelismDefault = 16

// DeadLetterRetryMax caps the wait between attempts to reach a dead letter
// sink. Those attempts never stop: an event is not dropped because its sink
// is down.
const DeadLetterRetryMax = time.Minute

// ErrTTLExhausted marks a delivery whose reply had no knativebrokerttl
// hops left: an event loop, most likely.
var ErrTTLExhausted = errors.New("knativebrokerttl exhausted")

// ErrReplyReusesID marks a delivery whose reply has the source and id of
// the event it answers. Events are known by source and id (CloudEvents
// requires them unique per event), so such a reply would be taken for the
// event itself and lost; the delivery fails instead, visibly.
var ErrReplyReusesID = errors.New("reply reuses the source and id of its event")

// errorDataMax is the most characters of knativeerrordata, the failed
// answer's body in base64, as Knative's dispatcher writes it.
const errorDataMax = 1024

// Resolver finds the Subscriber behind a Knative Destination.
type Resolver interface {
	Resolve(d duckv1.Destination) (Subscriber, error)
}

// Params configure a Broker.
type Params struct {
	// Name and Namespace name the Broker, as its manifest does.
	Name      string
	Namespace string
	// Delivery is the Broker's delivery spec, the default for its Triggers.
	Delivery *eventingduckv1.DeliverySpec
	// Triggers are the Triggers of this Broker.
	Triggers []*eventingv1.Trigger
	// Queue stores the events and pending deliveries.
	Queue Queue
	// Resolver turns subscribers and dead letter sinks into addresses.
	Resolver Resolver
	// Observer, when set, is told of every routing and delivery step.
	Observer Observer
	// Parallelism bounds the deliveries in flight; 0 means
	// ParallelismDefault.
	Parallelism int
	Logger      *slog.Logger
}

// Broker is a Knative Broker over a Queue: Publish stores an event for each
// matching Trigger; Run delivers them.
type Broker struct {
	name, namespace string
	queue           Queue
	resolver        Resolver
	observer        Observer
	parallelism     int
	log             *slog.Logger

	triggers []*Trigger
	byName   map[string]*Trigger

	abortMu sync.Mutex
	abort   context.CancelFunc
}

// NewBroker builds a Broker and its Triggers' filters and delivery policies.
func NewBroker(p Params) (*Broker, error) {
	if p.Queue == nil || p.Resolver == nil {
		return nil, errors.New("new broker: Queue and Resolver are required")
	}
	delivery, err := NewDeliveryPolicy(p.Delivery)
	if err != nil {
		return nil, fmt.Errorf("broker %s: spec.delivery: %w", p.Name, err)
	}
	b := &Broker{
		name:        p.Name,
		namespace:   p.Namespace,
		queue:       p.Queue,
		resolver:    p.Resolver,
		observer:    p.Observer,
		parallelism: p.Parallelism,
		log:         p.Logger,
		byName:      map[string]*Trigger{},
	}
	if b.parallelism <= 0 {
		b.parallelism = ParallelismDefault
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.log = b.log.With("component", "broker", "broker", p.Name)
	if b.observer == nil {
		b.observer = nopObserver{}
	}
	for _, spec := range p.Triggers {
		t, err := newTrigger(spec, delivery)
		if err != nil {
			return nil, err
		}
		if _, dup := b.byName[t.Name()]; dup {
			return nil, fmt.Errorf("broker %s: two Triggers named %q",
				p.Name, t.Name())
		}
		b.triggers = append(b.triggers, t)
		b.byName[t.Name()] = t
	}
	return b, nil
}

// Name returns the Broker's name.
func (b *Broker) Name() string { return b.name }

// Triggers returns the Broker's Triggers.
func (b *Broker) Triggers() []*Trigger { return b.triggers }

// Publish stores e for every Trigger whose filter it passes and returns its
// task. See Publisher.
func (b *Broker) Publish(ctx context.Context, e *event.Event) (Receipt, error) {
	if err := CheckAttributes(e); err != nil {
		return Receipt{}, fmt.Errorf("publish %s: %w", e.ID(), err)
	}
	stampAccepted(e)
	protectData(e)
	routes := b.route(e)

	recording := false
	if rq, ok := b.queue.(RecordingQueue); ok && rq.RecordsTasks() {
		recording = true
	}
	var record func(context.Context) error
	if !recording {
		// Only reads of e from here on: the report is prepared while
		// the queue stores the event.
		var settle func()
		record, settle = b.prepareAccepted(e, routes)
		defer settle()
	}

	first, err := b.queue.Put(ctx, e, routes)
	if err != nil {
		return Receipt{}, fmt.Errorf("publish %s: %w: %v", e.ID(),
			ErrBrokerUnavailable, err)
	}
	if first != nil {
		b.log.Debug("duplicate event", "id", e.ID(), "source", e.Source())
		// Report the first copy again: if the process died between
		// storing it and reporting it, the producer's retry is what
		// tells the task store. Reports are idempotent.
		if err := b.observer.Routed(ctx, KindAccepted, first, b.route(first)); err != nil {
			b.log.Warn("record accepted event", "id", e.ID(), "err", err)
		}
		return Receipt{TaskID: TaskID(first), Duplicate: true}, nil
	}

	if recording {
		b.log.Debug("event accepted", "id", e.ID(), "type", e.Type(),
			"triggers", routes)
		return Receipt{TaskID: TaskID(e)}, nil
	}
	if err := record(ctx); err != nil {
		// The event is stored and will be delivered, but its task is not
		// recorded: no 202. The producer's retry is a duplicate, which
		// reports the task again.
		return Receipt{}, fmt.Errorf("publish %s: %w: %w: %v", e.ID(),
			ErrBrokerUnavailable, ErrTaskNotRecorded, err)
	}
	b.log.Debug("event accepted", "id", e.ID(), "type", e.Type(),
		"triggers", routes)
	return Receipt{TaskID: TaskID(e)}, nil
}

// prepareAccepted returns record, the Observer's Routed report of e as a
// new event, routed to routes. When the Observer is a RoutedPreparer the
// report is prepared at once in a goroutine of its own, and record waits
// for it; settle waits for it too, so that e is not read after Publish
// returns. Otherwise record is a plain Routed report and settle does
// nothing.
func (b *Broker) prepareAccepted(e *event.Event, routes []string) (
	record func(context.Context) error, settle func()) {
	rp, ok := b.observer.(RoutedPreparer)
	if !ok {
		return func(ctx context.Context) error {
			return b.observer.Routed(ctx, KindAccepted, e, routes)
		}, func() {}
	}
	var (
		prepared func(context.Context) error
		panicked any // raised again where the report is due
	)
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		defer func() { panicked = recover() }()
		prepared = rp.PrepareRouted(KindAccepted, e, routes)
	}()
	return func(ctx context.Context) error {
		<-ready
		if panicked != nil {
			panic(panicked)
		}
		return prepared(ctx)
	}, func() { <-ready }
}

// route names the Triggers whose filter e passes.
func (b *Broker) route(e *event.Event) []string {
	var names []string
	m := matchable(e)
	for _, t := range b.triggers {
		if t.matches(m) {
			names = append(names, t.Name())
		}
	}
	return names
}

// Run makes deliveries until ctx is done. Then it takes no new ones and
// waits for those in flight to finish (a graceful stop); Abort cuts them
// short, and they are made again at the next start (or, on RabbitMQ, by
// another dispatcher).
func (b *Broker) Run(ctx context.Context) error {
	dctx, abort := context.WithCancel(context.WithoutCancel(ctx))
	b.abortMu.Lock()
	b.abort = abort
	b.abortMu.Unlock()
	defer abort()

	slots := make(chan struct{}, b.parallelism)
	freed := make(chan struct{}, 1)
	// Deliveries go to idle workers, and a worker is started only when
	// none is idle: a goroutine per delivery would grow a new stack (the
	// HTTP client and the task store's calls are deep) every time.
	work := make(chan Delivery)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	worker := func(d Delivery) {
		defer wg.Done()
		idle := time.NewTimer(workerIdleMax)
		defer idle.Stop()
		for {
			b.deliverSafely(dctx, d)
			if next, ok := b.claimNext(ctx); ok {
				d = next
				continue
			}
			<-slots
			select {
			case freed <- struct{}{}:
			default:
			}
			idle.Reset(workerIdleMax)
			select {
			case d = <-work:
			case <-idle.C:
				return
			case <-stop:
				return
			}
		}
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ds, next := b.queue.Claim(time.Now(), b.parallelism-len(slots))
		for _, d := range ds {
			slots <- struct{}{}
			select {
			case work <- d:
			default:
				wg.Add(1)
				go worker(d)
			}
		}

		// With every slot taken nothing can be claimed, due or not:
		// wait for a slot (freed) instead of polling the queue.
		wait := time.Hour
		if !next.IsZero() && len(slots) < cap(slots) {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-b.queue.Wake():
		case <-freed:
		case <-timer.C:
		}
	}
}

// workerIdleMax is how long a delivery worker of Run waits for the next
// delivery before it ends.
const workerIdleMax = 10 * time.Second

// claimNext claims one due delivery for a worker of Run that has just
// finished one, keeping its slot, unless ctx (Run's) is done. While the
// queue has due deliveries, a worker goes on from one to the next by
// itself: through Run's loop, each delivery cost two goroutine hand-offs
// (the freed slot to the loop, the claimed delivery back to a worker),
// which at parallelism 1 lie on every event's path.
func (b *Broker) claimNext(ctx context.Context) (Delivery, bool) {
	if ctx.Err() != nil {
		return Delivery{}, false
	}
	ds, _ := b.queue.Claim(time.Now(), 1)
	if len(ds) == 0 {
		return Delivery{}, false
	}
	return ds[0], true
}

// Abort cuts short the deliveries in flight after Run's context ended.
func (b *Broker) Abort() {
	b.abortMu.Lock()
	defer b.abortMu.Unlock()
	if b.abort != nil {
		b.abort()
	}
}

// storeRetryDelay is the first wait before recording a delivery's outcome
// again when the task store could not take it; it doubles up to
// storeRetryMax.
const (
	storeRetryDelay = 200 * time.Millisecond
	storeRetryMax   = 10 * time.Second
)

// record runs fn, the recording of d's outcome in the task store, until it
// succeeds. It returns false if ctx ended first (the process is stopping):
// the delivery then stays in the queue and is made again.
func (b *Broker) record(ctx context.Context, t *Trigger, d Delivery,
	fn func() error) bool {
	wait := storeRetryDelay
	for {
		err := fn()
		if err == nil {
			return true
		}
		b.log.Error("task store did not take the outcome; trying again",
			"trigger", t.Name(), "id", d.Event.ID(), "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, storeRetryMax)
	}
}

// panicRetryDelay is how long a delivery whose handling panicked waits
// before it is tried again.
const panicRetryDelay = 5 * time.Second

// deliverSafely is deliver, with a panic (a bug, or a library's on bad
// input) logged and the delivery put back for later instead of the
// process going down: one bad event must not stop the others.
func (b *Broker) deliverSafely(ctx context.Context, d Delivery) {
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("delivery panicked; it will be made again",
				"trigger", d.Trigger, "id", d.Event.ID(), "panic", p,
				"retry_in", panicRetryDelay)
			b.commit(ctx, d, b.queue.Retry(ctx, d, time.Now().Add(panicRetryDelay)))
		}
	}()
	b.deliver(ctx, d)
}

// deliver makes one attempt of d and records its outcome.
func (b *Broker) deliver(ctx context.Context, d Delivery) {
	t := b.byName[d.Trigger]
	if t == nil {
		b.log.Warn("delivery for a Trigger that no longer exists",
			"trigger", d.Trigger, "id", d.Event.ID())
		reason := "Trigger " + d.Trigger + " no longer exists"
		// The task's delivery ends here; its store must hear so, or the
		// task would wait for it forever.
		b.observe(ctx, Attempt{Event: d.Event, Trigger: d.Trigger,
			Number: d.Attempts, Outcome: OutcomeDeadLettered, Reason: reason,
			At: time.Now()})
		b.commit(ctx, d, b.queue.Bury(ctx, d, reason))
		return
	}
	if d.DeadLetter && t.Delivery.DeadLetterSink == nil {
		// Moved to the dead letter path by a run whose Trigger had a
		// sink; it has none now, so the event ends here.
		b.log.Warn("dead letter sink removed, delivery dropped",
			"trigger", d.Trigger, "id", d.Event.ID())
		b.commit(ctx, d, b.queue.Bury(ctx, d, "trigger "+d.Trigger+
			" has no dead letter sink any more"))
		return
	}
	if d.DeadLetter {
		b.deliverDeadLetter(ctx, t, d)
		return
	}
	if !t.Matches(d.Event) {
		// A backend that routes by bindings (RabbitMQ headers) cannot
		// apply every filter; what it lets through is checked here.
		b.commit(ctx, d, b.queue.Done(ctx, d, nil, nil))
		return
	}

	a := Attempt{Event: d.Event, Trigger: t.Name(), Number: d.Attempts + 1,
		Outcome: OutcomeStarted, At: time.Now()}
	sub, err := b.resolver.Resolve(t.Spec.Spec.Subscriber)
	if err == nil {
		a.Subscriber = sub.URL.String()
	}
	reported := b.reportStarted(ctx, a)

	var res Result
	if err != nil {
		res = Result{Err: fmt.Errorf("resolve subscriber: %w", err)}
	} else {
		actx, cancel := context.WithTimeout(ctx, t.Delivery.Timeout)
		res = send(actx, sub, b.namespace, d.Event)
		cancel()
	}
	if ctx.Err() != nil {
		// Shutting down: the delivery stays in the queue and is made
		// again after a restart. Its start is reported now if it was
		// not yet, so that the cut attempt counts.
		b.reportCut(reported, a)
		return
	}
	a.StartUnreported = !reported()
	a.Code, a.At = res.Code, time.Now()
	if res.Err == nil {
		b.delivered(ctx, t, d, a, res.Reply)
		return
	}
	b.failed(ctx, t, d, a, res)
}

// StartedReportDelay is how long an attempt runs before the Observer is
// told that it started. A shorter attempt is reported once, with its
// outcome, which halves the task store's work for fast functions (Celery
// does not track a started state at all by default); a longer one shows
// as running while it runs.
const StartedReportDelay = 50 * time.Millisecond

// reportStarted reports a, an OutcomeStarted attempt, once it has run for
// StartedReportDelay. settle is called when the attempt ends: it cancels
// the report, or waits for it to finish (so that the outcome is reported
// after it), and says whether it was made and taken.
func (b *Broker) reportStarted(ctx context.Context, a Attempt) (
	settle func() (made bool)) {
	done := make(chan struct{})
	var taken bool
	timer := time.AfterFunc(StartedReportDelay, func() {
		defer close(done)
		// A failure is logged; the outcome is reported anyway.
		taken = b.observe(ctx, a) == nil
	})
	return func() bool {
		if timer.Stop() {
			return false
		}
		<-done
		return taken
	}
}

// reportCut reports the start of a, cut short by a shutdown, unless
// settle (from reportStarted) finds it made already.
func (b *Broker) reportCut(settle func() bool, a Attempt) {
	if settle() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cutReportTimeout)
	defer cancel()
	_ = b.observe(ctx, a) // logged; a restart reports the next attempt
}

// cutReportTimeout bounds the report of an attempt cut by a shutdown.
const cutReportTimeout = time.Second

func (b *Broker) delivered(ctx context.Context, t *Trigger, d Delivery,
	a Attempt, reply *event.Event) {
	var routes []string
	if reply != nil {
		if EventKey(reply) == EventKey(d.Event) {
			b.failed(ctx, t, d, a, Result{Code: a.Code, Err: fmt.Errorf(
				"%w: %s %s; give the reply a new id", ErrReplyReusesID,
				reply.Source(), reply.ID())})
			return
		}
		if !stampReply(reply, d.Event) {
			// Knative's loop guard: the reply has used up its hops, so
			// the event that caused it takes the dead letter path.
			b.failed(ctx, t, d, a, Result{Code: a.Code, Err: fmt.Errorf(
				"%w: the reply %s was not routed", ErrTTLExhausted, reply.ID())})
			return
		}
		if err := CheckAttributes(reply); err != nil {
			// Not retried: the same answer would come back.
			b.failed(ctx, t, d, a, Result{Code: http.StatusBadGateway, Err: fmt.Errorf(
				"reply %s: %w", reply.ID(), err)})
			return
		}
		protectData(reply)
		routes = b.route(reply)
	}
	// The reply is recorded with the delivery's end, in one report, so
	// that a task never looks finished without its result nor failed by
	// its reply before the attempt counts. While the task store cannot
	// take it, the report is tried again (the delivery itself is not: its
	// outcome is known); only a stop leaves the delivery to be made
	// again.
	a.Outcome, a.Reply, a.ReplyTriggers = OutcomeDelivered, reply, routes
	if rq, ok := b.queue.(RecordingQueue); ok && rq.RecordsTasks() {
		// One commit ends the delivery and records its outcome.
		if b.record(ctx, t, d, func() error {
			return rq.DoneRecorded(ctx, d, a, reply, routes)
		}) {
			b.logDelivered(t, d, a, reply)
		}
		return
	}
	recorded := b.record(ctx, t, d, func() error {
		return b.observe(ctx, a)
	})
	if !recorded {
		return
	}
	b.logDelivered(t, d, a, reply)
	b.commit(ctx, d, b.queue.Done(ctx, d, reply, routes))
}

func (b *Broker) logDelivered(t *Trigger, d Delivery, a Attempt,
	reply *event.Event) {
	// Checked first: at warn, the level bench and busy dispatchers run
	// at, the arguments would still be boxed for every delivery.
	if !b.log.Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	b.log.Info("delivered", "trigger", t.Name(), "id", d.Event.ID(),
		"type", d.Event.Type(), "attempt", a.Number, "status", a.Code,
		"reply", replyType(reply))
}

func (b *Broker) failed(ctx context.Context, t *Trigger, d Delivery,
	a Attempt, res Result) {
	a.Reason = res.Err.Error()
	final := errors.Is(res.Err, ErrTTLExhausted) || errors.Is(res.Err, ErrAttributes)
	if !final && Retryable(res.Code) && a.Number <= t.Delivery.Retries {
		wait := t.Delivery.RetryWait(a.Number, res.Code, res.RetryAfter, a.At)
		a.Outcome, a.NextAttempt = OutcomeRetrying, a.At.Add(wait)
		b.observe(ctx, a)
		b.log.Warn("delivery failed, will retry", "trigger", t.Name(),
			"id", d.Event.ID(), "attempt", a.Number, "status", res.Code,
			"backoff", wait, "err", res.Err)
		d.Attempts = a.Number
		b.commit(ctx, d, b.queue.Retry(ctx, d, a.NextAttempt))
		return
	}

	a.Outcome = OutcomeDeadLettered
	// As in delivered: no final step the task store has not taken.
	if !b.record(ctx, t, d, func() error { return b.observe(ctx, a) }) {
		return
	}
	b.log.Warn("delivery failed for good", "trigger", t.Name(),
		"id", d.Event.ID(), "attempts", a.Number, "status", res.Code,
		"err", res.Err)
	if t.Delivery.DeadLetterSink == nil {
		b.commit(ctx, d, b.queue.Bury(ctx, d, a.Reason))
		return
	}
	d.DeadLetter, d.Attempts = true, 0
	// Only what knativeerrordata can hold is kept with the delivery.
	d.ErrCode, d.ErrData = res.Code, res.Body[:min(len(res.Body), errorBodyMax)]
	b.commit(ctx, d, b.queue.Retry(ctx, d, time.Now()))
}

// deliverDeadLetter sends d's event, with Knative's error extensions, to the
// Trigger's dead letter sink. It retries with the Trigger's backoff, capped
// at DeadLetterRetryMax, for as long as it takes.
func (b *Broker) deliverDeadLetter(ctx context.Context, t *Trigger, d Delivery) {
	sink := t.Delivery.DeadLetterSink
	e := deadLetterEvent(d, b.errorDest(t))
	sub, err := b.resolver.Resolve(*sink)
	var res Result
	if err != nil {
		res = Result{Err: fmt.Errorf("resolve dead letter sink: %w", err)}
	} else {
		actx, cancel := context.WithTimeout(ctx, t.Delivery.Timeout)
		res = send(actx, sub, b.namespace, e)
		cancel()
	}
	if ctx.Err() != nil {
		return
	}
	if res.Err == nil {
		b.log.Info("dead-lettered", "trigger", t.Name(), "id", e.ID())
		b.commit(ctx, d, b.queue.Done(ctx, d, nil, nil))
		return
	}
	d.Attempts++
	wait := min(t.Delivery.Backoff(d.Attempts), DeadLetterRetryMax)
	if wait <= 0 {
		wait = time.Second
	}
	b.log.Warn("dead letter sink failed, will retry", "trigger", t.Name(),
		"id", e.ID(), "attempt", d.Attempts, "backoff", wait, "err", res.Err)
	b.commit(ctx, d, b.queue.Retry(ctx, d, time.Now().Add(wait)))
}

// errorDest names the destination whose delivery failed, for
// knativeerrordest: the Trigger's subscriber, as Knative's dispatcher names
// it (its URL), not the dead letter sink.
func (b *Broker) errorDest(t *Trigger) string {
	s := t.Spec.Spec.Subscriber
	if sub, err := b.resolver.Resolve(s); err == nil && sub.URL != nil {
		return sub.URL.String()
	}
	if s.URI != nil {
		return s.URI.String()
	}
	if s.Ref != nil {
		return s.Ref.Kind + "/" + s.Ref.Name
	}
	return ""
}

// errorBodyMax is the most bytes of a failed answer's body kept for
// knativeerrordata: 768 bytes encode to exactly errorDataMax characters.
const errorBodyMax = errorDataMax / 4 * 3

// deadLetterEvent is d's event with knativeerrordest (dest), knativeerrorcode
// and knativeerrordata, as Knative's dispatcher sets them.
func deadLetterEvent(d Delivery, dest string) *event.Event {
	e := d.Event.Clone()
	e.SetExtension("knativeerrordest", dest)
	e.SetExtension("knativeerrorcode", fmt.Sprint(d.ErrCode))
	if body := d.ErrData; len(body) > 0 {
		body = body[:min(len(body), errorBodyMax)]
		e.SetExtension("knativeerrordata",
			base64.StdEncoding.EncodeToString(body))
	}
	return &e
}

// commit logs a Queue error. The delivery then stays claimed until the next
// start, when it is made again: nothing is lost, it is only late. A
// delivery whose connection went (ErrDeliveryReturned) is logged at warn:
// that is what a broker outage or a network cut is expected to do.
func (b *Broker) commit(ctx context.Context, d Delivery, err error) {
	switch {
	case err == nil || ctx.Err() != nil:
	case errors.Is(err, ErrDeliveryReturned):
		b.log.Warn("delivery returned to its queue; it comes again",
			"trigger", d.Trigger, "id", d.Event.ID(), "err", err)
	default:
		b.log.Error("queue update failed", "trigger", d.Trigger,
			"id", d.Event.ID(), "err", err)
	}
}

// observe reports a to the Observer; a failure is logged and returned.
func (b *Broker) observe(ctx context.Context, a Attempt) error {
	err := b.observer.Attempted(ctx, a)
	if err != nil {
		b.log.Warn("record delivery attempt", "trigger", a.Trigger,
			"id", a.Event.ID(), "err", err)
	}
	return err
}

func replyType(e *event.Event) string {
	if e == nil {
		return ""
	}
	return e.Type()
}

type nopObserver struct{}

func (nopObserver) Routed(context.Context, EventKind, *event.Event, []string) error {
	return nil
}
func (nopObserver) Attempted(context.Context, Attempt) error { return nil }
