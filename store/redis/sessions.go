package redis

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"simpleapi/store"
	"simpleapi/store/internal/batch"
)

// Sessions is a store.SessionStore in Redis. Keys, under the prefix:
//
//	s:<id>          hash: the session; expires at its deadline
//	t:<hex family>  string: the id of the session of this family; expires
//	                with the session
//	u:<user id>     sorted set: the user's session ids by creation time;
//	                expires after the user's last session
//	live            sorted set: every session id by deadline (ms), so that
//	                counting live sessions reads no session
//	c:<key>         string: a challenge, "<deadline ms>:<data>"; expires
//	                at its deadline
//
// The family index is named "t:" because sessions were once indexed by
// token hash there: a session stored then has its token hash for family
// (and no family field), so its index key serves as is. Such a session
// may also have a key for its previous token; a lookup checks the
// family of the session it finds, so that key finds nothing, and the
// session's next rotation or deletion removes it.
//
// Every write to a session is one script, which Redis runs atomically:
// parallel requests of one client wait for each other on the server
// instead of retrying optimistic transactions that they could exhaust.
//
// Key expiry runs on Redis's clock; the store's clock filters every read
// too, so that a session (or a challenge) is never returned past its
// deadline.
type Sessions struct {
	c      goredis.UniversalClient
	prefix string
	now    func() time.Time
	opts   Options
	// lookups gathers the family lookups of concurrent requests into one
	// script call (see store/internal/batch).
	lookups    *batch.Loader[store.TokenHash, record]
	lookupArgs []any // made once: the client copies them
}

var _ store.SessionStore = (*Sessions)(nil)

// NewSessions returns a store using c.
func NewSessions(c goredis.UniversalClient, opts Options) *Sessions {
	opts = opts.withDefaults()
	s := &Sessions{c: c, prefix: opts.Prefix, now: opts.Now, opts: opts}
	s.lookups = batch.New(s.lookupFamilies, lookupLanes, lookupBatch)
	s.lookupArgs = []any{opts.Prefix}
	return s
}

// lookupLanes and lookupBatch bound the batched family lookups: script
// calls on their way at once, and families per call.
const lookupLanes, lookupBatch = 1, 64

func (s *Sessions) sessionKey(id string) string  { return s.prefix + "s:" + id }
func (s *Sessions) userKey(user string) string   { return s.prefix + "u:" + user }
func (s *Sessions) liveKey() string              { return s.prefix + "live" }
func (s *Sessions) challengeKey(k string) string { return s.prefix + "c:" + k }
func (s *Sessions) familyKey(f store.TokenHash) string {
	return s.prefix + "t:" + hex.EncodeToString(f[:])
}

// ttl is how long a session with deadline d still lives at the store's
// clock, in ms: 0 for no deadline, -1 when it has passed. Deadlines are
// kept in ms, so this is exact: ttl > 0 exactly when the session is Live.
func (s *Sessions) ttl(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	if left := d.UnixMilli() - s.now().UnixMilli(); left > 0 {
		return left
	}
	return -1
}

// deadlineScore is the score of a session in the live set.
func deadlineScore(d time.Time) string {
	if d.IsZero() {
		return "+inf"
	}
	return strconv.FormatInt(d.UnixMilli(), 10)
}

// luaFields is fields as the items of a Lua table.
var luaFields = "'" + strings.Join(fields[:], "', '") + "'"

// sessionLib holds what the session scripts share. In each of them
// ARGV[1] is the key prefix and ARGV[2] the store's clock in Unix ms.
var sessionLib = `
local prefix, now = ARGV[1], tonumber(ARGV[2])
-- ms reads a time field as Unix ms, nil for none. A value of 16 digits or
-- more is Unix ns, as times were stored before (see nanoDigits).
local function ms(v)
  if not v or v == '' then return nil end
  local digits = #v
  if string.sub(v, 1, 1) == '-' then digits = digits - 1 end
  if digits >= 16 then return tonumber(string.sub(v, 1, -7)) end
  return tonumber(v)
end
-- later reports whether time a is set and later than time b.
local function later(a, b)
  a, b = ms(a), ms(b)
  return a ~= nil and (b == nil or a > b)
end
-- deadline is the nearer of a session's two deadlines, nil for none.
local function deadline(expires, idle)
  expires, idle = ms(expires), ms(idle)
  if not expires then return idle end
  if not idle or expires < idle then return expires end
  return idle
end
-- familyOf: a session stored before families has its token hash for one.
local function familyOf(family, hash)
  if family and family ~= '' then return family end
  return hash
end
-- owner returns the id of the session of family f, nil for none. The
-- index key may be a token's from before families: the session it names
-- must have the family.
local function owner(f)
  local id = redis.call('GET', prefix .. 't:' .. f)
  if not id then return nil end
  local v = redis.call('HMGET', prefix .. 's:' .. id, 'family', 'hash')
  if familyOf(v[1], v[2]) == f then return id end
  return nil
end
-- unindex deletes the index key of hash h if it names session id.
local function unindex(h, id)
  if not h or h == '' then return end
  local k = prefix .. 't:' .. h
  if redis.call('GET', k) == id then redis.call('DEL', k) end
end
-- remove deletes session id, its index keys and its entries in the user's
-- and the live set. It returns 1 when the session was live, else 0.
local function remove(id)
  local sk = prefix .. 's:' .. id
  local v = redis.call('HMGET', sk, 'user', 'family', 'hash', 'prev', 'expires', 'idle')
  redis.call('ZREM', prefix .. 'live', id)
  if not v[1] then return 0 end
  redis.call('DEL', sk)
  redis.call('ZREM', prefix .. 'u:' .. v[1], id)
  unindex(familyOf(v[2], v[3]), id)
  unindex(v[4], id)
  local d = deadline(v[5], v[6])
  if d and d <= now then return 0 end
  return 1
end
`

// createScript stores a session. KEYS[1] is its key; ARGV[3..8] are its
// id, family, user id, time to live in ms (0: none, negative: over
// already), creation time and live-set score; then the hash's field-value
// pairs. It returns 0, or 1 when the id is in use, 2 when the family is.
var createScript = goredis.NewScript(sessionLib + `
local id, family, user, ttl = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
if owner(family) then return 2 end
if ttl < 0 then return 0 end
local fk, uk = prefix .. 't:' .. family, prefix .. 'u:' .. user
local existed = redis.call('EXISTS', uk)
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('SET', fk, id)
redis.call('ZADD', uk, ARGV[7], id)
redis.call('ZADD', prefix .. 'live', ARGV[8], id)
if ttl == 0 then
  redis.call('PERSIST', uk)
  return 0
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', fk, ttl)
-- The user's set lives as long as its longest-lived session.
if existed == 0 then
  redis.call('PEXPIRE', uk, ttl)
else
  redis.call('PEXPIRE', uk, ttl, 'GT')
end
return 0
`)

// touchScript records a use of session ARGV[3] (key KEYS[1]): last seen
// ARGV[4] and idle deadline ARGV[5] (ms, "" for none), each only if
// later than the kept one. A later deadline moves the keys' expiry. It
// returns 1, or 0 when the session is not live.
var touchScript = goredis.NewScript(sessionLib + `
local id = ARGV[3]
local v = redis.call('HMGET', KEYS[1], 'user', 'family', 'hash', 'expires', 'idle', 'seen')
if not v[1] then return 0 end
local d = deadline(v[4], v[5])
if d and d <= now then return 0 end
local nd, idle = d, later(ARGV[5], v[5])
if idle then nd = deadline(v[4], ARGV[5]) end
if nd and nd <= now then return 0 end
if later(ARGV[4], v[6]) then redis.call('HSET', KEYS[1], 'seen', ARGV[4]) end
if idle then
  redis.call('HSET', KEYS[1], 'idle', ARGV[5])
  if nd ~= d then
    local ttl = nd - now
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', prefix .. 't:' .. familyOf(v[2], v[3]), ttl)
    redis.call('PEXPIRE', prefix .. 'u:' .. v[1], ttl, 'GT')
    redis.call('ZADD', prefix .. 'live', nd, id)
  end
end
return 1
`)

// rotateScript replaces the token of session ARGV[3] (key KEYS[1]) if it
// is still ARGV[4], and moves it to family ARGV[5]; ARGV[6..] are the
// field-value pairs to set. It returns the session's values in the order
// of fields, or 0 when the session is not live, 1 when its token was
// replaced already, 2 when the family is another session's.
var rotateScript = goredis.NewScript(sessionLib + `
local id, from, family = ARGV[3], ARGV[4], ARGV[5]
local v = redis.call('HMGET', KEYS[1], 'user', 'family', 'hash', 'expires', 'idle', 'prev')
if not v[1] then return 0 end
local d = deadline(v[4], v[5])
if d and d <= now then return 0 end
if v[3] ~= from then return 1 end
local old = familyOf(v[2], v[3])
if family ~= old then
  if owner(family) then return 2 end
  unindex(old, id)
  local fk = prefix .. 't:' .. family
  redis.call('SET', fk, id)
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', fk, ttl) end
end
-- A session stored before families may have its previous token indexed:
-- nothing finds the session by that key any more.
if v[6] ~= family then unindex(v[6], id) end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
return redis.call('HMGET', KEYS[1], ` + luaFields + `)
`)

// authScript records a (re-)authentication of session KEYS[1]: its aal
// and auth_at fields become ARGV[3] and ARGV[4]. It returns the session's
// values in the order of fields, or 0 when the session is not live.
var authScript = goredis.NewScript(sessionLib + `
local v = redis.call('HMGET', KEYS[1], 'user', 'expires', 'idle')
if not v[1] then return 0 end
local d = deadline(v[2], v[3])
if d and d <= now then return 0 end
redis.call('HSET', KEYS[1], 'aal', ARGV[3], 'auth_at', ARGV[4])
return redis.call('HMGET', KEYS[1], ` + luaFields + `)
`)

// putChallengeScript stores challenge value ARGV[2] under KEYS[1] for
// ARGV[3] ms unless the key holds one that is live at the store's clock,
// ARGV[1] (Unix ms): Redis's clock may keep a key the store's clock has
// ended. It returns 1, or 0 when the key is in use.
var putChallengeScript = goredis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
local d = tonumber(string.match(redis.call('GET', KEYS[1]) or '', '^(-?%d+):'))
if d and d <= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// deleteScript removes session ARGV[3] and returns 1 when it was live.
var deleteScript = goredis.NewScript(sessionLib + `
return remove(ARGV[3])
`)

// deleteUserScript removes every session in the user's set KEYS[1] but
// ARGV[3] and returns how many of them were live.
var deleteUserScript = goredis.NewScript(sessionLib + `
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[3] then
    n = n + remove(id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return n
`)

func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	if err := v.Validate(); err != nil {
		return err
	}
	ctx, done := s.opts.begin(ctx, "create_session")
	defer done()
	n, err := s.create(ctx, s.c, v).Int()
	switch {
	case err != nil:
		return mapErr(err)
	case n == 1:
		return store.Errorf(store.ECONFLICT, "session already exists")
	case n == 2:
		return store.Errorf(store.ECONFLICT, "session family in use")
	}
	return nil
}

// create runs createScript for v through c (the client, or a pipeline).
func (s *Sessions) create(ctx context.Context, c goredis.Scripter, v store.Session) *goredis.Cmd {
	d := v.Deadline()
	args := append([]any{s.prefix, s.now().UnixMilli(), v.ID, hashText(v.Family), v.UserID,
		s.ttl(d), v.CreatedAt.UnixMilli(), deadlineScore(d)}, encode(v)...)
	return createScript.Run(ctx, c, []string{s.sessionKey(v.ID)}, args...)
}

// lookupScript reads the sessions that family index keys KEYS[i] name, in
// one round trip: entry i is the values of the session's fields, in the
// order of fields, or false. ARGV[1] is the key prefix. (Values only, in
// a fixed order: half the reply of HGETALL, and nothing for the script to
// build.)
var lookupScript = goredis.NewScript(`
local ids = redis.call('MGET', unpack(KEYS))
local out = {}
for i = 1, #KEYS do
  out[i] = false
  if ids[i] then
    local values = redis.call('HMGET', ARGV[1] .. 's:' .. ids[i], ` + luaFields + `)
    if values[1] then out[i] = values end
  end
end
return out
`)

// lookupFamilies is the batch.Fetch of family lookups: the record of the
// session each family indexes.
func (s *Sessions) lookupFamilies(ctx context.Context, families []store.TokenHash) ([]batch.Result[record], error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	keys := make([]string, len(families))
	for i, f := range families {
		keys[i] = s.familyKey(f)
	}
	res, err := lookupScript.Run(ctx, s.c, keys, s.lookupArgs...).Slice()
	if err != nil {
		return nil, mapErr(err)
	}
	found := make([]batch.Result[record], len(families))
	for i, r := range res {
		if i < len(found) {
			found[i].Value, found[i].Found = toRecord(r)
		}
	}
	return found, nil
}

// toRecord reads a script's reply of a session's values; ok is false when
// it is not one (no session).
func toRecord(reply any) (r record, ok bool) {
	values, ok := reply.([]any)
	if !ok || len(values) != len(r) {
		return r, false
	}
	for i, v := range values {
		r[i], _ = v.(string) // nil: a field missing
	}
	return r, true
}

func (s *Sessions) SessionByFamily(ctx context.Context, f store.TokenHash) (store.Session, error) {
	defer s.opts.observe("session_by_family")()
	r, found, err := s.lookups.Load(ctx, f) // lookupFamilies bounds the wait
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	if !found {
		return store.Session{}, notFound()
	}
	v, ok := r.session()
	// The key may be a previous token's from before families: trust only
	// the session.
	if !ok || v.Family != f || !v.Live(s.now()) {
		return store.Session{}, notFound()
	}
	return v, nil
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "session_by_id")
	defer done()
	m, err := s.c.HGetAll(ctx, s.sessionKey(id)).Result()
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
	n, err := touchScript.Run(ctx, s.c, []string{s.sessionKey(id)},
		s.prefix, s.now().UnixMilli(), id, timeText(seen), timeText(idleExpiresAt)).Int()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return notFound()
	}
	return nil
}

func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	if err := r.Validate(); err != nil {
		return store.Session{}, err
	}
	ctx, done := s.opts.begin(ctx, "rotate_token")
	defer done()
	reply, err := rotateScript.Run(ctx, s.c, []string{s.sessionKey(id)},
		s.prefix, s.now().UnixMilli(), id, hashText(from), hashText(r.Family),
		fFamily, hashText(r.Family), fHash, hashText(r.TokenHash), fRotated, timeText(r.RotatedAt),
		fPrevHash, hashText(r.PrevTokenHash), fPrevValidUntil, timeText(r.PrevValidUntil)).Result()
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	switch reply {
	case int64(0):
		return store.Session{}, notFound()
	case int64(1):
		return store.Session{}, store.Errorf(store.ECONFLICT, "token already replaced")
	case int64(2):
		return store.Session{}, store.Errorf(store.ECONFLICT, "session family in use")
	}
	return writtenSession("rotation", reply, id)
}

func (s *Sessions) SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "set_session_auth")
	defer done()
	reply, err := authScript.Run(ctx, s.c, []string{s.sessionKey(id)},
		s.prefix, s.now().UnixMilli(), aal, timeText(at)).Result()
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	if reply == int64(0) {
		return store.Session{}, notFound()
	}
	return writtenSession("auth", reply, id)
}

// writtenSession reads the reply of the script that changed session id
// and returned its values (script names it in an error).
func writtenSession(script string, reply any, id string) (store.Session, error) {
	rec, ok := toRecord(reply)
	if !ok {
		return store.Session{}, fmt.Errorf("redis: %s script replied %v", script, reply)
	}
	v, ok := rec.session()
	if !ok {
		return store.Session{}, fmt.Errorf("redis: session %s is damaged", id)
	}
	return v, nil
}

// PutChallenge stores the challenge with its deadline at the store's
// clock, which TakeChallenge checks, and a key TTL of the same length,
// which removes it on Redis's clock.
func (s *Sessions) PutChallenge(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	if err := store.ValidateChallenge(key, data, ttl); err != nil {
		return err
	}
	ctx, done := s.opts.begin(ctx, "put_challenge")
	defer done()
	now := s.now()
	deadline := now.Add(ttl).UnixMilli()
	px := max(deadline-now.UnixMilli(), 1) // under 1 ms: ended at the store's clock already
	value := make([]byte, 0, 21+len(data))
	value = strconv.AppendInt(value, deadline, 10)
	value = append(append(value, ':'), data...)
	n, err := putChallengeScript.Run(ctx, s.c, []string{s.challengeKey(key)}, now.UnixMilli(), value, px).Int()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return store.Errorf(store.ECONFLICT, "challenge key in use")
	}
	return nil
}

// TakeChallenge removes the challenge with GETDEL, whether or not it has
// ended at the store's clock, and returns its data if it has not.
func (s *Sessions) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	ctx, done := s.opts.begin(ctx, "take_challenge")
	defer done()
	value, err := s.c.GetDel(ctx, s.challengeKey(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, notFound()
	}
	if err != nil {
		return nil, mapErr(err)
	}
	head, data, ok := bytes.Cut(value, []byte{':'})
	deadline, err := strconv.ParseInt(string(head), 10, 64)
	if !ok || err != nil {
		return nil, fmt.Errorf("redis: challenge %q is damaged", key)
	}
	if s.now().UnixMilli() >= deadline {
		return nil, notFound()
	}
	return data, nil
}

func (s *Sessions) DeleteSession(ctx context.Context, id string) error {
	ctx, done := s.opts.begin(ctx, "delete_session")
	defer done()
	n, err := deleteScript.Run(ctx, s.c, nil, s.prefix, s.now().UnixMilli(), id).Int()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return notFound() // absent, or ended already
	}
	return nil
}

func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, done := s.opts.begin(ctx, "delete_user_sessions")
	defer done()
	n, err := deleteUserScript.Run(ctx, s.c, []string{s.userKey(userID)},
		s.prefix, s.now().UnixMilli(), exceptID).Int()
	return n, mapErr(err)
}

// DeleteExpired drops ended sessions from the live set; the sessions
// themselves (and challenges) expire by Redis key TTL, so it always
// reports 0.
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
