package tasks

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ferryfn/ferry/eventing"
)

// A dispatcher usually has no copy of the task whose delivery it reports
// (the ingress, another process, wrote it), so applying the report in Go
// costs a read of the task before its compare-and-set: two round trips,
// and the task's whole JSON decoded and encoded again. The commonest
// report, a delivery that succeeded, is applied by outcomeScript in Redis
// instead, in one round trip and without the read.
//
// The script decodes only the part of the task's JSON before its events
// (appendTask writes the events last, and that part holds no event data,
// only strings, small integers and times), applies the delivery's outcome
// and its reply there as applyOutcome does, derives the task's state as
// derive does, and appends the reply's record, encoded in Go, to the
// events as they are. It takes only the plain case: a task that has the
// delivery, not yet ended, and does not hold the reply yet, with its times
// in UTC. Anything else (a repeated report, a task not recorded yet, a
// task written by an older Ferry) it leaves to the Go path, answering the
// task as it is, so that the Go path needs no read either. The reports'
// effect is the same either way, which TestRedisStoreMatchesDiskStore and
// TestOutcomeScriptMatchesGo check.

// firstTry is a way to apply a report in Redis in one step; see update.
type firstTry func(ctx context.Context, k taskKeys) (tried, error)

// tried is what a firstTry came to: the report written (and whether the
// task is now finished), or the task as it is (nil for none), for the Go
// path to apply the report to.
type tried struct {
	written, finished bool
	current           []byte
}

// outcomeScript records a delivered outcome (with its reply, if any) in
// the task, when it can:
//
//	KEYS: task, events, result
//	ARGV: 1 event id, 2 Trigger, 3 subscriber or "", 4 attempt number,
//	      5 HTTP status, 6 "1" if the attempt's start was not reported,
//	      7 now (RFC 3339, as appendTask writes times), 8 retention in ms,
//	      9 the channel of finished tasks, 10 the task id; then, for a
//	      reply, else "": 11 its event key, 12 its whole JSON, 13 its
//	      record among the task's events (JSON), 14 its id, 15 the
//	      reason it fails the task or ""; 16 and on: its Triggers
//
// It answers {1, 1 if the task is finished else 0} when it wrote, else
// {0, the task JSON as it is}, nil or false for no task.
var outcomeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return {0, false} end
local cut = string.find(cur, '],"events":', 1, true)
if not cut or string.sub(cur, -2) ~= ']}' then return {0, cur} end
local ok, t = pcall(cjson.decode, string.sub(cur, 1, cut) .. '}')
if not ok or type(t) ~= 'table' or type(t.deliveries) ~= 'table' or
    t.events ~= nil then
  return {0, cur}
end

-- A UTC time as text that sorts as the time does; nil for another form.
local function sortable(s)
  if type(s) ~= 'string' then return nil end
  local base, frac = string.match(s,
    '^(%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d)%.?(%d*)Z$')
  if not base or #frac > 9 then return nil end
  return base .. frac .. string.rep('0', 9 - #frac)
end
local now = ARGV[7]
local nowKey, updatedKey = sortable(now), sortable(t.updatedAt)
if not nowKey or not updatedKey then return {0, cur} end

local d
for _, x in ipairs(t.deliveries) do
  if x.eventId == ARGV[1] and x.trigger == ARGV[2] then d = x break end
end
if not d or (d.state ~= 'pending' and d.state ~= 'running' and
    d.state ~= 'retrying') then
  return {0, cur}
end

local reply = ARGV[11] ~= ''
if reply then
  if redis.call('HEXISTS', KEYS[2], ARGV[11]) == 1 then return {0, cur} end
  for i = 16, #ARGV do
    local have = false
    for _, x in ipairs(t.deliveries) do
      if x.eventId == ARGV[14] and x.trigger == ARGV[i] then
        have = true
        break
      end
    end
    if not have then
      table.insert(t.deliveries, {eventId = ARGV[14], trigger = ARGV[i],
        state = 'pending', attempts = 0, updatedAt = now})
    end
  end
  t.resultEventId = ARGV[14]
  if ARGV[15] ~= '' then t.failure = ARGV[15] end
end

if ARGV[3] ~= '' then d.subscriber = ARGV[3] end
d.updatedAt = now
local n, prior = tonumber(ARGV[4]), d.attempts or 0
if d.state == 'running' and ARGV[6] == '1' then
  d.attempts = math.max(prior + 1, n)
else
  d.attempts = math.max(prior, n)
end
d.nextAttempt = nil
d.state, d.reason = 'delivered', nil
d.code = tonumber(ARGV[5])
if d.code == 0 then d.code = nil end

if nowKey > updatedKey then t.updatedAt = now end
local total, retrying, running, pending, delivered, dead = 0
for _, x in ipairs(t.deliveries) do
  total = total + (x.attempts or 0)
  if x.state == 'retrying' then retrying = x
  elseif x.state == 'running' then running = x
  elseif x.state == 'pending' then pending = x
  elseif x.state == 'delivered' then delivered = x
  elseif x.state == 'deadlettered' then dead = x end
end
t.attempts, t.reason, t.code = total, nil, nil
if (t.failure or '') ~= '' then t.state, t.reason = 'failed', t.failure
elseif dead then t.state, t.reason, t.code = 'failed', dead.reason, dead.code
elseif retrying then
  t.state, t.reason, t.code = 'retrying', retrying.reason, retrying.code
elseif running or (pending and delivered) then t.state = 'running'
elseif pending then t.state = 'accepted'
else t.state = 'succeeded' end
if t.reason == '' then t.reason = nil end
if t.code == 0 then t.code = nil end
local finished = t.state == 'succeeded' or t.state == 'failed'
if not finished then t.finishedAt = nil
elseif t.finishedAt == nil then t.finishedAt = now end

-- The deliveries last, then the events, as appendTask writes them.
local deliveries = t.deliveries
t.deliveries = nil
local encoded, head = pcall(cjson.encode, t)
local encodedList, list = pcall(cjson.encode, deliveries)
if not encoded or not encodedList or string.sub(head, -1) ~= '}' or
    string.sub(list, 1, 1) ~= '[' then
  return {0, cur}
end
local events = string.sub(cur, cut + 1, -3)
if reply then
  if string.sub(events, -1) ~= '[' then events = events .. ',' end
  events = events .. ARGV[13]
end
redis.call('SET', KEYS[1], string.sub(head, 1, -2) .. ',"deliveries":' ..
  list .. events .. ']}', 'PX', ARGV[8])
if reply then
  redis.call('HSET', KEYS[2], ARGV[11], ARGV[12])
  redis.call('SET', KEYS[3], ARGV[11])
end
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[8])
if finished then
  redis.call('PUBLISH', ARGV[9], ARGV[10])
  return {1, 1}
end
return {1, 0}
`)

// applyDelivered records a, a delivered outcome, with outcomeScript;
// replyRaw is its reply's whole JSON, nil without one. When the script
// does not take it, the answer holds the task as it is.
func (s *RedisStore) applyDelivered(ctx context.Context, k taskKeys,
	a eventing.Attempt, replyRaw []byte, now time.Time) (tried, error) {
	stamp, err := now.AppendText(nil)
	if err != nil {
		return tried{}, fmt.Errorf("outcome time: %w", err)
	}
	unreported := ""
	if a.StartUnreported {
		unreported = "1"
	}
	args := make([]any, 0, 15+len(a.ReplyTriggers))
	args = append(args, a.Event.ID(), a.Trigger, a.Subscriber, a.Number,
		a.Code, unreported, stamp, s.retention.Milliseconds(),
		s.finishedChannel(), k.id)
	if a.Reply == nil {
		args = append(args, "", "", "", "", "")
	} else {
		rec, err := newEvent(string(eventing.KindReply), a.Reply, now)
		if err != nil {
			return tried{}, err
		}
		recRaw, err := encodeEvent(&rec)
		if err != nil {
			return tried{}, err
		}
		failure, _ := failureReason(a.Reply)
		args = append(args, eventing.EventKey(a.Reply), replyRaw, recRaw,
			a.Reply.ID(), failure)
		for _, trig := range a.ReplyTriggers {
			args = append(args, trig)
		}
	}

	var reply []any
	err = s.do(ctx, func(ctx context.Context, c redis.Cmdable) (err error) {
		reply, err = outcomeScript.Run(ctx, c,
			[]string{k.task, k.events, k.result}, args...).Slice()
		return err
	})
	if err != nil {
		return tried{}, fmt.Errorf("record outcome: %w", err)
	}
	if n, _ := reply[0].(int64); n == 1 {
		f, _ := reply[1].(int64)
		return tried{written: true, finished: f == 1}, nil
	}
	if len(reply) < 2 {
		return tried{}, nil
	}
	switch cur := reply[1].(type) {
	case string:
		return tried{current: []byte(cur)}, nil
	case nil, bool: // Lua's false: there is no task
		return tried{}, nil
	default:
		return tried{}, fmt.Errorf("record outcome: unexpected reply %T", cur)
	}
}
