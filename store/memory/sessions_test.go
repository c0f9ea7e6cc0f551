package memory

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unique"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth/sessiontest"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestSessions(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore { return NewSessions(now) })
}

// TestSessionManagerContract runs the session manager's rotation promises
// over this store.
func TestSessionManagerContract(t *testing.T) {
	sessiontest.Manager(t, func(t *testing.T, now func() time.Time) store.SessionStore { return NewSessions(now) })
}

// TestTimesKeptToTheMillisecond: times keep their milliseconds, lose what
// is below, and come back in UTC.
func TestTimesKeptToTheMillisecond(t *testing.T) {
	ss := NewSessions(nil)
	at := storetest.Start() // on .737 s
	s := storetest.Session(1, "alice", at)
	s.CreatedAt = at.Add(999_999).In(time.FixedZone("CEST", 2*3600)) // 0.999999 ms later
	require.NoError(t, ss.CreateSession(t.Context(), s))
	got, err := ss.SessionByID(t.Context(), s.ID)
	require.NoError(t, err)
	assert.Equal(t, at, got.CreatedAt)
}

// TestDeleteExpiredFrees: DeleteExpired takes expired sessions out of
// every index, so their memory is freed; live ones stay.
func TestDeleteExpiredFrees(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	ss := NewSessions(clock.Now)
	ctx := t.Context()
	now := clock.Now()
	short, long := storetest.Session(1, "alice", now), storetest.Session(2, "alice", now)
	long.IdleExpiresAt = now.Add(2 * time.Hour)
	require.NoError(t, ss.CreateSession(ctx, short))
	require.NoError(t, ss.CreateSession(ctx, long))
	_, err := ss.RotateToken(ctx, short.ID, short.TokenHash, store.Rotation{Family: storetest.NewTokenHash(),
		TokenHash: storetest.NewTokenHash(), RotatedAt: now, PrevTokenHash: short.TokenHash, PrevValidUntil: now.Add(time.Minute)})
	require.NoError(t, err)

	clock.Add(time.Hour)
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ss.mu.RLock()
	assert.Len(t, ss.byID, 1)
	assert.Len(t, ss.byFamily, 1, "the expired session's family is gone")
	assert.Len(t, ss.byUser[unique.Make("alice")], 1)
	ss.mu.RUnlock()

	// A clock moved back does not bring it back: it is gone.
	clock.Add(-time.Hour)
	_, err = ss.SessionByID(ctx, short.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
}

// TestChallengesKept: the store keeps its own copy of a challenge's data,
// an expired key is free again, and DeleteExpired frees expired
// challenges (uncounted: they are not sessions) and keeps live ones.
func TestChallengesKept(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	ss := NewSessions(clock.Now)
	ctx := t.Context()
	data := []byte("state")
	require.NoError(t, ss.PutChallenge(ctx, "k1", data, time.Second))
	data[0] = 'X'
	got, err := ss.TakeChallenge(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, []byte("state"), got, "a copy was kept")

	require.NoError(t, ss.PutChallenge(ctx, "k2", []byte("two"), time.Second))
	require.NoError(t, ss.PutChallenge(ctx, "k3", []byte("three"), time.Minute))
	clock.Add(time.Second)
	require.NoError(t, ss.PutChallenge(ctx, "k2", []byte("again"), time.Second), "expired: the key is free")
	clock.Add(time.Second)
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 1, ss.challenges.Len(), "only the live one is left")
	got, err = ss.TakeChallenge(ctx, "k3")
	require.NoError(t, err)
	assert.Equal(t, []byte("three"), got)
}

// TestSessionAuthUnset: a session created without an assurance level
// keeps "" (AAL1 for its readers) and a zero AuthAt.
func TestSessionAuthUnset(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	ss := NewSessions(clock.Now)
	s := storetest.Session(1, "alice", clock.Now())
	require.NoError(t, ss.CreateSession(t.Context(), s))
	got, err := ss.SessionByID(t.Context(), s.ID)
	require.NoError(t, err)
	assert.Empty(t, got.AAL)
	assert.True(t, got.AuthAt.IsZero())
}

func TestConcurrentUse(t *testing.T) {
	ss := NewSessions(nil)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", g%2)
			for i := range 200 {
				s := storetest.Session(g*1000+i, user, now)
				assert.NoError(t, ss.CreateSession(ctx, s))
				_, err := ss.SessionByFamily(ctx, s.Family)
				assert.NoError(t, err)
				assert.NoError(t, ss.TouchSession(ctx, s.ID, now, now.Add(2*time.Hour)))
				_, err = ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: now})
				assert.NoError(t, err)
				_, err = ss.SetSessionAuth(ctx, s.ID, store.AAL2, now)
				assert.NoError(t, err)
				assert.NoError(t, ss.PutChallenge(ctx, s.ID, []byte("c"), time.Minute))
				_, err = ss.TakeChallenge(ctx, s.ID)
				assert.NoError(t, err)
				if i%2 == 0 {
					assert.NoError(t, ss.DeleteSession(ctx, s.ID))
				}
				_, err = ss.ListSessions(ctx, user)
				assert.NoError(t, err)
			}
			_, err := ss.DeleteExpired(ctx)
			assert.NoError(t, err)
			_, err = ss.CountSessions(ctx)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 8*100, n)
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"curl/8.8.0",
}

// memorySession is session i of a user out of userIDs, as a request
// would bring it: its strings are fresh allocations (interning has to
// earn its keep), its address one of 65,536, its times on milliseconds.
func memorySession(i int, userIDs []string, base time.Time) store.Session {
	at := base.Add(time.Duration(i) * time.Millisecond)
	return store.Session{
		ID:            fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		Family:        sha256.Sum256([]byte(fmt.Sprint("family ", i))),
		TokenHash:     sha256.Sum256([]byte(fmt.Sprint("token ", i))),
		UserID:        strings.Clone(userIDs[i%len(userIDs)]),
		CreatedAt:     at,
		ExpiresAt:     at.Add(24 * time.Hour),
		IdleExpiresAt: at.Add(30 * time.Minute),
		LastSeenAt:    at,
		RotatedAt:     at,
		IP:            fmt.Sprintf("198.51.%d.%d", i/256%256, i%256),
		UserAgent:     strings.Clone(userAgents[i%len(userAgents)]),
	}
}

func userIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return ids
}

// heapInUse returns the bytes of live heap objects once garbage
// collections stop freeing any: after a collection, unique drops the
// strings no handle holds anymore in a goroutine of its own, and only a
// later collection frees them.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	for range 20 {
		prev := m.HeapAlloc
		time.Sleep(time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&m)
		if m.HeapAlloc >= prev {
			break
		}
	}
	return m.HeapAlloc
}

// memoryPerSession fills a new store with n sessions of users users, each
// rotated once with a grace period when rotated (so that it keeps a
// previous token, as a session in use does), and returns the heap they
// take per session, indexes and interned strings included.
func memoryPerSession(tb testing.TB, n, users int, rotated bool) float64 {
	ids := userIDs(users)
	base := storetest.Start()
	before := heapInUse()
	ss := NewSessions(func() time.Time { return base })
	for i := range n {
		s := memorySession(i, ids, base)
		if err := ss.CreateSession(tb.Context(), s); err != nil {
			tb.Fatal(err)
		}
		if !rotated {
			continue
		}
		r := store.Rotation{Family: s.Family, TokenHash: sha256.Sum256([]byte(fmt.Sprint("rotated ", i))),
			RotatedAt: s.RotatedAt.Add(time.Second), PrevTokenHash: s.TokenHash, PrevValidUntil: s.RotatedAt.Add(time.Minute)}
		if _, err := ss.RotateToken(tb.Context(), s.ID, s.TokenHash, r); err != nil {
			tb.Fatal(err)
		}
	}
	after := heapInUse()
	runtime.KeepAlive(ss)
	runtime.KeepAlive(ids)
	return (float64(after) - float64(before)) / float64(n)
}

// TestMemoryPerSession: the store takes at most 1 KB per session, measured
// over 10,000 sessions, all rotated (the larger layout) and each of its
// own user and address: the worst case for interning.
func TestMemoryPerSession(t *testing.T) {
	perSession := memoryPerSession(t, 10_000, 10_000, true)
	t.Logf("%.0f bytes/session", perSession)
	assert.LessOrEqual(t, perSession, 1024.0)
	assert.Greater(t, perSession, 100.0, "the measurement saw the sessions")
}

// TestRotationsKeepFootprint: a session's footprint does not grow with the
// number of its rotations. 100 sessions rotated 1,000 times each take the
// heap they took rotated once, give or take 64 KiB, while keeping as
// little as one word per rotation would add 800 KB.
func TestRotationsKeepFootprint(t *testing.T) {
	clock := storetest.NewClock(storetest.Start())
	ss := NewSessions(clock.Now)
	sessions := make([]store.Session, 100)
	for i := range sessions {
		sessions[i] = storetest.Session(i, fmt.Sprint("user", i%10), clock.Now())
		require.NoError(t, ss.CreateSession(t.Context(), sessions[i]))
		sessions[i] = storetest.RotateMany(t, ss, sessions[i], 1)
	}
	once := heapInUse()
	for i := range sessions {
		sessions[i] = storetest.RotateMany(t, ss, sessions[i], 999)
	}
	thousand := heapInUse()
	t.Logf("heap rotated once %d B, rotated 1,000 times %d B", once, thousand)
	assert.Less(t, int64(thousand)-int64(once), int64(64<<10), "the heap grew with rotations")

	// Each session is still one entry, found by its family, with only the
	// latest replaced token.
	ss.mu.RLock()
	assert.Len(t, ss.byID, len(sessions))
	assert.Len(t, ss.byFamily, len(sessions))
	ss.mu.RUnlock()
	for _, s := range sessions {
		got, err := ss.SessionByFamily(t.Context(), s.Family)
		require.NoError(t, err)
		storetest.EqualSession(t, s, got)
	}
	runtime.KeepAlive(ss)
}

// BenchmarkMemoryPerSession stores 1,000,000 sessions of 100,000 users
// and reports the heap they take per session, indexes and interned
// strings included: new sessions ("created"), and sessions that have been
// rotated and keep their previous token ("rotated"). Run with
// -benchtime=1x.
func BenchmarkMemoryPerSession(b *testing.B) {
	for _, rotated := range []bool{false, true} {
		name := "created"
		if rotated {
			name = "rotated"
		}
		b.Run(name, func(b *testing.B) {
			var perSession float64
			for range b.N {
				perSession = memoryPerSession(b, 1_000_000, 100_000, rotated)
			}
			b.ReportMetric(perSession, "bytes/session")
		})
	}
}
