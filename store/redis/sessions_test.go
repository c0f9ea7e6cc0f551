package redis

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

// newSessions returns an empty store under a test prefix, its clock set
// to baseTime.
func newSessions(t *testing.T) (*Sessions, *storetest.Clock) {
	c, prefix := testClient(t)
	clk := storetest.NewClock(baseTime)
	return NewSessions(c, Options{Prefix: prefix, Now: clk.Now}), clk
}

func TestSessionsContract(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	a1, a2, a3, b1 := session(1, "alice"), session(2, "alice"), session(3, "alice"), session(4, "bob")
	b1.ExpiresAt = time.Time{} // no deadline at all
	a2.IdleExpiresAt = baseTime.Add(2 * time.Hour)

	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, session(1, "carol"))), "same id")
	dup := session(9, "carol")
	dup.Family = a1.Family
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, dup)), "same family")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{ID: "x", UserID: "y"})), "no family")

	got, err := ss.SessionByFamily(ctx, a1.Family)
	require.NoError(t, err)
	assert.Equal(t, a1, got)
	got, err = ss.SessionByID(ctx, a2.ID)
	require.NoError(t, err)
	assert.Equal(t, a2, got)
	got, err = ss.SessionByID(ctx, b1.ID)
	require.NoError(t, err)
	assert.Equal(t, b1, got)
	_, err = ss.SessionByFamily(ctx, store.TokenHash{})
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = ss.SessionByID(ctx, "nope")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1, a2, a3}, list, "oldest first")
	list, err = ss.ListSessions(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)
	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	// Touch moves times forward only.
	later := baseTime.Add(time.Hour)
	require.NoError(t, ss.TouchSession(ctx, a2.ID, later, later.Add(2*time.Hour)))
	require.NoError(t, ss.TouchSession(ctx, a2.ID, baseTime, baseTime))
	got, err = ss.SessionByID(ctx, a2.ID)
	require.NoError(t, err)
	assert.Equal(t, later, got.LastSeenAt)
	assert.Equal(t, later.Add(2*time.Hour), got.IdleExpiresAt)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, "nope", later, later)))

	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.DeleteSession(ctx, a3.ID)))
	_, err = ss.SessionByFamily(ctx, a3.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	keys := keysUnder(t, ss.c, ss.prefix)
	assert.NotContains(t, keys, ss.sessionKey(hashText(a3.Family)), "session removed")
	assert.NotContains(t, keys, ss.idKey(a3.ID), "index removed")

	n, err = ss.DeleteUserSessions(ctx, "alice", a1.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "all of alice's but a1")
	list, err = ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1}, list)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = ss.DeleteUserSessions(ctx, "bob", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, keysUnder(t, ss.c, ss.prefix), "nothing left behind")
}

func TestSessionsExpireByClockAndTTL(t *testing.T) {
	ss, clk := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s := session(1, "alice")
	s.ExpiresAt = baseTime.Add(time.Hour)
	s.IdleExpiresAt = baseTime.Add(30 * time.Minute)
	require.NoError(t, ss.CreateSession(ctx, s))

	// The session's key expires at the nearer deadline, on Redis's
	// clock; its index keys at the absolute one, which no touch moves.
	ttl, err := c.PTTL(ctx, ss.sessionKey(hashText(s.Family))).Result()
	require.NoError(t, err)
	assert.InDelta(t, 30*time.Minute, ttl, float64(5*time.Second))
	for _, k := range []string{ss.idKey(s.ID), ss.userKey("alice")} {
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.InDelta(t, time.Hour, ttl, float64(5*time.Second), k)
	}

	// A use moves the idle deadline and the keys with it, never past the
	// absolute deadline.
	clk.Add(20 * time.Minute)
	require.NoError(t, ss.TouchSession(ctx, s.ID, clk.Now(), clk.Now().Add(30*time.Minute)))
	ttl, err = c.PTTL(ctx, ss.sessionKey(hashText(s.Family))).Result()
	require.NoError(t, err)
	assert.InDelta(t, 30*time.Minute, ttl, float64(5*time.Second))
	clk.Add(20 * time.Minute)
	require.NoError(t, ss.TouchSession(ctx, s.ID, clk.Now(), clk.Now().Add(30*time.Minute)))
	ttl, err = c.PTTL(ctx, ss.sessionKey(hashText(s.Family))).Result()
	require.NoError(t, err)
	assert.InDelta(t, 20*time.Minute, ttl, float64(5*time.Second), "capped by the absolute deadline")

	// Past its deadline on the store's clock, a session is gone for every
	// read, although Redis has not dropped the keys yet.
	clk.Add(20 * time.Minute)
	_, err = ss.SessionByID(ctx, s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, err = ss.SessionByFamily(ctx, s.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, list)
	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, s.ID, clk.Now(), clk.Now().Add(time.Hour))))

	// A session created already over is not kept.
	over := session(2, "bob")
	over.ExpiresAt = clk.Now()
	require.NoError(t, ss.CreateSession(ctx, over))
	_, err = ss.SessionByID(ctx, over.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
}

func TestSessionsListPrunesExpiredMembers(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s1, s2 := session(1, "alice"), session(2, "alice")
	require.NoError(t, ss.CreateSession(ctx, s1))
	require.NoError(t, ss.CreateSession(ctx, s2))
	// Redis expires s1's session key (as its TTL would): the user's set
	// keeps naming it while its id index lives, as it would a session
	// being created, whose entries come first.
	require.NoError(t, c.Del(ctx, ss.sessionKey(hashText(s1.Family))).Err())
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{s2}, list)
	members, err := c.ZRange(ctx, ss.userKey("alice"), 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{s1.ID, s2.ID}, members)
	n, err := ss.DeleteUserSessions(ctx, "alice", s2.ID)
	require.NoError(t, err)
	assert.Zero(t, n)
	members, err = c.ZRange(ctx, ss.userKey("alice"), 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{s1.ID, s2.ID}, members, "nor does a revocation drop it")
	// Its id index expires too (at the absolute deadline): the next
	// listing prunes the entry.
	require.NoError(t, c.Del(ctx, ss.idKey(s1.ID)).Err())
	list, err = ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{s2}, list)
	members, err = c.ZRange(ctx, ss.userKey("alice"), 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{s2.ID}, members)
}

func TestSessionsRotateToken(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s := session(1, "alice")
	require.NoError(t, ss.CreateSession(ctx, s))

	r1 := store.Rotation{Family: s.Family, TokenHash: sha256.Sum256([]byte("t1")), RotatedAt: baseTime.Add(time.Minute),
		PrevTokenHash: s.TokenHash, PrevValidUntil: baseTime.Add(2 * time.Minute)}
	got, err := ss.RotateToken(ctx, s.ID, s.TokenHash, r1)
	require.NoError(t, err)
	assert.Equal(t, s.Family, got.Family)
	assert.Equal(t, r1.TokenHash, got.TokenHash)
	assert.Equal(t, s.TokenHash, got.PrevTokenHash)
	byFamily, err := ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	assert.Equal(t, got, byFamily)
	// Token hashes are fields of the session, not keys.
	assert.ElementsMatch(t, []string{ss.sessionKey(hashText(s.Family)), ss.idKey(s.ID), ss.userKey("alice"), ss.liveKey(s.ID)},
		keysUnder(t, c, ss.prefix))

	_, err = ss.RotateToken(ctx, s.ID, s.TokenHash, r1)
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err), "already replaced")
	_, err = ss.RotateToken(ctx, "nope", s.TokenHash, r1)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, err = ss.RotateToken(ctx, s.ID, r1.TokenHash, store.Rotation{TokenHash: sha256.Sum256([]byte("t2"))})
	assert.Equal(t, store.EINVALID, store.ErrorCode(err), "no family")

	// A renewal moves the session to a new family: it keeps its key,
	// found through the new family's, which lives as long as the session.
	r2 := store.Rotation{Family: storetest.NewTokenHash(), TokenHash: sha256.Sum256([]byte("t2")), RotatedAt: baseTime.Add(3 * time.Minute)}
	got, err = ss.RotateToken(ctx, s.ID, r1.TokenHash, r2)
	require.NoError(t, err)
	assert.Equal(t, r2.Family, got.Family)
	assert.ElementsMatch(t, []string{ss.sessionKey(hashText(s.Family)), ss.aliasKey(hashText(r2.Family)), ss.idKey(s.ID),
		ss.userKey("alice"), ss.liveKey(s.ID)}, keysUnder(t, c, ss.prefix))
	sessionTTL, err := c.PTTL(ctx, ss.sessionKey(hashText(s.Family))).Result()
	require.NoError(t, err)
	familyTTL, err := c.PTTL(ctx, ss.aliasKey(hashText(r2.Family))).Result()
	require.NoError(t, err)
	assert.InDelta(t, sessionTTL, familyTTL, float64(time.Second))
	_, err = ss.SessionByFamily(ctx, s.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "the family it left")

	// Of parallel rotations of one token, exactly one wins, also across
	// two stores (two instances) sharing the Redis.
	other := NewSessions(ss.c, ss.opts)
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			st := ss
			if i%2 == 1 {
				st = other
			}
			r := store.Rotation{Family: r2.Family, TokenHash: sha256.Sum256([]byte{byte(i), 3}), RotatedAt: baseTime.Add(4 * time.Minute)}
			_, err := st.RotateToken(ctx, s.ID, r2.TokenHash, r)
			switch store.ErrorCode(err) {
			case "":
				wins.Add(1)
			case store.ECONFLICT:
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load())
	assert.Equal(t, int32(19), conflicts.Load())
}

// A revocation through one instance is seen by another at once: nothing
// is cached in the process.
func TestSessionsSharedAcrossInstances(t *testing.T) {
	a, _ := newSessions(t)
	c2, _, err := Open(Config{URL: testkit.RedisTestURL()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c2.Close() })
	b := NewSessions(c2, a.opts)
	ctx := t.Context()
	s := session(1, "alice")
	require.NoError(t, a.CreateSession(ctx, s))
	got, err := b.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	require.NoError(t, b.DeleteSession(ctx, s.ID))
	_, err = a.SessionByFamily(ctx, s.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	n, err := a.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestOperationsObserved(t *testing.T) {
	c, prefix := testClient(t)
	var mu sync.Mutex
	var ops []string
	opts := Options{Prefix: prefix, Observe: func(op string, d time.Duration) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}}
	ss := NewSessions(c, opts)
	_, err := ss.SessionByID(t.Context(), "nope")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, _, err = NewLimiter(c, testLimits, opts).Allow(t.Context(), "bob", "")
	require.NoError(t, err)
	assert.Equal(t, []string{"session_by_id", "login_allow"}, ops)
}

func TestOpenURL(t *testing.T) {
	c, prefix, err := Open(Config{URL: "redis://127.0.0.1:6379/3?key_prefix=a:b:&dial_timeout=3s"})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "a:b:", prefix)
	opts := c.(*goredis.Client).Options()
	assert.Equal(t, 3, opts.DB)
	assert.Equal(t, 3*time.Second, opts.DialTimeout)
	assert.Equal(t, time.Second, opts.ReadTimeout)
	c2, prefix, err := Open(Config{URL: "redis://:secret-pw@127.0.0.1:6379/0"})
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, DefaultPrefix, prefix)
	c3, prefix, err := Open(Config{URL: "redis://127.0.0.1:6379/0?key_prefix=a:", Prefix: "b:"})
	require.NoError(t, err)
	defer c3.Close()
	assert.Equal(t, "b:", prefix, "the configured prefix wins over the URL's")
	for _, bad := range []string{"redis://:secret-pw@127.0.0.1:6379/x", "http://:secret-pw@host/0", "redis://:secret-pw@h/0?bogus=1"} {
		_, _, err = Open(Config{URL: bad})
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "secret-pw")
	}
}

// Open gives a Cluster client for seed nodes and a failover client for
// sentinels, each with the short timeouts.
func TestOpenTopologies(t *testing.T) {
	c, prefix, err := Open(Config{ClusterAddrs: []string{"127.0.0.1:7000"}, Password: "pw", Prefix: "p:"})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "p:", prefix)
	require.IsType(t, &goredis.ClusterClient{}, c)
	assert.Equal(t, "pw", c.(*goredis.ClusterClient).Options().Password)
	assert.Equal(t, time.Second, c.(*goredis.ClusterClient).Options().ReadTimeout)
	c2, prefix, err := Open(Config{SentinelAddrs: []string{"127.0.0.1:26379"}, SentinelMaster: "m"})
	require.NoError(t, err)
	defer c2.Close()
	assert.Equal(t, DefaultPrefix, prefix)
	require.IsType(t, &goredis.Client{}, c2)
	_, _, err = Open(Config{})
	assert.Error(t, err)
}

// One pipeline looks up several families: each finds its own session,
// an unknown family finds none.
func TestLookupFamiliesInOneCall(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	var families []store.TokenHash
	want := map[store.TokenHash]store.Session{}
	for i := range 5 {
		s := session(i, fmt.Sprint("user", i%2))
		require.NoError(t, ss.CreateSession(ctx, s))
		families = append(families, s.Family)
		want[s.Family] = s
	}
	unknown := session(9, "nobody").Family
	found, err := ss.lookupFamilies(ctx, append(families, unknown))
	require.NoError(t, err)
	require.Len(t, found, 6)
	assert.False(t, found[5].Found, "unknown family")
	for i, h := range families {
		require.True(t, found[i].Found)
		got, ok := found[i].Value.session()
		require.True(t, ok)
		assert.Equal(t, want[h], got)
	}
}

// Parallel lookups, gathered into shared pipelines, each get their own
// session; a session deleted before a lookup begins is not found by it.
func TestParallelLookupsEachGetTheirSession(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	var all []store.Session
	for i := range 16 {
		s := session(i, fmt.Sprint("user", i%4))
		require.NoError(t, ss.CreateSession(ctx, s))
		all = append(all, s)
	}
	gone := all[15]
	require.NoError(t, ss.DeleteSession(ctx, gone.ID))
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			s := all[g%len(all)]
			got, err := ss.SessionByFamily(ctx, s.Family)
			if s.ID == gone.ID {
				assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
				return
			}
			if assert.NoError(t, err) {
				assert.Equal(t, s, got)
			}
		})
	}
	wg.Wait()
}

// Parallel requests with one cookie touch and rotate one session at once.
// Each operation is one script that Redis runs whole, so none fails for
// being outrun by the others (a 503 without an outage); of each round's
// rotations from the same token exactly one wins.
func TestParallelTouchAndRotate(t *testing.T) {
	ss, clk := newSessions(t)
	ctx := t.Context()
	s := session(1, "alice")
	s.LastSeenAt = baseTime
	require.NoError(t, ss.CreateSession(ctx, s))

	const rounds, workers = 20, 64
	for round := range rounds {
		now := clk.Now()
		from := s.TokenHash
		var (
			start, wg sync.WaitGroup
			mu        sync.Mutex
			winners   []store.Session
		)
		start.Add(1)
		for g := range workers {
			wg.Go(func() {
				start.Wait()
				if g%2 == 0 {
					err := ss.TouchSession(ctx, s.ID, now.Add(time.Duration(g)*time.Millisecond), now.Add(time.Hour))
					assert.NoError(t, err, "round %d: touch", round)
					return
				}
				r := store.Rotation{Family: s.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: now,
					PrevTokenHash: from, PrevValidUntil: now.Add(time.Minute)}
				got, err := ss.RotateToken(ctx, s.ID, from, r)
				switch store.ErrorCode(err) {
				case "":
					mu.Lock()
					winners = append(winners, got)
					mu.Unlock()
				case store.ECONFLICT:
				default:
					t.Errorf("round %d: rotate: %v", round, err)
				}
			})
		}
		start.Done()
		wg.Wait()
		require.Len(t, winners, 1, "round %d: rotations that won", round)
		s = winners[0]
		clk.Add(time.Second)
	}

	got, err := ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	assert.Equal(t, s.TokenHash, got.TokenHash, "the last winner's token")
	assert.Equal(t, baseTime.Add((rounds-1)*time.Second+(workers-2)*time.Millisecond), got.LastSeenAt, "the latest touch")
	assert.Equal(t, baseTime.Add((rounds-1)*time.Second+time.Hour), got.IdleExpiresAt)
}

// A session's keys take the same memory after 1 rotation and after 1,000:
// token hashes are fields of the session, overwritten in place.
func TestFootprintBoundedByRotations(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s := session(1, "alice")
	require.NoError(t, ss.CreateSession(ctx, s))

	// The session is the only one under the test's prefix: every key
	// there is its own (its hash, its id's index, and the user and live
	// sets that hold only it).
	footprint := func() map[string]int64 {
		t.Helper()
		usage := map[string]int64{}
		for _, k := range keysUnder(t, c, ss.prefix) {
			n, err := c.MemoryUsage(ctx, k, 0).Result() // SAMPLES 0: every field
			require.NoError(t, err)
			usage[k] = n
		}
		return usage
	}
	total := func(usage map[string]int64) (n int64) {
		for _, b := range usage {
			n += b
		}
		return n
	}

	s = storetest.RotateMany(t, ss, s, 1)
	after1 := footprint()
	s = storetest.RotateMany(t, ss, s, 999)
	after1000 := footprint()
	assert.Equal(t, after1, after1000, "bytes per key after 1 and after 1,000 rotations")
	t.Logf("per-session footprint: %d bytes after 1 rotation, %d after 1,000: session hash %d, id index %d, user set %d, live set %d",
		total(after1), total(after1000), after1000[ss.sessionKey(hashText(s.Family))], after1000[ss.idKey(s.ID)],
		after1000[ss.userKey("alice")], after1000[ss.liveKey(s.ID)])
}
