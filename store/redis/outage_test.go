package redis

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
)

// Down, stalled and back: every operation answers EUNAVAILABLE within a
// bounded time while Redis is away, works again once it is back, and
// leaves no goroutine behind.
func TestOutage(t *testing.T) {
	before := runtime.NumGoroutine()
	r := testkit.StartRedis(t)
	c, _, err := Open(Config{URL: r.URL()})
	require.NoError(t, err)
	ss := NewSessions(c, Options{Prefix: "outage:"})
	// The newer operations go through a client of their own: a pool that
	// failed to dial as many times as it has connections dials no more
	// until a probe a second later succeeds, and the operations above
	// come close to that on one pool.
	c2, _, err := Open(Config{URL: r.URL()})
	require.NoError(t, err)
	ss2 := NewSessions(c2, Options{Prefix: "outage:"})
	lim := NewLimiter(c, testLimits, Options{Prefix: "outage:"})
	ctx := t.Context()
	s := session(1, "alice")
	s.ExpiresAt = time.Now().Add(time.Hour)
	require.NoError(t, ss.CreateSession(ctx, s))

	ops := map[string]func() error{
		"lookup": func() error { _, err := ss.SessionByFamily(ctx, s.Family); return err },
		"byID":   func() error { _, err := ss.SessionByID(ctx, s.ID); return err },
		"list":   func() error { _, err := ss.ListSessions(ctx, "alice"); return err },
		"touch":  func() error { return ss.TouchSession(ctx, s.ID, time.Now(), time.Time{}) },
		"rotate": func() error {
			_, err := ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family, TokenHash: session(3, "x").TokenHash, RotatedAt: time.Now()})
			return err
		},
		"auth": func() error {
			_, err := ss2.SetSessionAuth(ctx, s.ID, store.AAL2, time.Now())
			return err
		},
		"putChallenge":  func() error { return ss2.PutChallenge(ctx, "k", []byte("c"), time.Minute) },
		"takeChallenge": func() error { _, err := ss2.TakeChallenge(ctx, "k"); return err },
		"count":         func() error { _, err := ss.CountSessions(ctx); return err },
		"create":        func() error { return ss.CreateSession(ctx, session(2, "bob")) },
		"allow":         func() error { _, _, err := lim.Allow(ctx, "bob", "198.51.100.1"); return err },
		"ping":          func() error { return Ping(ctx, c) },
	}
	expectUnavailable := func(what string) {
		for name, op := range ops {
			start := time.Now()
			err := op()
			assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), "%s %s: %v", what, name, err)
			assert.Less(t, time.Since(start), OpTimeout+time.Second, "%s %s: bounded", what, name)
		}
	}

	r.Stop()
	expectUnavailable("down")

	r.Start()
	_, err = ss.SessionByID(ctx, s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "back (empty: it kept nothing)")
	require.NoError(t, ss.CreateSession(ctx, s))
	_, err = ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	_, err = ss2.TakeChallenge(ctx, "k")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "back, for the other client too")

	// Stalled: the server accepts nothing more but keeps its sockets open.
	r.Pause()
	expectUnavailable("stalled")
	r.Resume()
	_, err = ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err, "recovered after the stall")
	_, err = ss2.SetSessionAuth(ctx, s.ID, store.AAL2, time.Now())
	require.NoError(t, err, "recovered after the stall, the other client too")

	require.NoError(t, c.Close())
	require.NoError(t, c2.Close())
	r.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
}
