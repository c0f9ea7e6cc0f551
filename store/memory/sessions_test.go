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

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestSessions(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore { return NewSessions(now) })
}

func TestTimesKeptToTheSecond(t *testing.T) {
	ss := NewSessions(nil)
	at := time.Now().Truncate(time.Second).UTC()
	s := storetest.Session(1, "alice", at)
	s.CreatedAt = s.CreatedAt.Add(999).In(time.FixedZone("CEST", 2*3600))
	want := s.CreatedAt.Truncate(time.Second).UTC()
	require.NoError(t, ss.CreateSession(t.Context(), s))
	got, err := ss.SessionByID(t.Context(), s.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got.CreatedAt)
}

// TestDeleteExpiredFrees: DeleteExpired takes expired sessions out of
// every index, so their memory is freed; live ones stay.
func TestDeleteExpiredFrees(t *testing.T) {
	clock := storetest.NewClock(time.Now().UTC().Truncate(time.Second))
	ss := NewSessions(clock.Now)
	ctx := t.Context()
	now := clock.Now()
	short, long := storetest.Session(1, "alice", now), storetest.Session(2, "alice", now)
	long.IdleExpiresAt = now.Add(2 * time.Hour)
	require.NoError(t, ss.CreateSession(ctx, short))
	require.NoError(t, ss.CreateSession(ctx, long))
	_, err := ss.RotateToken(ctx, short.ID, short.TokenHash, store.Rotation{
		TokenHash: storetest.NewTokenHash(), RotatedAt: now, PrevTokenHash: short.TokenHash, PrevValidUntil: now.Add(time.Minute)})
	require.NoError(t, err)

	clock.Add(time.Hour)
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ss.mu.RLock()
	assert.Len(t, ss.byID, 1)
	assert.Len(t, ss.byHash, 1, "both tokens of the expired session are gone")
	assert.Len(t, ss.byUser[unique.Make("alice")], 1)
	ss.mu.RUnlock()

	// A clock moved back does not bring it back: it is gone.
	clock.Add(-time.Hour)
	_, err = ss.SessionByID(ctx, short.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
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
				_, err := ss.SessionByTokenHash(ctx, s.TokenHash)
				assert.NoError(t, err)
				assert.NoError(t, ss.TouchSession(ctx, s.ID, now, now.Add(2*time.Hour)))
				_, err = ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{TokenHash: storetest.NewTokenHash(), RotatedAt: now})
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

// BenchmarkMemoryPerSession stores 1,000,000 sessions of 100,000 users
// and reports the heap they take per session, indexes included. Each
// session's strings are fresh allocations, as they are when they come
// from a request. Run with -benchtime=1x.
func BenchmarkMemoryPerSession(b *testing.B) {
	const sessions, users = 1_000_000, 100_000
	userIDs := make([]string, users)
	for i := range userIDs {
		userIDs[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	base := time.Now().UTC().Truncate(time.Second)
	var perSession float64
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ss := NewSessions(nil)
		for i := range sessions {
			s := store.Session{
				ID:            fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
				TokenHash:     sha256.Sum256([]byte(fmt.Sprint(i))),
				UserID:        strings.Clone(userIDs[i%users]),
				CreatedAt:     base.Add(time.Duration(i) * time.Second),
				ExpiresAt:     base.Add(24*time.Hour + time.Duration(i)*time.Second),
				IdleExpiresAt: base.Add(30*time.Minute + time.Duration(i)*time.Second),
				LastSeenAt:    base.Add(time.Duration(i) * time.Second),
				RotatedAt:     base.Add(time.Duration(i) * time.Second),
				IP:            fmt.Sprintf("198.51.%d.%d", i/256%256, i%256),
				UserAgent:     strings.Clone(userAgents[i%len(userAgents)]),
			}
			if err := ss.CreateSession(b.Context(), s); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSession = float64(after.HeapAlloc-before.HeapAlloc) / sessions
		runtime.KeepAlive(ss)
	}
	b.ReportMetric(perSession, "bytes/session")
}
