package tasks

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/redis/go-redis/v9"

	"github.com/ferryfn/ferry/eventing"
)

// RedisPrefixDefault starts every key a RedisStore writes, unless
// RedisOptions.Prefix says otherwise.
const RedisPrefixDefault = "ferry:"

// RedisTimeoutDefault bounds each read, write and dial to Redis when the
// URL does not set its own.
const RedisTimeoutDefault = time.Second

// RetentionDefault is how long a RedisStore keeps a task after its last
// update, as Celery keeps results for a day by default.
const RetentionDefault = 24 * time.Hour

// updateTriesMax bounds how often one report is re-applied when other
// writers keep changing the task between its read and its write; each
// retry waits a random time up to updateBackoffMax, so a report gives up
// with ErrContended after about a second of losing.
const (
	updateTriesMax   = 100
	updateBackoffMin = 100 * time.Microsecond
	updateBackoffMax = 20 * time.Millisecond
)

// ErrContended is returned when a report could not be applied because
// other writers changed the task every time, updateTriesMax (100) times in
// a row. The report was not applied; making it again is safe.
var ErrContended = errors.New("task store: task updated concurrently too often")

// RedisOptions configure OpenRedis.
type RedisOptions struct {
	// Prefix starts every key; empty means RedisPrefixDefault. Stores
	// that share a prefix share their tasks. It should not contain '{',
	// which would defeat the per-task hash tags (see RedisStore).
	Prefix string
	// Retention is how long a task, its events and its result are kept
	// after the task's last update, and how long a published event is remembered;
	// 0 means RetentionDefault (24 h). Redis keeps it in milliseconds,
	// so it must be 0 or at least 1 ms.
	Retention time.Duration
	// Logger receives the store's logs; nil means slog.Default().
	Logger *slog.Logger
}

// RedisStore keeps tasks in Redis (7.0 or later), so that several ingress
// and dispatcher processes share them: any ingress answers for any task.
// It gives the same Task, report for report, as DiskStore.
//
// Keys, for a task id and an event key (eventing.EventKey: source, NUL,
// id):
//
//	<prefix>task:{<id>}         the Task (JSON, with what derive needs)
//	<prefix>task:{<id>}:events  hash: event key -> the whole event (JSON)
//	<prefix>task:{<id>}:result  the event key of the task's result
//	<prefix>event:<event key>   Published: "p:<task>:<token>" while claimed, "s:<task>" once stored
//
// The braces are Redis Cluster hash tags: a task's keys share a slot.
//
// Every update of a task sets all three of its keys to expire Retention
// (default 24 h) later: a task is forgotten Retention after its last
// update, and Get answers ErrNotFound from then on. A report about a task
// that expired creates it afresh from the reported event, as DiskStore does
// for a task it has not seen.
//
// A report is applied in Go, by the same code as in DiskStore, to the task
// as this process last wrote it (or as read from Redis, when it has no
// such copy), and a Lua script writes the task and what the report adds
// only if the task in Redis is still that one (same SHA-1 of its JSON).
// If not, the script answers the task as it is and the report is applied
// again, up to 100 times, with a random backoff of at most 20 ms from the
// second miss on. Updates of one task within a process wait for each
// other, so misses come from other processes only. No update is lost
// whatever the number of processes, reports stay idempotent as the
// Observer contract asks, and an update costs one round trip when this
// process wrote the task last, two otherwise (more under contention).
// The commonest report, a delivery that succeeded, is applied in Redis
// instead, by a script of its own (see outcomeScript), in one round trip
// whoever wrote the task last.
//
// Limitations: timestamps come from the clock of the process that made
// the report, so clock skew between machines shows in a task's times; a
// task is rewritten whole on every update (with at most 8 KiB of inline
// data per event), so very long chains of replies make updates slower; a
// report that loses 100 times in a row returns ErrContended and is not
// applied; published-event records expire Retention after they are stored, however
// often the key is seen again. It has not been run against Redis Cluster.
type RedisStore struct {
	client *redis.Client
	// auto is the client's automatic pipeline, which sends the commands
	// of concurrent callers in one write and reads their replies in one
	// round trip; nil if go-redis could not make one.
	auto *redis.AutoPipeliner
	// commandTimeout bounds each command (see commandContext): the read
	// timeout once per try, 2 s by default.
	commandTimeout time.Duration
	// inflight counts the store's operations in progress: a command
	// goes through auto only when directMax others are in flight, so
	// that a lone caller does not wait for the pipeline's goroutine.
	inflight  atomic.Int32
	prefix    string
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time
	// locks serialise this process's updates of one task, so that
	// compare-and-set conflicts come only from other processes.
	locks taskLocks
	// cache holds the task JSON this process last wrote, per task: the
	// guess an update is based on, instead of reading the task first.
	cache taskCache
	// finished are the long polls waiting for tasks to finish; sub is
	// the subscription that wakes them, made on the first wait.
	finished      finishWaiters
	subscribeOnce sync.Once
	sub           *redis.PubSub
}

// OpenRedis connects to the Redis at redisURL
// (redis://[user:password@]host:port/db, rediss:// for TLS, as
// redis.ParseURL reads it) and checks it with a PING. Errors name the URL
// without its password. The first call also routes go-redis's own
// messages (failed dials, pool trouble), which it logs process-wide, to
// opts.Logger at warn.
func OpenRedis(ctx context.Context, redisURL string, opts RedisOptions) (
	*RedisStore, error) {
	shown := redactURL(redisURL)
	if opts.Retention != 0 && opts.Retention < time.Millisecond {
		return nil, fmt.Errorf("open task store %s: retention %v is below 1ms",
			shown, opts.Retention)
	}
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("open task store %s: %w", shown, urlError(err))
	}
	// A Redis that stops answering (a silent network split) must not hold
	// a producer's request for the client's defaults (3 s per try, three
	// retries): a URL's own read_timeout, write_timeout and max_retries
	// still win.
	if ropts.ReadTimeout == 0 {
		ropts.ReadTimeout = RedisTimeoutDefault
	}
	if ropts.WriteTimeout == 0 {
		ropts.WriteTimeout = RedisTimeoutDefault
	}
	if ropts.DialTimeout == 0 {
		ropts.DialTimeout = RedisTimeoutDefault
	}
	if ropts.MaxRetries == 0 {
		ropts.MaxRetries = 1
	}

	s := &RedisStore{
		commandTimeout: time.Duration(max(ropts.MaxRetries, 0)+1) *
			ropts.ReadTimeout,
		client:    redis.NewClient(ropts),
		prefix:    opts.Prefix,
		retention: opts.Retention,
		log:       opts.Logger,
		now:       time.Now,
	}
	s.auto, err = s.client.AutoPipelineWithOptions(&redis.AutoPipelineOptions{
		MaxConcurrentBatches: autoBatchesMax, Unordered: true,
	})
	if err != nil {
		_ = s.client.Close()
		return nil, fmt.Errorf("open task store %s: %w", shown, err)
	}
	if s.prefix == "" {
		s.prefix = RedisPrefixDefault
	}
	if s.retention == 0 {
		s.retention = RetentionDefault
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "taskstore", "store", "redis")
	clientLogOnce.Do(func() { redis.SetLogger(clientLog{s.log}) })

	if err := s.Ping(ctx); err != nil {
		_ = s.client.Close()
		return nil, fmt.Errorf("open task store %s: %w", shown, err)
	}
	s.log.Debug("task store open", "url", shown, "prefix", s.prefix,
		"retention", s.retention)
	return s, nil
}

// Ping checks that Redis answers, for readiness.
func (s *RedisStore) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// do runs f, one command, with what it goes through: the client while
// fewer than directMax commands of the store are in flight, its automatic
// pipeline when more are. The command is bounded by commandContext; the automatic
// pipeline does not heed a context once a command is queued, so on it the
// wait ends with the context all the same (the command may still run:
// as when a reply is lost, which every caller already allows for). When do
// returns an error, what f writes must not be read: f may still be
// running.
func (s *RedisStore) do(ctx context.Context,
	f func(context.Context, redis.Cmdable) error) error {
	ctx, cancel := s.commandContext(ctx)
	defer cancel()
	defer s.inflight.Add(-1)
	if s.inflight.Add(1) <= directMax {
		return f(ctx, s.client)
	}
	done := make(chan error, 1)
	go func() { done <- f(ctx, s.auto) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("redis command: %w", ctx.Err())
	}
}

// directMax is how many commands of the store go straight to the client
// at once; more go through the automatic pipeline, which costs each a
// handoff to the pipeline's goroutine and back. Two, so that at
// concurrency 1 a post's task record does not take that detour because
// the mark that its event is stored, sent in the background a moment
// earlier, is still on its way: the record took 160-190 us that way, and
// 105 us straight, in alternating runs on a busy 2-core machine. Under
// load, a third command in flight sends the rest through the pipeline.
const directMax = 2

// autoBatchesMax is how many batches the automatic pipeline sends at
// once. Each caller waits for its own command, so their order does not
// matter; with one batch at a time, a Redis that stops answering would
// hold every command queued behind the batch in flight for that batch's
// timeouts first, then for its own.
const autoBatchesMax = 4

// commandContext bounds one command to what the client's timeouts allow
// it, retries included. A command in the automatic pipeline waits for the
// batch before it, and a Redis that stops answering holds that batch for
// the read timeout and each retry: without this bound the commands queued
// behind it would wait several times as long.
func (s *RedisStore) commandContext(ctx context.Context) (context.Context,
	context.CancelFunc) {
	if s.commandTimeout <= 0 { // the URL turned the read timeout off
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.commandTimeout)
}

// Close closes the connections to Redis.
func (s *RedisStore) Close() error {
	s.subscribeOnce.Do(func() {}) // no subscription after Close
	if s.sub != nil {
		_ = s.sub.Close()
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close task store: %w", err)
	}
	s.log.Debug("task store closed")
	return nil
}

// Get implements Reader.
func (s *RedisStore) Get(ctx context.Context, id string) (*Task, error) {
	var raw []byte
	err := s.do(ctx, func(ctx context.Context, c redis.Cmdable) (err error) {
		raw, err = c.Get(ctx, s.taskKey(id)).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return decodeTask(id, raw)
}

// resultScript reads a task's result in one step, so that the task cannot
// expire between the pointer and the event. It answers {status, event}.
var resultScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local key = redis.call('GET', KEYS[3])
if not key then return {'none'} end
local raw = redis.call('HGET', KEYS[2], key)
if not raw then return {'lost'} end
return {'ok', raw}
`)

// Result implements Reader.
func (s *RedisStore) Result(ctx context.Context, id string) (
	*event.Event, error) {
	k := s.keys(id)
	var reply []string
	err := s.do(ctx, func(ctx context.Context, c redis.Cmdable) (err error) {
		reply, err = resultScript.Run(ctx, c,
			[]string{k.task, k.events, k.result}).StringSlice()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("result of task %s: %w", id, err)
	}
	switch reply[0] {
	case "missing":
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	case "none":
		return nil, fmt.Errorf("%w: %s", ErrNoResult, id)
	case "lost":
		return nil, fmt.Errorf("result of task %s: event missing", id)
	}
	e := &event.Event{}
	if err := json.Unmarshal([]byte(reply[1]), e); err != nil {
		return nil, fmt.Errorf("decode result of task %s: %w", id, err)
	}
	return e, nil
}

// Routed implements eventing.Observer: it records e as an event of its task
// and a pending delivery per Trigger.
func (s *RedisStore) Routed(ctx context.Context, kind eventing.EventKind,
	e *event.Event, triggers []string) error {
	raw, err := e.MarshalJSON() // not json.Marshal, which would compact it again
	if err != nil {
		return fmt.Errorf("encode event %s: %w", e.ID(), err)
	}
	isNew := kind == eventing.KindAccepted
	return s.update(ctx, e, s.now(), isNew, nil, func(t *Task,
		now time.Time) (change, error) {
		return applyRouted(t, kind, e, triggers, raw, now)
	})
}

// PrepareRouted implements eventing.RoutedPreparer: it encodes e and
// applies the report to the task as this process last wrote it (no task,
// for a new accepted event), as Routed would, without I/O. The record
// commits that, unless the guess changed meanwhile; then, or when there
// was no guess to build on, it is a plain Routed.
func (s *RedisStore) PrepareRouted(kind eventing.EventKind, e *event.Event,
	triggers []string) func(context.Context) error {
	now := s.now()
	raw, err := e.MarshalJSON()
	if err != nil {
		return func(context.Context) error {
			return fmt.Errorf("encode event %s: %w", e.ID(), err)
		}
	}
	isNew := kind == eventing.KindAccepted
	apply := func(t *Task, now time.Time) (change, error) {
		return applyRouted(t, kind, e, triggers, raw, now)
	}
	id := eventing.TaskID(e)
	d := &draft{}
	d.read, d.guessed = s.cache.get(id)
	if !d.guessed && !isNew {
		d = nil // Routed reads the task first
	} else {
		d.t, d.c, d.raw, d.err = s.applyTo(id, e, d.read, now, apply)
	}
	return func(ctx context.Context) error {
		return s.updateFrom(ctx, e, now, isNew, nil, apply, d)
	}
}

// draft is an update applied ahead of its commit (PrepareRouted): to read,
// the task JSON it was based on (guessed: from the cache), it gives t, c
// and raw, or err, as applyTo does.
type draft struct {
	read    []byte
	guessed bool
	t       *Task
	c       change
	raw     []byte
	err     error
}

// Attempted implements eventing.Observer: it records the progress of one
// delivery.
func (s *RedisStore) Attempted(ctx context.Context, a eventing.Attempt) error {
	now := a.At
	if now.IsZero() {
		now = s.now()
	}
	reply, err := replyJSON(a)
	if err != nil {
		return err
	}
	var first firstTry
	if a.Outcome == eventing.OutcomeDelivered {
		first = func(ctx context.Context, k taskKeys) (tried, error) {
			return s.applyDelivered(ctx, k, a, reply, now)
		}
	}
	return s.update(ctx, a.Event, now, false, first,
		func(t *Task, now time.Time) (change, error) {
			return applyOutcome(t, a, reply, now)
		})
}

// commitScript writes a task if it is still the one the caller based its
// update on:
//
//	KEYS: task, events, result
//	ARGV: SHA-1 (hex) of the task JSON the update is based on, "" for
//	      none; the new task JSON; retention in ms; result event key or
//	      ""; the channel to publish the task id on (the task is
//	      finished) or ""; the task id; then event key and whole event,
//	      in pairs
//
// It answers {1} when it wrote; otherwise {0, the task JSON as it is},
// with false (nil or a boolean, by protocol) when there is no task.
var commitScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local seen = ''
if cur then seen = redis.sha1hex(cur) end
if seen ~= ARGV[1] then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4]) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return {1}
`)

// update applies a report to the task of e (created from e if the store
// has none) and saves it with compare-and-set. When first is set, it
// tries that first: a script that applies the report in Redis, in one
// round trip, and that answers the task as it is when it cannot. Else it
// bases the update on the task as this process last wrote it, or on no
// task for a new accepted event (isNew), and reads it only when it has no
// such guess; a stale guess costs one more round, with the task as it is.
func (s *RedisStore) update(ctx context.Context, e *event.Event,
	now time.Time, isNew bool, first firstTry,
	apply func(*Task, time.Time) (change, error)) error {
	return s.updateFrom(ctx, e, now, isNew, first, apply, nil)
}

// updateFrom is update, with the first application of the report taken
// from d when d is not nil and was based on the same guess as the update
// now finds.
func (s *RedisStore) updateFrom(ctx context.Context, e *event.Event,
	now time.Time, isNew bool, first firstTry,
	apply func(*Task, time.Time) (change, error), d *draft) error {
	id := eventing.TaskID(e)
	k := s.keys(id)
	unlock := s.locks.lock(id)
	defer unlock()

	read, guessed := s.cache.get(id)
	if d != nil && (d.guessed != guessed || !bytes.Equal(d.read, read)) {
		d = nil // this process wrote the task since: apply again
	}
	if first != nil {
		r, err := first(ctx, k)
		if err != nil {
			return fmt.Errorf("update task %s: %w", id, err)
		}
		if r.written {
			// Redis wrote JSON this process has not seen.
			s.cache.drop(id)
			if r.finished {
				s.finished.wake(id)
			}
			if s.debug() {
				s.log.Debug("task updated in redis", "task", id, "id", e.ID())
			}
			return nil
		}
		read, guessed, d = r.current, true, nil
	}
	if !guessed && !isNew {
		var err error
		if read, err = s.read(ctx, k); err != nil {
			return fmt.Errorf("update task %s: %w", id, err)
		}
	}
	for try := 1; ; try++ {
		var (
			t   *Task
			c   change
			raw []byte
			err error
		)
		if try == 1 && d != nil {
			t, c, raw, err = d.t, d.c, d.raw, d.err
		} else {
			t, c, raw, err = s.applyTo(id, e, read, now, apply)
		}
		if err != nil {
			return fmt.Errorf("update task %s: %w", id, err)
		}
		written, current, err := s.commit(ctx, k, read, raw, c,
			t.State.Finished())
		if err != nil {
			return fmt.Errorf("update task %s: %w", id, err)
		}
		if written {
			if t.State.Finished() {
				s.finished.wake(id)
			}
			s.cache.put(id, raw)
			if s.debug() {
				s.log.Debug("task updated", "task", id, "id", e.ID(),
					"state", t.State, "tries", try)
			}
			return nil
		}

		read = current
		if try == updateTriesMax {
			s.log.Error("task update given up", "task", id, "id", e.ID(),
				"tries", try)
			return fmt.Errorf("update task %s: %w", id, ErrContended)
		}
		if try > 1 { // the first miss may be a stale guess, not a race
			if err := pause(ctx, updateBackoff(try-1)); err != nil {
				return fmt.Errorf("update task %s: %w", id, err)
			}
		}
	}
}

// debug reports whether the store logs at debug. Its lines for every
// update are built only then: the attributes of a line not written are
// still boxed, allocations on every report.
func (s *RedisStore) debug() bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}

// read returns the JSON of a task, nil when there is none.
func (s *RedisStore) read(ctx context.Context, k taskKeys) ([]byte, error) {
	var raw []byte
	err := s.do(ctx, func(ctx context.Context, c redis.Cmdable) (err error) {
		raw, err = c.Get(ctx, k.task).Bytes()
		return err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, err // raw may still be written by a command cut short
	}
	return raw, nil
}

// applyTo applies a report to the task read (its JSON, nil for none) and
// returns the task, the report's change and the task's new JSON.
func (s *RedisStore) applyTo(id string, e *event.Event, read []byte,
	now time.Time, apply func(*Task, time.Time) (change, error)) (
	*Task, change, []byte, error) {
	t := newTask(id, e, now)
	if read != nil {
		var err error
		if t, err = decodeTask(id, read); err != nil {
			return nil, change{}, nil, err
		}
	}
	c, err := apply(t, now)
	if err != nil {
		return nil, change{}, nil, err
	}
	t.derive(now)
	raw, err := encodeTask(t)
	return t, c, raw, err
}

// commit writes the task's new JSON and c with commitScript if the task is
// still the one read. When it is not, current is the task as it is (nil
// when there is none).
func (s *RedisStore) commit(ctx context.Context, k taskKeys, read,
	raw []byte, c change, finished bool) (written bool, current []byte,
	err error) {
	channel := ""
	if finished {
		channel = s.finishedChannel()
	}
	args := make([]any, 0, 6+2*len(c.kept))
	args = append(args, taskDigest(read), raw, s.retention.Milliseconds(),
		c.result, channel, k.id)
	for _, kept := range c.kept {
		args = append(args, kept.key, kept.raw)
	}
	var reply []any
	err = s.do(ctx, func(ctx context.Context, conn redis.Cmdable) (err error) {
		reply, err = commitScript.Run(ctx, conn,
			[]string{k.task, k.events, k.result}, args...).Slice()
		return err
	})
	if err != nil {
		return false, nil, err
	}
	if n, _ := reply[0].(int64); n == 1 {
		return true, nil, nil
	}
	if len(reply) < 2 {
		return false, nil, nil
	}
	switch cur := reply[1].(type) {
	case string:
		return false, []byte(cur), nil
	case nil, bool: // Lua's false: there is no task (any more)
		return false, nil, nil
	default:
		return false, nil, fmt.Errorf("commit: unexpected reply %T", cur)
	}
}

// taskLocks is a mutex per task id, kept while someone holds or waits
// for it.
type taskLocks struct {
	mu   sync.Mutex
	byID map[string]*taskLock
}

type taskLock struct {
	mu    sync.Mutex
	users int
}

// lock locks task id and returns its unlock.
func (l *taskLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.byID == nil {
		l.byID = map[string]*taskLock{}
	}
	tl := l.byID[id]
	if tl == nil {
		tl = &taskLock{}
		l.byID[id] = tl
	}
	tl.users++
	l.mu.Unlock()

	tl.mu.Lock()
	return func() {
		tl.mu.Unlock()
		l.mu.Lock()
		if tl.users--; tl.users == 0 {
			delete(l.byID, id)
		}
		l.mu.Unlock()
	}
}

// taskCacheMax is how many tasks a RedisStore remembers as it last wrote
// // them, least recently written first out; tasks over taskCacheSizeMax
// bytes of JSON are not remembered. That is at most 64 MiB, and about
// 2 MiB for typical tasks of 2 KiB.
const (
	taskCacheMax     = 1024
	taskCacheSizeMax = 64 << 10
)

// taskCache is an LRU of task JSON by task id. What it holds is only a
// guess: the compare-and-set of commitScript finds a stale one.
type taskCache struct {
	mu    sync.Mutex
	order list.List // of *cachedTask, most recent at the front
	byID  map[string]*list.Element
}

type cachedTask struct {
	id  string
	raw []byte
}

func (c *taskCache) get(id string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedTask).raw, true
}

// drop forgets id's JSON, which this process no longer knows.
func (c *taskCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[id]; ok {
		c.order.Remove(el)
		delete(c.byID, id)
	}
}

func (c *taskCache) put(id string, raw []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]*list.Element{}
	}
	if el, ok := c.byID[id]; ok {
		c.order.Remove(el)
		delete(c.byID, id)
	}
	if len(raw) > taskCacheSizeMax {
		return
	}
	c.byID[id] = c.order.PushFront(&cachedTask{id: id, raw: raw})
	if c.order.Len() > taskCacheMax {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byID, last.Value.(*cachedTask).id)
	}
}

// taskKeys are the Redis keys of one task, and its id.
type taskKeys struct{ id, task, events, result string }

func (s *RedisStore) keys(id string) taskKeys {
	task := s.taskKey(id)
	return taskKeys{id: id, task: task, events: task + ":events",
		result: task + ":result"}
}

// finishedChannel is the Pub/Sub channel on which the ids of tasks that
// finish are published.
func (s *RedisStore) finishedChannel() string { return s.prefix + "finished" }

// WaitFinished implements Notifier: the store subscribes to the ids of the
// tasks that finish, in any process with the same prefix, on its first
// call. go-redis resubscribes after a lost connection; what is published
// meanwhile is missed.
func (s *RedisStore) WaitFinished(id string) (<-chan struct{}, func()) {
	s.subscribeOnce.Do(func() {
		s.sub = s.client.Subscribe(context.Background(), s.finishedChannel())
		// Wait for Redis to confirm the subscription, so that what is
		// published from now on reaches this store.
		ctx, cancel := context.WithTimeout(context.Background(),
			RedisTimeoutDefault)
		if _, err := s.sub.Receive(ctx); err != nil {
			s.log.Warn("subscribe to finished tasks; long polls read the "+
				"task every second instead", "err", err)
		}
		cancel()
		go func() {
			for msg := range s.sub.Channel() {
				s.finished.wake(msg.Payload)
			}
		}()
	})
	return s.finished.wait(id)
}

func (s *RedisStore) taskKey(id string) string {
	return s.prefix + "task:{" + id + "}"
}

// taskDigest is the SHA-1 (hex) of a task's JSON as commitScript computes it,
// "" for no task. Equal digests mean the same task, so a report applied to
// it stays right even if the task changed and changed back.
func taskDigest(raw []byte) string {
	if raw == nil {
		return ""
	}
	sum := sha1.Sum(raw)
	return hex.EncodeToString(sum[:])
}

func decodeTask(id string, raw []byte) (*Task, error) {
	var st stored
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decode task %s: %w", id, err)
	}
	st.Task.failure = st.Failure
	return &st.Task, nil
}

func encodeTask(t *Task) ([]byte, error) {
	raw, err := appendTask(nil, t)
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	return raw, nil
}

// updateBackoff is the random wait before try+1: full jitter over an interval
// that doubles from updateBackoffMin up to updateBackoffMax.
func updateBackoff(try int) time.Duration {
	ceiling := updateBackoffMax
	if try < 20 {
		ceiling = min(updateBackoffMin<<try, updateBackoffMax)
	}
	return rand.N(ceiling) + 1
}

func pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// redactURL is raw with its password masked, for errors and logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable Redis URL)"
	}
	return strconv.Quote(u.Redacted())
}

// urlError drops the URL from a url.Error, which would show the password.
func urlError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("parse URL: %w", uerr.Err)
	}
	return err
}

// clientLogOnce hands go-redis's own messages (failed dials, pool trouble),
// which it logs process-wide, to the first store's logger.
var clientLogOnce sync.Once

// clientLog logs go-redis's messages at warn.
type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

var _ eventing.RoutedPreparer = (*RedisStore)(nil)
var _ Reader = (*RedisStore)(nil)

// NamespacePrefix is the key prefix of the tasks of one namespace: each
// namespace's Brokers have their own tasks, as on a cluster.
func NamespacePrefix(namespace string) string {
	return RedisPrefixDefault + namespace + ":"
}
