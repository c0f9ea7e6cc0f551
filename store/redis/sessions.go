package redis

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"simpleapi/store"
	"simpleapi/store/internal/batch"
)

// Sessions is a store.SessionStore in Redis. Keys, under the prefix:
//
//	s:<id>        hash: the session; expires at its deadline
//	t:<hex hash>  string: the id of the session whose current or previous
//	              token has this hash; expires with the session
//	u:<user id>   sorted set: the user's session ids by creation time;
//	              expires after the user's last session
//	live          sorted set: every session id by deadline (ms), so that
//	              counting live sessions reads no session
//
// Key expiry runs on Redis's clock; the store's clock filters every read
// too, so that a session is never returned past its deadline.
type Sessions struct {
	c      goredis.UniversalClient
	prefix string
	now    func() time.Time
	opts   Options
	// lookups gathers the token lookups of concurrent requests into one
	// script call (see store/internal/batch).
	lookups    *batch.Loader[store.TokenHash, record]
	lookupArgs []any // made once: the client copies them
}

var _ store.SessionStore = (*Sessions)(nil)

// NewSessions returns a store using c.
func NewSessions(c goredis.UniversalClient, opts Options) *Sessions {
	opts = opts.withDefaults()
	s := &Sessions{c: c, prefix: opts.Prefix, now: opts.Now, opts: opts}
	s.lookups = batch.New(s.lookupTokens, lookupLanes, lookupBatch)
	s.lookupArgs = lookupArgs(opts.Prefix)
	return s
}

// lookupLanes and lookupBatch bound the batched token lookups: script
// calls on their way at once, and tokens per call.
const lookupLanes, lookupBatch = 1, 64

func (s *Sessions) sessionKey(id string) string { return s.prefix + "s:" + id }
func (s *Sessions) userKey(user string) string  { return s.prefix + "u:" + user }
func (s *Sessions) liveKey() string             { return s.prefix + "live" }
func (s *Sessions) tokenKey(h store.TokenHash) string {
	return s.prefix + "t:" + hex.EncodeToString(h[:])
}

// Fields of the session hash.
const (
	fID, fUser, fHash, fPrevHash        = "id", "user", "hash", "prev"
	fCreated, fExpires, fIdle, fSeen    = "created", "expires", "idle", "seen"
	fIP, fUA, fRotated, fPrevValidUntil = "ip", "ua", "rotated", "prev_until"
)

// maxRetries bounds the optimistic transactions retried after a
// concurrent write to the same session.
const maxRetries = 16

// ttl is how long a session with deadline d still lives at the store's
// clock: 0 for no deadline, negative when it has passed.
func (s *Sessions) ttl(d time.Time) time.Duration {
	if d.IsZero() {
		return 0
	}
	if left := d.Sub(s.now()); left > 0 {
		// Redis keeps milliseconds: round up so the key never ends early.
		return left.Truncate(time.Millisecond) + time.Millisecond
	}
	return -1
}

// deadlineScore is the score of a session in the live set.
func deadlineScore(d time.Time) float64 {
	if d.IsZero() {
		return inf
	}
	return float64(d.UnixMilli())
}

const inf = 1e300 // stands for +inf as a score; Redis accepts it and sorts it last

// write queues every key of v with its time to live, and the removal of
// the index of a token hash that v no longer has (stale; zero: none).
func (s *Sessions) write(ctx context.Context, p goredis.Pipeliner, v store.Session, ttl time.Duration, stale store.TokenHash) {
	sk := s.sessionKey(v.ID)
	p.HSet(ctx, sk, encode(v))
	tokens := []store.TokenHash{v.TokenHash}
	if v.PrevTokenHash != (store.TokenHash{}) {
		tokens = append(tokens, v.PrevTokenHash)
	}
	if stale != (store.TokenHash{}) && !slices.Contains(tokens, stale) {
		p.Del(ctx, s.tokenKey(stale))
	}
	p.ZAdd(ctx, s.liveKey(), goredis.Z{Score: deadlineScore(v.Deadline()), Member: v.ID})
	ms := ttl.Milliseconds()
	p.Eval(ctx, userIndexScript, []string{s.userKey(v.UserID)}, float64(v.CreatedAt.UnixMilli()), v.ID, ms)
	if ttl == 0 {
		p.Persist(ctx, sk)
	} else {
		p.PExpire(ctx, sk, ttl)
	}
	for _, h := range tokens {
		p.Set(ctx, s.tokenKey(h), v.ID, ttl) // 0: no expiry
	}
}

// userIndexScript adds session ARGV[2] (created at ARGV[1]) to the user's
// set KEYS[1] and lets the set live as long as its longest-lived session
// (ARGV[3] ms; 0: no deadline, so the set stays).
const userIndexScript = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl == 0 then return redis.call('PERSIST', KEYS[1]) end
if existed == 0 then return redis.call('PEXPIRE', KEYS[1], ttl) end
return redis.call('PEXPIRE', KEYS[1], ttl, 'GT')
`

func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	if v.ID == "" || v.UserID == "" {
		return store.Errorf(store.EINVALID, "session needs an id and a user id")
	}
	ctx, done := s.opts.begin(ctx, "create_session")
	defer done()
	ttl := s.ttl(v.Deadline())
	sk, tk := s.sessionKey(v.ID), s.tokenKey(v.TokenHash)
	return s.retry(ctx, func(tx *goredis.Tx) error {
		n, err := tx.Exists(ctx, sk, tk).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return store.Errorf(store.ECONFLICT, "session already exists")
		}
		if ttl < 0 {
			return nil // already over: nothing to keep
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			s.write(ctx, p, v, ttl, store.TokenHash{})
			return nil
		})
		return err
	}, sk, tk)
}

// retry runs fn in an optimistic transaction watching keys, again while
// another client changed them first.
func (s *Sessions) retry(ctx context.Context, fn func(*goredis.Tx) error, keys ...string) error {
	for range maxRetries {
		err := s.c.Watch(ctx, fn, keys...)
		if !errors.Is(err, goredis.TxFailedErr) {
			return mapErr(err)
		}
	}
	return store.Errorf(store.EUNAVAILABLE, "session too busy")
}

// lookupScript reads the sessions that index keys KEYS[i] name, in one
// round trip: entry i is the values of the session's fields ARGV[2..], or
// false. ARGV[1] is the session key prefix. (Values only, in a fixed
// order: half the reply of HGETALL, and nothing for the script to build.)
var lookupScript = goredis.NewScript(`
local names = {unpack(ARGV, 2)}
local ids = redis.call('MGET', unpack(KEYS))
local out = {}
for i = 1, #KEYS do
  out[i] = false
  if ids[i] then
    local values = redis.call('HMGET', ARGV[1] .. ids[i], unpack(names))
    if values[1] then out[i] = values end
  end
end
return out
`)

// lookupArgs are the lookup script's arguments: the session key prefix,
// then the field names.
func lookupArgs(prefix string) []any {
	args := []any{prefix + "s:"}
	for _, f := range fields {
		args = append(args, f)
	}
	return args
}

// lookupTokens is the batch.Fetch of token lookups: the record of the
// session each token hash indexes.
func (s *Sessions) lookupTokens(ctx context.Context, hashes []store.TokenHash) ([]batch.Result[record], error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	keys := make([]string, len(hashes))
	for i, h := range hashes {
		keys[i] = s.tokenKey(h)
	}
	res, err := lookupScript.Run(ctx, s.c, keys, s.lookupArgs...).Slice()
	if err != nil {
		return nil, mapErr(err)
	}
	found := make([]batch.Result[record], len(hashes))
	for i, r := range res {
		values, ok := r.([]any)
		if !ok || i >= len(hashes) || len(values) != len(fields) {
			continue
		}
		for j, v := range values {
			found[i].Value[j], _ = v.(string) // nil: a field missing
		}
		found[i].Found = true
	}
	return found, nil
}

func (s *Sessions) SessionByTokenHash(ctx context.Context, h store.TokenHash) (store.Session, error) {
	defer s.opts.observe("session_by_token_hash")()
	r, found, err := s.lookups.Load(ctx, h) // lookupTokens bounds the wait
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	if !found {
		return store.Session{}, notFound()
	}
	v, ok := r.session()
	// The index may outlive a rotation by a moment: trust only the session.
	if !ok || (v.TokenHash != h && v.PrevTokenHash != h) || !v.Live(s.now()) {
		return store.Session{}, notFound()
	}
	return v, nil
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "session_by_id")
	defer done()
	return s.get(ctx, s.c, id)
}

// get reads one live session through c (the client or a transaction).
func (s *Sessions) get(ctx context.Context, c goredis.Cmdable, id string) (store.Session, error) {
	m, err := c.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	v, ok := decode(m)
	if !ok || !v.Live(s.now()) {
		return store.Session{}, notFound()
	}
	return v, nil
}

func (s *Sessions) ListSessions(ctx context.Context, userID string) ([]store.Session, error) {
	ctx, done := s.opts.begin(ctx, "list_sessions")
	defer done()
	uk := s.userKey(userID)
	ids, err := s.c.ZRange(ctx, uk, 0, -1).Result()
	if err != nil {
		return nil, mapErr(err)
	}
	if len(ids) == 0 {
		return []store.Session{}, nil
	}
	cmds, err := s.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, id := range ids {
			p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err)
	}
	now := s.now()
	list := make([]store.Session, 0, len(ids))
	var gone []any
	for i, cmd := range cmds {
		v, ok := decode(cmd.(*goredis.MapStringStringCmd).Val())
		switch {
		case !ok:
			gone = append(gone, ids[i]) // expired: its key is gone
		case v.Live(now):
			list = append(list, v)
		}
	}
	if len(gone) > 0 {
		// Pruning is housekeeping: a failure here changes no answer.
		_ = s.c.ZRem(ctx, uk, gone...).Err()
	}
	slices.SortStableFunc(list, func(a, b store.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return list, nil
}

func (s *Sessions) TouchSession(ctx context.Context, id string, seen, idleExpiresAt time.Time) error {
	ctx, done := s.opts.begin(ctx, "touch_session")
	defer done()
	sk := s.sessionKey(id)
	return s.retry(ctx, func(tx *goredis.Tx) error {
		v, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if seen.After(v.LastSeenAt) {
			v.LastSeenAt = seen
		}
		if idleExpiresAt.After(v.IdleExpiresAt) {
			v.IdleExpiresAt = idleExpiresAt
		}
		ttl := s.ttl(v.Deadline())
		if ttl < 0 {
			return notFound() // ended while being touched
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			s.write(ctx, p, v, ttl, store.TokenHash{})
			return nil
		})
		return err
	}, sk)
}

func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "rotate_token")
	defer done()
	sk := s.sessionKey(id)
	var out store.Session
	err := s.retry(ctx, func(tx *goredis.Tx) error {
		v, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.TokenHash != from {
			return store.Errorf(store.ECONFLICT, "token already replaced")
		}
		stale := v.PrevTokenHash
		v.TokenHash, v.RotatedAt = r.TokenHash, r.RotatedAt
		v.PrevTokenHash, v.PrevValidUntil = r.PrevTokenHash, r.PrevValidUntil
		ttl := s.ttl(v.Deadline())
		if ttl < 0 {
			return notFound()
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			if from != r.PrevTokenHash && from != r.TokenHash {
				p.Del(ctx, s.tokenKey(from))
			}
			s.write(ctx, p, v, ttl, stale)
			return nil
		})
		out = v
		return err
	}, sk)
	if err != nil {
		return store.Session{}, err
	}
	return out, nil
}

// deleteScript removes the sessions ARGV[3..] of the user whose set is
// KEYS[1], with their token indexes. ARGV[1] is the prefix, ARGV[2] the
// store's clock in ms. It returns how many of them were live at that
// clock (their deadline in the live set still ahead).
var deleteScript = goredis.NewScript(`
local n = 0
local live = ARGV[1] .. 'live'
for i = 3, #ARGV do
  local id = ARGV[i]
  local sk = ARGV[1] .. 's:' .. id
  local h = redis.call('HMGET', sk, 'hash', 'prev')
  if redis.call('DEL', sk) == 1 then
    local d = tonumber(redis.call('ZSCORE', live, id))
    if d and d > tonumber(ARGV[2]) then n = n + 1 end
    for _, th in ipairs(h) do
      if th and th ~= '' then
        local tk = ARGV[1] .. 't:' .. th
        if redis.call('GET', tk) == id then redis.call('DEL', tk) end
      end
    end
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', live, id)
end
return n
`)

func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	ctx, done := s.opts.begin(ctx, "delete_session")
	defer done()
	user, err := s.c.HGet(ctx, s.sessionKey(id), fUser).Result()
	if errors.Is(err, goredis.Nil) {
		return notFound()
	}
	if err != nil {
		return mapErr(err)
	}
	n, err := deleteScript.Run(ctx, s.c, []string{s.userKey(user)}, s.prefix, s.now().UnixMilli(), id).Int()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return notFound() // removed meanwhile, or ended already
	}
	return nil
}

func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, done := s.opts.begin(ctx, "delete_user_sessions")
	defer done()
	uk := s.userKey(userID)
	ids, err := s.c.ZRange(ctx, uk, 0, -1).Result()
	if err != nil {
		return 0, mapErr(err)
	}
	args := []any{s.prefix, s.now().UnixMilli()}
	for _, id := range ids {
		if id != exceptID {
			args = append(args, id)
		}
	}
	if len(args) == 2 {
		return 0, nil
	}
	n, err := deleteScript.Run(ctx, s.c, []string{uk}, args...).Int()
	return n, mapErr(err)
}

// DeleteExpired drops ended sessions from the live set; the sessions
// themselves expire by Redis key TTL, so it always reports 0.
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	ctx, done := s.opts.begin(ctx, "delete_expired")
	defer done()
	return 0, s.pruneLive(ctx)
}

func (s *Sessions) pruneLive(ctx context.Context) error {
	// A deadline equal to now has passed (Live is now < deadline).
	max := strconv.FormatInt(s.now().UnixMilli(), 10)
	return mapErr(s.c.ZRemRangeByScore(ctx, s.liveKey(), "-inf", max).Err())
}

// CountSessions counts the live set, the same for every instance.
func (s *Sessions) CountSessions(ctx context.Context) (int, error) {
	ctx, done := s.opts.begin(ctx, "count_sessions")
	defer done()
	if err := s.pruneLive(ctx); err != nil {
		return 0, err
	}
	n, err := s.c.ZCard(ctx, s.liveKey()).Result()
	return int(n), mapErr(err)
}

// Close does nothing: the client belongs to whoever opened it.
func (s *Sessions) Close() error { return nil }

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
