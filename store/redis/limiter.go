package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"simpleapi/store"
)

// Limiter is a store.LoginLimiter in Redis: every instance counts into the
// same keys, each step in one script, so N instances allow no more
// attempts than one. Its policy is the in-process throttle's (auth's
// Throttle): from the MaxFailures-th consecutive failure on, an account
// waits BaseDelay doubled per further failure up to MaxDelay; at most
// MaxFailuresPerHour failures (and attempts in flight) per hour; an address
// has IPBurst attempts refilled at IPPerMinute. Keys, under the prefix:
//
//	l:a:{<sha256 of account>}  hash: c consecutive failures, w wait-until ms
//	l:r:{<sha256 of account>}  sorted set: failures of the last hour (ms)
//	l:f:{<sha256 of account>}  sorted set: attempts in flight, by start (ms)
//	l:ip:{<address>}           hash: tokens, last refill ms
//
// An account's three keys share a hash slot (the braces are a Redis
// Cluster hash tag) and one script reads and writes them; an address's
// bucket is in a slot of its own and has scripts of its own. Allow takes
// the account's attempt first and gives it back when the address has no
// token left, so that the account's limits hold exactly however many
// instances ask at once, and the address's bucket alike.
//
// Unlike the in-process throttle, an attempt in flight is forgotten after
// InFlightLimit, so an instance killed mid-attempt cannot hold an account
// back for long.
type Limiter struct {
	c      goredis.UniversalClient
	prefix string
	limits store.LoginLimits
	now    func() time.Time
	opts   Options
}

var _ store.LoginLimiter = (*Limiter)(nil)

// InFlightLimit is the longest an attempt counts as in flight.
const InFlightLimit = time.Minute

// NewLimiter returns a limiter with limits using c.
func NewLimiter(c goredis.UniversalClient, limits store.LoginLimits, opts Options) *Limiter {
	opts = opts.withDefaults()
	return &Limiter{c: c, prefix: opts.Prefix, limits: limits, now: opts.Now, opts: opts}
}

func (l *Limiter) accountKeys(account string) []string {
	sum := sha256.Sum256([]byte(account))
	h := hex.EncodeToString(sum[:])
	return []string{l.prefix + "l:a:{" + h + "}", l.prefix + "l:r:{" + h + "}", l.prefix + "l:f:{" + h + "}"}
}

func (l *Limiter) addrKey(addr string) []string { return []string{l.prefix + "l:ip:{" + addr + "}"} }

// limiterLib holds the helpers the scripts share. KEYS[1..3] are an
// account's keys, ARGV[1] the clock in ms.
const limiterLib = `
local now = tonumber(ARGV[1])
local hour = 3600000
-- keep sets the account's keys to expire once they limit nothing.
local function keep(ttl)
  for i = 1, 3 do
    if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
`

// allowScript takes an attempt of the account: ARGV = now, max failures
// per hour, max failures, base delay ms, in-flight limit ms. It returns
// the wait in ms, or 0 and the attempt's member of the in-flight set.
var allowScript = goredis.NewScript(limiterLib + `
local perHour, maxFail, base = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local flight = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - hour)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - flight)
local recent = redis.call('ZCARD', KEYS[2])
local inflight = redis.call('ZCARD', KEYS[3])
local a = redis.call('HMGET', KEYS[1], 'c', 'w')
local consec, waitUntil = tonumber(a[1]) or 0, tonumber(a[2]) or 0
if recent + inflight >= perHour then
  if recent > 0 then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2])
    return {math.max(oldest + hour - now, 1000), ''}
  end
  return {base, ''}
end
-- Once an account has failures, attempts in flight may all fail too.
if consec > 0 and inflight > 0 and consec + inflight >= maxFail then return {base, ''} end
if waitUntil > now then return {waitUntil - now, ''} end
local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
local member = now .. ':' .. seq
redis.call('ZADD', KEYS[3], now, member)
keep(math.max(hour, waitUntil - now))
return {0, member}
`)

// addrScript takes a token of the address's bucket KEYS[1]: ARGV = now,
// burst, per minute. It returns the wait in ms, 0 when allowed.
var addrScript = goredis.NewScript(`
local now, burst, perMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) / 60000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens, last = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(now - last, 0) * perMs)
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / perMs) else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / perMs) + 1000)
return wait
`)

// giveBackScript ends attempt ARGV[2] of the account without a result
// (its address had no token): ARGV = now, member.
var giveBackScript = goredis.NewScript(limiterLib + `
redis.call('ZREM', KEYS[3], ARGV[2])
return 0
`)

// failureScript: ARGV = now, max failures, base delay ms, max delay ms.
var failureScript = goredis.NewScript(limiterLib + `
local maxFail, base, maxDelay = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZPOPMIN', KEYS[3])
local consec = redis.call('HINCRBY', KEYS[1], 'c', 1)
local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('ZADD', KEYS[2], now, now .. ':' .. seq)
local waitUntil = tonumber(redis.call('HGET', KEYS[1], 'w')) or 0
local over = consec - maxFail
if over >= 0 then
  local d = base
  for i = 1, over do
    if d >= maxDelay then break end
    d = d * 2
  end
  waitUntil = now + math.min(d, maxDelay)
  redis.call('HSET', KEYS[1], 'w', waitUntil)
end
keep(math.max(hour, waitUntil - now))
return 0
`)

// successScript clears the account: ARGV = now.
var successScript = goredis.NewScript(limiterLib + `
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 0
`)

// refundScript gives the address's bucket KEYS[1] its token back after a
// success: ARGV = now, burst, per minute.
var refundScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now, burst, perMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]) / 60000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens, last = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(now - last, 0) * perMs + 1)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', now)
return 0
`)

// abandonScript: ARGV = now.
var abandonScript = goredis.NewScript(limiterLib + `
redis.call('ZPOPMIN', KEYS[3])
return 0
`)

func (l *Limiter) Allow(ctx context.Context, account, addr string) (time.Duration, bool, error) {
	ctx, done := l.opts.begin(ctx, "login_allow")
	defer done()
	lim := l.limits
	now := l.now().UnixMilli()
	keys := l.accountKeys(account)
	reply, err := allowScript.Run(ctx, l.c, keys, now, lim.MaxFailuresPerHour, lim.MaxFailures,
		lim.BaseDelay.Milliseconds(), InFlightLimit.Milliseconds()).Slice()
	if err != nil {
		return 0, false, mapErr(err)
	}
	if len(reply) != 2 {
		return 0, false, fmt.Errorf("redis: allow script replied %v", reply)
	}
	if wait, _ := reply[0].(int64); wait > 0 {
		return time.Duration(wait) * time.Millisecond, false, nil
	}
	if addr == "" {
		return 0, true, nil
	}
	wait, err := addrScript.Run(ctx, l.c, l.addrKey(addr), now, lim.IPBurst, lim.IPPerMinute).Int64()
	if err == nil && wait == 0 {
		return 0, true, nil
	}
	// No attempt after all: the account's is given back (or, if that
	// fails too, forgotten after InFlightLimit).
	_ = giveBackScript.Run(ctx, l.c, keys, now, reply[1]).Err()
	if err != nil {
		return 0, false, mapErr(err)
	}
	return time.Duration(wait) * time.Millisecond, false, nil
}

func (l *Limiter) Failure(ctx context.Context, account string) error {
	ctx, done := l.opts.begin(ctx, "login_failure")
	defer done()
	lim := l.limits
	return mapErr(failureScript.Run(ctx, l.c, l.accountKeys(account), l.now().UnixMilli(),
		lim.MaxFailures, lim.BaseDelay.Milliseconds(), lim.MaxDelay.Milliseconds()).Err())
}

func (l *Limiter) Success(ctx context.Context, account, addr string) error {
	ctx, done := l.opts.begin(ctx, "login_success")
	defer done()
	now := l.now().UnixMilli()
	_, err := pipelined(ctx, l.c, func(p goredis.Pipeliner) error {
		successScript.Eval(ctx, p, l.accountKeys(account), now)
		if addr != "" {
			refundScript.Eval(ctx, p, l.addrKey(addr), now, l.limits.IPBurst, l.limits.IPPerMinute)
		}
		return nil
	})
	return mapErr(err)
}

func (l *Limiter) Abandon(ctx context.Context, account string) error {
	ctx, done := l.opts.begin(ctx, "login_abandon")
	defer done()
	return mapErr(abandonScript.Run(ctx, l.c, l.accountKeys(account), l.now().UnixMilli()).Err())
}
