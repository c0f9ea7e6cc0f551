package redis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"simpleapi/store"
	"simpleapi/store/internal/batch"
)

// Sessions is a store.SessionStore in Redis: one server, a Cluster or a
// Sentinel's primary. Keys, under the prefix (K is the session's key tag,
// F a family, both hex):
//
//	s:{K}     hash: the session, the truth; expires at its deadline
//	i:{id}    string "K alias user": where session id is; see below
//	t:{F}     string K: the session of family F when F is not K, after a
//	          renewal (or when another session's key held F already)
//	u:{user}  sorted set: the user's session ids by creation time
//	live:{n}  sorted set: ids by deadline (ms), n = 0..liveBuckets-1
//	c:<key>   string: a challenge, "<deadline ms>:<data>"
//
// The braces are Redis Cluster hash tags: the part in braces alone picks a
// key's slot. Each script touches one key, and no command spans slots, so
// that every operation is valid on a Cluster. K is the family the session was created with, so
// the lookup of a request (SessionByFamily) reads s:{F} alone: one round
// trip. A session renewed into a new family keeps its key and is found
// through t:{F}: two.
//
// Each change of a session is one script on s:{K}, which Redis runs
// atomically: parallel requests of one client wait for each other on the
// server instead of retrying optimistic transactions. The other keys are
// indexes in other slots, written in their own steps: each is written
// before the session it points to and removed after it, and every read
// checks what it finds against the session. An index may thus point to a
// session that is gone (a step failed, or a process died between two);
// it is ignored, and removed by its TTL, a later delete, list or
// DeleteExpired (see remove).
// But a live session is always in its user's set, so that revoking a
// user's sessions (DeleteUserSessions) misses none.
//
// The index keys expire at the session's absolute deadline; those of a
// session without one are removed by DeleteExpired when the session ends. Key expiry runs on Redis's clock; the store's
// clock filters every read too, so that a session (or a challenge) is
// never returned past its deadline.
type Sessions struct {
	c      goredis.UniversalClient
	prefix string
	now    func() time.Time
	opts   Options
	// lookups gathers the family lookups of concurrent requests into one
	// pipeline (see store/internal/batch).
	lookups *batch.Loader[store.TokenHash, record]
}

var _ store.SessionStore = (*Sessions)(nil)

// NewSessions returns a store using c.
func NewSessions(c goredis.UniversalClient, opts Options) *Sessions {
	opts = opts.withDefaults()
	s := &Sessions{c: c, prefix: opts.Prefix, now: opts.Now, opts: opts}
	s.lookups = batch.New(s.lookupFamilies, lookupLanes, lookupBatch)
	return s
}

// lookupLanes and lookupBatch bound the batched family lookups: pipelines
// on their way at once, and families per pipeline.
const lookupLanes, lookupBatch = 1, 64

// liveBuckets spreads the live sets over that many slots, so that no one
// node of a Cluster takes every session's count.
const liveBuckets = 16

func (s *Sessions) sessionKey(k string) string   { return s.prefix + "s:{" + k + "}" }
func (s *Sessions) idKey(id string) string       { return s.prefix + "i:{" + id + "}" }
func (s *Sessions) aliasKey(f string) string     { return s.prefix + "t:{" + f + "}" }
func (s *Sessions) userKey(user string) string   { return s.prefix + "u:{" + user + "}" }
func (s *Sessions) challengeKey(k string) string { return s.prefix + "c:" + k }
func (s *Sessions) liveKeyOf(bucket int) string {
	return s.prefix + "live:{" + strconv.Itoa(bucket) + "}"
}
func (s *Sessions) liveKey(id string) string { return s.liveKeyOf(liveBucket(id)) }
func liveBucket(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % liveBuckets)
}

// pointer is the value of i:{id}: the session's key tag, the family it
// is also found by through t:{alias} ("" for none), and its user.
type pointer struct{ key, alias, user string }

func (p pointer) String() string {
	alias := p.alias
	if alias == "" {
		alias = "-"
	}
	return p.key + " " + alias + " " + p.user
}

// family is the hex family the session had when the pointer was written.
func (p pointer) family() string {
	if p.alias != "" {
		return p.alias
	}
	return p.key
}

func parsePointer(v string) (pointer, bool) {
	parts := strings.SplitN(v, " ", 3)
	if len(parts) != 3 {
		return pointer{}, false
	}
	p := pointer{key: parts[0], alias: parts[1], user: parts[2]}
	if p.alias == "-" {
		p.alias = ""
	}
	return p, true
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

// indexTTL is how long the index keys of v live: until its absolute
// deadline, or 0 (no TTL: DeleteExpired removes them) without one. It
// is never shorter than the session's own key, whose deadline a touch
// moves no further than the absolute one.
func (s *Sessions) indexTTL(v store.Session) time.Duration {
	if v.ExpiresAt.IsZero() {
		return 0
	}
	return time.Duration(max(s.ttl(v.ExpiresAt), 1)) * time.Millisecond
}

// deadlineScore is the score of a session in a live set.
func deadlineScore(d time.Time) float64 {
	if d.IsZero() {
		return math.Inf(1)
	}
	return float64(d.UnixMilli())
}

// luaFields is fields as the items of a Lua table.
var luaFields = "'" + strings.Join(fields[:], "', '") + "'"

// sessionLib holds what the session scripts share. Each script's one key
// is KEYS[1], a session hash; ARGV[1] is the store's clock in Unix ms and
// ARGV[2] the session's id, which the hash must hold.
var sessionLib = `
local now, id = tonumber(ARGV[1]), ARGV[2]
-- deadline is the nearer of a session's two deadlines (ms), nil for none.
local function deadline(expires, idle)
  expires, idle = tonumber(expires), tonumber(idle)
  if not expires then return idle end
  if not idle or expires < idle then return expires end
  return idle
end
-- later reports whether time a is set and later than time b.
local function later(a, b)
  a, b = tonumber(a), tonumber(b)
  return a ~= nil and (b == nil or a > b)
end
-- live reads the session's id and deadlines and reports whether it is
-- session id and live at now.
local function live()
  local v = redis.call('HMGET', KEYS[1], 'id', 'expires', 'idle')
  if v[1] ~= id then return false end
  local d = deadline(v[2], v[3])
  return not d or d > now
end
`

// createScript stores a session in KEYS[1] unless the key holds one:
// ARGV[3] is its time to live in ms (0: none), then the hash's
// field-value pairs. It returns 0, or 1 when the key is in use.
var createScript = goredis.NewScript(sessionLib + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0
`)

// touchScript records a use: last seen ARGV[3] and idle deadline ARGV[4]
// (ms, "" for none), each only if later than the kept one. A later
// deadline moves the key's expiry. It returns the new deadline in ms when
// it moved, 0 when it did not, -1 when the session is not live.
var touchScript = goredis.NewScript(sessionLib + `
local v = redis.call('HMGET', KEYS[1], 'id', 'expires', 'idle', 'seen')
if v[1] ~= id then return -1 end
local d = deadline(v[2], v[3])
if d and d <= now then return -1 end
local nd, idle = d, later(ARGV[4], v[3])
if idle then nd = deadline(v[2], ARGV[4]) end
if nd and nd <= now then return -1 end
if later(ARGV[3], v[4]) then redis.call('HSET', KEYS[1], 'seen', ARGV[3]) end
if idle then
  redis.call('HSET', KEYS[1], 'idle', ARGV[4])
  if nd ~= d then
    redis.call('PEXPIRE', KEYS[1], nd - now)
    return nd
  end
end
return 0
`)

// rotateScript replaces the token of the session if it is still ARGV[3];
// ARGV[4..] are the field-value pairs to set (family included). It
// returns the session's values in the order of fields, or 0 when the
// session is not live, 1 when its token was replaced already.
var rotateScript = goredis.NewScript(sessionLib + `
if not live() then return 0 end
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[3] then return 1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
return redis.call('HMGET', KEYS[1], ` + luaFields + `)
`)

// authScript records a (re-)authentication: the aal and auth_at fields
// become ARGV[3] and ARGV[4]. It returns the session's values in the
// order of fields, or 0 when the session is not live.
var authScript = goredis.NewScript(sessionLib + `
if not live() then return 0 end
redis.call('HSET', KEYS[1], 'aal', ARGV[3], 'auth_at', ARGV[4])
return redis.call('HMGET', KEYS[1], ` + luaFields + `)
`)

// removeScript deletes the session, when ARGV[3] is "ended" only if it
// has ended at the store's clock. It returns 1 when it deleted a live
// session, 0 an ended one, -1 nothing.
var removeScript = goredis.NewScript(sessionLib + `
local v = redis.call('HMGET', KEYS[1], 'id', 'expires', 'idle')
if v[1] ~= id then return -1 end
local d = deadline(v[2], v[3])
local live = not d or d > now
if live and ARGV[3] == 'ended' then return -1 end
redis.call('DEL', KEYS[1])
if live then return 1 end
return 0
`)

// addUserScript adds session ARGV[2] to the user's set KEYS[1] with
// score ARGV[1]; the set lives as long as its longest-lived session, for
// ARGV[3] ms at least (0: for ever).
var addUserScript = goredis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
elseif existed == 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PEXPIRE', KEYS[1], ttl, 'GT')
end
return 0
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

// delIfScript deletes KEYS[1] if it holds ARGV[1]: an index key is
// removed only while it still points where the caller thinks.
var delIfScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// run runs a session script on key tag k of session id.
func (s *Sessions) run(ctx context.Context, script *goredis.Script, k, id string, args ...any) *goredis.Cmd {
	return script.Run(ctx, s.c, []string{s.sessionKey(k)}, append([]any{s.now().UnixMilli(), id}, args...)...)
}

// pointerOf reads where session id is; ok is false when nowhere.
func (s *Sessions) pointerOf(ctx context.Context, id string) (p pointer, ok bool, err error) {
	v, err := s.c.Get(ctx, s.idKey(id)).Result()
	if errors.Is(err, goredis.Nil) {
		return pointer{}, false, nil
	}
	if err != nil {
		return pointer{}, false, mapErr(err)
	}
	p, ok = parsePointer(v)
	return p, ok, nil
}

// locate is pointerOf for an operation on a session that must exist:
// ENOTFOUND when id points nowhere.
func (s *Sessions) locate(ctx context.Context, id string) (pointer, error) {
	p, ok, err := s.pointerOf(ctx, id)
	if err == nil && !ok {
		err = notFound()
	}
	return p, err
}

// familyOwner returns the key tag of the live session of family f, ""
// for none: the session in s:{f}, else the one t:{f} names. free reports
// whether s:{f} is free for a new session.
func (s *Sessions) familyOwner(ctx context.Context, f string) (owner string, free bool, err error) {
	var own *goredis.SliceCmd
	var alias *goredis.StringCmd
	_, err = pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		own = p.HMGet(ctx, s.sessionKey(f), fFamily, fExpires, fIdle)
		alias = p.Get(ctx, s.aliasKey(f))
		return nil
	})
	if err != nil {
		return "", false, mapErr(err)
	}
	now := s.now().UnixMilli()
	liveOf := func(v []any) (family string, live bool) {
		family, _ = v[0].(string)
		if family == "" {
			return "", false
		}
		var d time.Time
		for _, x := range v[1:] {
			var t time.Time
			if str, _ := x.(string); parseTime(str, &t) && !t.IsZero() && (d.IsZero() || t.Before(d)) {
				d = t
			}
		}
		return family, d.IsZero() || d.UnixMilli() > now
	}
	family, live := liveOf(own.Val())
	if family == f && live {
		return f, false, nil
	}
	free = family == ""
	k, err := alias.Result()
	if errors.Is(err, goredis.Nil) {
		return "", free, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	v, err := s.c.HMGet(ctx, s.sessionKey(k), fFamily, fExpires, fIdle).Result()
	if err != nil {
		return "", false, mapErr(err)
	}
	if family, live := liveOf(v); family == f && live {
		return k, free, nil
	}
	return "", free, nil
}

func (s *Sessions) CreateSession(ctx context.Context, v store.Session) error {
	if err := v.Validate(); err != nil {
		return err
	}
	ctx, done := s.opts.begin(ctx, "create_session")
	defer done()
	f := hashText(v.Family)
	owner, free, err := s.familyOwner(ctx, f)
	switch {
	case err != nil:
		return err
	case owner != "":
		return store.Errorf(store.ECONFLICT, "session family in use")
	}
	// s:{f} may hold the session that had family f before its renewal:
	// this one takes a key of its own, found through t:{f}.
	p := pointer{key: f, user: v.UserID}
	if !free {
		p.key, p.alias = f+"."+randomHex(), f
	}
	d := v.Deadline()
	ttl := s.ttl(d)
	if ttl < 0 {
		return nil // over already: nothing to keep
	}
	ixTTL := s.indexTTL(v)
	if err := s.claimID(ctx, v.ID, p, ixTTL); err != nil {
		return err
	}
	// The indexes first: a live session is always in its user's set.
	_, err = pipelined(ctx, s.c, func(pl goredis.Pipeliner) error {
		addUserScript.Eval(ctx, pl, []string{s.userKey(v.UserID)}, v.CreatedAt.UnixMilli(), v.ID, ixTTL.Milliseconds())
		pl.ZAdd(ctx, s.liveKey(v.ID), goredis.Z{Score: deadlineScore(d), Member: v.ID})
		if p.alias != "" {
			pl.Set(ctx, s.aliasKey(p.alias), p.key, ixTTL)
		}
		return nil
	})
	if err != nil {
		return mapErr(err)
	}
	n, err := s.run(ctx, createScript, p.key, v.ID, append([]any{ttl}, encode(v)...)...).Int()
	if err != nil {
		return mapErr(err)
	}
	if n == 1 { // another create took the key first
		s.unindex(ctx, v.ID, p)
		return store.Errorf(store.ECONFLICT, "session family in use")
	}
	return nil
}

// claimID points i:{id} at p unless it points at a live session already.
func (s *Sessions) claimID(ctx context.Context, id string, p pointer, ttl time.Duration) error {
	ok, err := s.c.SetNX(ctx, s.idKey(id), p.String(), ttl).Result()
	if err != nil {
		return mapErr(err)
	}
	if ok {
		return nil
	}
	// The key may be an ended session's, which Redis's clock keeps yet.
	if old, found, err := s.pointerOf(ctx, id); err != nil {
		return err
	} else if found {
		if _, err := s.byPointer(ctx, id, old); err == nil {
			return store.Errorf(store.ECONFLICT, "session already exists")
		} else if store.ErrorCode(err) != store.ENOTFOUND {
			return err
		}
	}
	return mapErr(s.c.Set(ctx, s.idKey(id), p.String(), ttl).Err())
}

// unindex removes the index entries of session id, once its session is
// gone. It is housekeeping: a failure leaves entries that reads ignore.
func (s *Sessions) unindex(ctx context.Context, id string, p pointer) {
	_, _ = pipelined(ctx, s.c, func(pl goredis.Pipeliner) error {
		delIfScript.Eval(ctx, pl, []string{s.idKey(id)}, p.String())
		pl.ZRem(ctx, s.userKey(p.user), id)
		pl.ZRem(ctx, s.liveKey(id), id)
		if p.alias != "" {
			delIfScript.Eval(ctx, pl, []string{s.aliasKey(p.alias)}, p.key)
		}
		return nil
	})
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lookupFamilies is the batch.Fetch of family lookups: the record of the
// live or ended session of each family. Each family is first looked for
// in its own key, all in one pipeline (one round trip, spread over the
// nodes of a Cluster); those found nowhere there go through their
// t:{F} keys.
func (s *Sessions) lookupFamilies(ctx context.Context, families []store.TokenHash) ([]batch.Result[record], error) {
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	defer cancel()
	hexes := make([]string, len(families))
	keys := make([]string, len(families))
	for i, f := range families {
		hexes[i] = hashText(f)
		keys[i] = hexes[i]
	}
	found := make([]batch.Result[record], len(families))
	pending := make([]int, len(families))
	for i := range pending {
		pending[i] = i
	}
	read := func(idx []int) error {
		cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
			for _, i := range idx {
				p.HMGet(ctx, s.sessionKey(keys[i]), fields[:]...)
			}
			return nil
		})
		if err != nil {
			return mapErr(err)
		}
		for j, i := range idx {
			r, ok := toRecord(cmds[j].(*goredis.SliceCmd).Val())
			if ok && r[iFamily] == hexes[i] {
				found[i] = batch.Result[record]{Value: r, Found: true}
			}
		}
		return nil
	}
	if err := read(pending); err != nil {
		return nil, err
	}
	pending = pending[:0]
	for i := range found {
		if !found[i].Found {
			pending = append(pending, i)
		}
	}
	if len(pending) == 0 {
		return found, nil
	}
	cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		for _, i := range pending {
			p.Get(ctx, s.aliasKey(hexes[i]))
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err)
	}
	aliased := pending[:0]
	for j, i := range pending {
		if k, err := cmds[j].(*goredis.StringCmd).Result(); err == nil {
			keys[i] = k
			aliased = append(aliased, i)
		}
	}
	if len(aliased) == 0 {
		return found, nil
	}
	return found, read(aliased)
}

// toRecord reads a reply of a session's values; ok is false when it is
// not one (no session).
func toRecord(reply any) (r record, ok bool) {
	values, ok := reply.([]any)
	if !ok || len(values) != len(r) {
		return r, false
	}
	for i, v := range values {
		r[i], _ = v.(string) // nil: a field missing
	}
	return r, r[iID] != ""
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
	if !ok || v.Family != f || !v.Live(s.now()) {
		return store.Session{}, notFound()
	}
	return v, nil
}

// byPointer reads session id where p says it is, if it is live.
func (s *Sessions) byPointer(ctx context.Context, id string, p pointer) (store.Session, error) {
	m, err := s.c.HGetAll(ctx, s.sessionKey(p.key)).Result()
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	v, ok := decode(m)
	if !ok || v.ID != id || !v.Live(s.now()) {
		return store.Session{}, notFound()
	}
	return v, nil
}

func (s *Sessions) SessionByID(ctx context.Context, id string) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "session_by_id")
	defer done()
	p, err := s.locate(ctx, id)
	if err != nil {
		return store.Session{}, err
	}
	return s.byPointer(ctx, id, p)
}

// pointers reads where each of ids is: false for none.
func (s *Sessions) pointers(ctx context.Context, ids []string) ([]pointer, []bool, error) {
	cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		for _, id := range ids {
			p.Get(ctx, s.idKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, nil, mapErr(err)
	}
	ps, ok := make([]pointer, len(ids)), make([]bool, len(ids))
	for i, cmd := range cmds {
		if v, err := cmd.(*goredis.StringCmd).Result(); err == nil {
			ps[i], ok[i] = parsePointer(v)
		}
	}
	return ps, ok, nil
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
	ps, ok, err := s.pointers(ctx, ids)
	if err != nil {
		return nil, err
	}
	cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		for i := range ids {
			p.HGetAll(ctx, s.sessionKey(ps[i].key)) // "s:{}" when none: empty
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
		v, found := decode(cmd.(*goredis.MapStringStringCmd).Val())
		switch {
		case !ok[i] || found && (v.ID != ids[i] || v.UserID != userID):
			gone = append(gone, ids[i]) // its session is gone, or never was
		case !found:
			// Ended, or being created: its entry stays while its id
			// index lives (see remove).
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
	p, err := s.locate(ctx, id)
	if err != nil {
		return err
	}
	nd, err := s.run(ctx, touchScript, p.key, id, timeText(seen), timeText(idleExpiresAt)).Int64()
	if err != nil {
		return mapErr(err)
	}
	switch {
	case nd < 0:
		return notFound()
	case nd > 0:
		// The count follows; a failure here leaves it lower until the
		// next touch.
		_ = s.c.ZAdd(ctx, s.liveKey(id), goredis.Z{Score: float64(nd), Member: id}).Err()
	}
	return nil
}

func (s *Sessions) RotateToken(ctx context.Context, id string, from store.TokenHash, r store.Rotation) (store.Session, error) {
	if err := r.Validate(); err != nil {
		return store.Session{}, err
	}
	ctx, done := s.opts.begin(ctx, "rotate_token")
	defer done()
	p, err := s.locate(ctx, id)
	if err != nil {
		return store.Session{}, err
	}
	f := hashText(r.Family)
	renewed := f != p.family()
	np := p
	if renewed {
		// A renewal: the session keeps its key and is found by its new
		// family through t:{f}, written (and pointed to) first.
		if owner, _, err := s.familyOwner(ctx, f); err != nil {
			return store.Session{}, err
		} else if owner != "" {
			return store.Session{}, store.Errorf(store.ECONFLICT, "session family in use")
		}
		np.alias = ""
		if f != p.key {
			np.alias = f
		}
		ttl, err := s.c.PTTL(ctx, s.idKey(id)).Result() // the indexes' TTL
		if err != nil {
			return store.Session{}, mapErr(err)
		}
		ttl = max(ttl, 0) // -1: none
		_, err = pipelined(ctx, s.c, func(pl goredis.Pipeliner) error {
			if np.alias != "" {
				pl.Set(ctx, s.aliasKey(np.alias), p.key, ttl)
			}
			pl.SetArgs(ctx, s.idKey(id), np.String(), goredis.SetArgs{KeepTTL: true, Mode: "XX"})
			return nil
		})
		if err != nil {
			return store.Session{}, mapErr(err)
		}
	}
	reply, err := s.run(ctx, rotateScript, p.key, id, hashText(from),
		fFamily, f, fHash, hashText(r.TokenHash), fRotated, timeText(r.RotatedAt),
		fPrevHash, hashText(r.PrevTokenHash), fPrevValidUntil, timeText(r.PrevValidUntil)).Result()
	if renewed {
		keep, drop := np, p // the indexes of the family the session has
		if err != nil || reply == int64(0) || reply == int64(1) {
			keep, drop = p, np
		}
		s.dropAlias(ctx, id, keep, drop)
	}
	if err != nil {
		return store.Session{}, mapErr(err)
	}
	switch reply {
	case int64(0):
		return store.Session{}, notFound()
	case int64(1):
		return store.Session{}, store.Errorf(store.ECONFLICT, "token already replaced")
	}
	return writtenSession("rotation", reply, id)
}

// dropAlias points i:{id} at keep and removes drop's t: key, after a
// renewal (keep is the new family's) or one that failed (the old one's).
// A failure leaves a t: key that reads ignore and its TTL removes.
func (s *Sessions) dropAlias(ctx context.Context, id string, keep, drop pointer) {
	_, _ = pipelined(ctx, s.c, func(pl goredis.Pipeliner) error {
		pl.SetArgs(ctx, s.idKey(id), keep.String(), goredis.SetArgs{KeepTTL: true, Mode: "XX"})
		if drop.alias != "" && drop.alias != keep.alias {
			delIfScript.Eval(ctx, pl, []string{s.aliasKey(drop.alias)}, drop.key)
		}
		return nil
	})
}

func (s *Sessions) SetSessionAuth(ctx context.Context, id, aal string, at time.Time) (store.Session, error) {
	ctx, done := s.opts.begin(ctx, "set_session_auth")
	defer done()
	p, err := s.locate(ctx, id)
	if err != nil {
		return store.Session{}, err
	}
	reply, err := s.run(ctx, authScript, p.key, id, aal, timeText(at)).Result()
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
	n, _, err := s.remove(ctx, []string{id}, false)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound() // absent, or ended already
	}
	return nil
}

// remove deletes sessions ids (only those that have ended, when ended)
// and then their index entries, and returns how many were live, and the
// ids that have no id index: their session is gone, or was never
// stored. (An id whose index names no session may be one being created:
// its entries stay.)
func (s *Sessions) remove(ctx context.Context, ids []string, ended bool) (live int, orphans []any, err error) {
	ps, ok, err := s.pointers(ctx, ids)
	if err != nil {
		return 0, nil, err
	}
	for i, id := range ids {
		if !ok[i] {
			orphans = append(orphans, id)
		}
	}
	mode := ""
	if ended {
		mode = "ended"
	}
	cmds, err := pipelined(ctx, s.c, func(pl goredis.Pipeliner) error {
		for i, id := range ids {
			if ok[i] {
				removeScript.Eval(ctx, pl, []string{s.sessionKey(ps[i].key)}, s.now().UnixMilli(), id, mode)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	j := 0
	for i, id := range ids {
		if !ok[i] {
			continue
		}
		n, _ := cmds[j].(*goredis.Cmd).Int()
		j++
		if n >= 0 {
			live += n
			s.unindex(ctx, id, ps[i])
		}
	}
	return live, orphans, nil
}

func (s *Sessions) DeleteUserSessions(ctx context.Context, userID, exceptID string) (int, error) {
	ctx, done := s.opts.begin(ctx, "delete_user_sessions")
	defer done()
	uk := s.userKey(userID)
	ids, err := s.c.ZRange(ctx, uk, 0, -1).Result()
	if err != nil {
		return 0, mapErr(err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == exceptID })
	if len(ids) == 0 {
		return 0, nil
	}
	n, orphans, err := s.remove(ctx, ids, false)
	if err != nil {
		return 0, err
	}
	if len(orphans) > 0 {
		_ = s.c.ZRem(ctx, uk, orphans...).Err() // housekeeping
	}
	return n, nil
}

// DeleteExpired removes the sessions that have ended at the store's clock
// from the live sets, with their index entries. The sessions themselves
// (and challenges) expire by Redis key TTL, so it always reports 0.
func (s *Sessions) DeleteExpired(ctx context.Context) (int, error) {
	ctx, done := s.opts.begin(ctx, "delete_expired")
	defer done()
	max := strconv.FormatInt(s.now().UnixMilli(), 10) // a deadline equal to now has passed
	cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		for b := range liveBuckets {
			p.ZRangeByScore(ctx, s.liveKeyOf(b), &goredis.ZRangeBy{Min: "-inf", Max: max, Count: 1000})
		}
		return nil
	})
	if err != nil {
		return 0, mapErr(err)
	}
	for b, cmd := range cmds {
		ids := cmd.(*goredis.StringSliceCmd).Val()
		if len(ids) == 0 {
			continue
		}
		if _, _, err := s.remove(ctx, ids, true); err != nil {
			return 0, err
		}
		// Those still live (a touch's new deadline that did not reach
		// the live set) come back with their deadline.
		members := make([]any, len(ids))
		for i, id := range ids {
			members[i] = id
		}
		if err := s.c.ZRem(ctx, s.liveKeyOf(b), members...).Err(); err != nil {
			return 0, mapErr(err)
		}
		s.relive(ctx, ids)
	}
	return 0, nil
}

// relive puts the ids that still have a live session back in the live
// sets, with their deadlines.
func (s *Sessions) relive(ctx context.Context, ids []string) {
	for _, id := range ids {
		if v, err := s.SessionByID(ctx, id); err == nil {
			_ = s.c.ZAdd(ctx, s.liveKey(id), goredis.Z{Score: deadlineScore(v.Deadline()), Member: id}).Err()
		}
	}
}

// CountSessions counts the members of the live sets whose deadline is
// later than the store's clock, the same for every instance. It is exact
// unless a step failed midway (see Sessions): a session whose create
// failed counts until its deadline, one whose touch's second step failed
// is missed from its old deadline until DeleteExpired.
func (s *Sessions) CountSessions(ctx context.Context) (int, error) {
	ctx, done := s.opts.begin(ctx, "count_sessions")
	defer done()
	min := "(" + strconv.FormatInt(s.now().UnixMilli(), 10)
	cmds, err := pipelined(ctx, s.c, func(p goredis.Pipeliner) error {
		for b := range liveBuckets {
			p.ZCount(ctx, s.liveKeyOf(b), min, "+inf")
		}
		return nil
	})
	if err != nil {
		return 0, mapErr(err)
	}
	n := 0
	for _, cmd := range cmds {
		n += int(cmd.(*goredis.IntCmd).Val())
	}
	return n, nil
}

// Close does nothing: the client belongs to whoever opened it.
func (s *Sessions) Close() error { return nil }

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
