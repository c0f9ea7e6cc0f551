package auth

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/memory"
	"simpleapi/store/storetest"
)

// countingStore counts the writes that reach a real store.
type countingStore struct {
	store.SessionStore
	mu      sync.Mutex
	touches int
	sweeps  int
	swept   int
}

func (c *countingStore) TouchSession(ctx context.Context, id string, seen, idle time.Time) error {
	c.mu.Lock()
	c.touches++
	c.mu.Unlock()
	return c.SessionStore.TouchSession(ctx, id, seen, idle)
}

func (c *countingStore) DeleteExpired(ctx context.Context) (int, error) {
	n, err := c.SessionStore.DeleteExpired(ctx)
	c.mu.Lock()
	c.sweeps++
	c.swept += n
	c.mu.Unlock()
	return n, err
}

func (c *countingStore) counts() (touches, sweeps, swept int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.touches, c.sweeps, c.swept
}

// newTestManager returns a manager over a memory store, both on one clock
// that the test moves.
func newTestManager(idle time.Duration) (*SessionManager, *countingStore, *storetest.Clock) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &countingStore{SessionStore: memory.NewSessions(clk.Now)}
	m := NewSessionManager(SessionConfig{Store: st, Absolute: 24 * time.Hour, IdleTimeout: idle, Now: clk.Now})
	return m, st, clk
}

func TestCreateSetsDeadlines(t *testing.T) {
	ctx := t.Context()
	m, st, clk := newTestManager(30 * time.Minute)
	clk.Add(1500*time.Millisecond + 300*time.Microsecond) // stored to the millisecond
	_, s, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)
	now := time.Date(2026, 1, 1, 0, 0, 1, 500_000_000, time.UTC)
	assert.Equal(t, now, s.CreatedAt)
	assert.Equal(t, now, s.LastSeenAt)
	assert.Equal(t, now, s.RotatedAt)
	assert.Equal(t, now.Add(24*time.Hour), s.ExpiresAt)
	assert.Equal(t, now.Add(30*time.Minute), s.IdleExpiresAt)
	got, err := st.SessionByID(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, s, got)

	none := NewSessionManager(SessionConfig{Store: st, Now: clk.Now})
	_, s, err = none.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	assert.True(t, s.Deadline().IsZero(), "no timeouts, no deadline")
}

func TestUseWrittenOncePerSecond(t *testing.T) {
	ctx := t.Context()
	m, st, clk := newTestManager(30 * time.Minute)
	token, s, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)

	// Uses within the second of the latest write are not written again.
	for range 5 {
		clk.Add(100 * time.Millisecond)
		_, err := m.Lookup(ctx, ParseToken(token))
		require.NoError(t, err)
	}
	touches, _, _ := st.counts()
	assert.Zero(t, touches)

	// Each later second's first use is written, and moves the idle
	// deadline with it.
	for i := range 3 {
		clk.Add(10 * time.Second)
		got, err := m.Lookup(ctx, ParseToken(token))
		require.NoError(t, err)
		_, err = m.Lookup(ctx, ParseToken(token))
		require.NoError(t, err)
		now := clk.Now()
		assert.Equal(t, now, got.LastSeenAt)
		assert.Equal(t, now.Add(30*time.Minute), got.IdleExpiresAt)
		stored, err := st.SessionByID(ctx, s.ID)
		require.NoError(t, err)
		assert.Equal(t, got, stored, "use %d", i)
	}
	touches, _, _ = st.counts()
	assert.Equal(t, 3, touches)
}

func TestIdleTimeoutShorterThanAMinute(t *testing.T) {
	ctx := t.Context()
	m, _, clk := newTestManager(30 * time.Second)
	token, _, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	for i := range 10 {
		clk.Add(20 * time.Second)
		_, err := m.Lookup(ctx, ParseToken(token))
		require.NoError(t, err, "use %d, 20 s after the previous one", i)
	}
	clk.Add(30 * time.Second)
	_, err = m.Lookup(ctx, ParseToken(token))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}

// TestInstancesShareUses: a use through one manager keeps the session
// alive for another over the same store, as with several instances.
func TestInstancesShareUses(t *testing.T) {
	ctx := t.Context()
	a, st, clk := newTestManager(10 * time.Minute)
	b := NewSessionManager(SessionConfig{Store: st, Absolute: 24 * time.Hour, IdleTimeout: 10 * time.Minute, Now: clk.Now})
	token, _, err := a.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	clk.Add(9 * time.Minute)
	_, err = a.Lookup(ctx, ParseToken(token))
	require.NoError(t, err)
	clk.Add(9 * time.Minute) // 18 min after creation, 9 after the last use
	_, err = b.Lookup(ctx, ParseToken(token))
	require.NoError(t, err, "the use through a counts for b")
	clk.Add(10 * time.Minute)
	_, err = a.Lookup(ctx, ParseToken(token))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}

func TestAbsoluteDeadlineEndsSessionInUse(t *testing.T) {
	ctx := t.Context()
	m, _, clk := newTestManager(time.Hour)
	token, s, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	for clk.Now().Add(30 * time.Minute).Before(s.ExpiresAt) {
		clk.Add(30 * time.Minute)
		_, err := m.Lookup(ctx, ParseToken(token))
		require.NoError(t, err)
	}
	clk.Set(s.ExpiresAt.Add(-time.Second))
	_, err = m.Lookup(ctx, ParseToken(token))
	require.NoError(t, err, "a second before the absolute deadline")
	assert.Equal(t, 1, m.MaxAge(s))
	clk.Set(s.ExpiresAt)
	_, err = m.Lookup(ctx, ParseToken(token))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	_, err = m.Get(ctx, s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
}

func TestRenewReplacesTokenKeepsID(t *testing.T) {
	ctx := t.Context()
	m, st, clk := newTestManager(time.Hour)
	token, s, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	clk.Add(time.Minute)
	fresh, renewed, err := m.Renew(ctx, s)
	require.NoError(t, err)
	assert.NotEqual(t, token, fresh)
	assert.Equal(t, s.ID, renewed.ID, "same public id")
	assert.Equal(t, s.CreatedAt, renewed.CreatedAt)
	assert.Equal(t, s.ExpiresAt, renewed.ExpiresAt, "same lifetime")
	assert.Equal(t, clk.Now(), renewed.RotatedAt)
	assert.Zero(t, renewed.PrevTokenHash, "no grace for the old token")
	_, err = m.Lookup(ctx, ParseToken(token))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	_, err = m.Lookup(ctx, ParseToken(fresh))
	assert.NoError(t, err)

	// Renewing a session whose token was rotated meanwhile renews its
	// current token; every earlier one stops working.
	rotated := successor(fresh)
	_, err = st.RotateToken(ctx, s.ID, renewed.TokenHash, store.Rotation{Family: renewed.Family, TokenHash: rotated.Hash,
		RotatedAt: clk.Now(), PrevTokenHash: renewed.TokenHash, PrevValidUntil: clk.Now().Add(time.Minute)})
	require.NoError(t, err)
	again, _, err := m.Renew(ctx, renewed)
	require.NoError(t, err)
	assert.NotEqual(t, familySecret(fresh), familySecret(again), "a renewal starts a new family")
	for _, old := range []string{fresh, rotated.Value} {
		_, err = m.Lookup(ctx, ParseToken(old))
		assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	}
	_, err = m.Lookup(ctx, ParseToken(again))
	assert.NoError(t, err, "a token of the family it left is unknown, not a replay")

	// Renewing a session revoked meanwhile is refused.
	_, gone, err := m.Create(ctx, "user-2", "", "")
	require.NoError(t, err)
	require.NoError(t, m.Destroy(ctx, gone.ID))
	_, _, err = m.Renew(ctx, gone)
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	left, err := m.List(ctx, "user-2")
	require.NoError(t, err)
	assert.Empty(t, left)
}

// TestPreviousTokenGrace: after a rotation the replaced token works until
// PrevValidUntil, then is refused with the session named for the caller.
func TestPreviousTokenGrace(t *testing.T) {
	ctx := t.Context()
	m, st, clk := newTestManager(time.Hour)
	old, s, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	next := successor(old).Value
	_, err = st.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family, TokenHash: HashToken(next),
		RotatedAt: clk.Now(), PrevTokenHash: s.TokenHash, PrevValidUntil: clk.Now().Add(time.Minute)})
	require.NoError(t, err)

	got, match, err := m.Find(ctx, ParseToken(next))
	require.NoError(t, err)
	assert.Equal(t, MatchCurrent, match)
	assert.Equal(t, s.ID, got.ID)
	clk.Add(59 * time.Second)
	got, match, err = m.Find(ctx, ParseToken(old))
	require.NoError(t, err)
	assert.Equal(t, MatchPrevious, match)
	assert.Equal(t, s.ID, got.ID)
	_, err = m.Lookup(ctx, ParseToken(old))
	require.NoError(t, err, "within the grace period")

	clk.Add(time.Second)
	got, match, err = m.Find(ctx, ParseToken(old))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	assert.Equal(t, MatchReplayed, match)
	assert.Equal(t, s.ID, got.ID, "the session is named, for reuse detection")
	_, err = m.Lookup(ctx, ParseToken(old))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	_, err = m.Lookup(ctx, ParseToken(next))
	assert.NoError(t, err)
}

// TestRunSweeps runs the background loop on synctest's clock, which the
// store reads too: it removes expired sessions each interval and stops
// with its context.
func TestRunSweeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &countingStore{SessionStore: memory.NewSessions(nil)}
		m := NewSessionManager(SessionConfig{Store: st, Absolute: 24 * time.Hour, IdleTimeout: 30 * time.Minute})
		_, _, err := m.Create(t.Context(), "user-1", "", "")
		require.NoError(t, err)
		time.Sleep(20 * time.Minute)
		_, _, err = m.Create(t.Context(), "user-1", "", "")
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx, time.Minute); close(done) }()
		time.Sleep(10*time.Minute + time.Second) // the first session's deadline passes
		synctest.Wait()
		_, sweeps, swept := st.counts()
		assert.Equal(t, 10, sweeps)
		assert.Equal(t, 1, swept)
		n, err := st.CountSessions(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		cancel()
		<-done
	})
}

func TestTokensAreRandomAndHashed(t *testing.T) {
	ctx := t.Context()
	m, st, _ := newTestManager(time.Hour)
	seen := map[string]bool{}
	for range 100 {
		token, s, err := m.Create(ctx, "u", "", "")
		require.NoError(t, err)
		assert.Regexp(t, `^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$`, token, "two parts of 16 bytes, base64url")
		assert.False(t, seen[token])
		seen[token] = true
		parsed := ParseToken(token)
		assert.Equal(t, HashToken(token), s.TokenHash)
		assert.Equal(t, HashToken(familySecret(token)), s.Family)
		assert.Equal(t, parsed.Family, s.Family)
		got, err := st.SessionByFamily(ctx, parsed.Family)
		require.NoError(t, err)
		assert.Equal(t, s.ID, got.ID)
	}
	// A token issued before families is its own family secret.
	legacy := ParseToken("Na-oli8H20-8MCXQXZPfw6_23Zxn8NOqrMPNPOEFyGI")
	assert.Equal(t, legacy.Hash, legacy.Family)
	_, err := m.Lookup(ctx, ParseToken("not-a-token"))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}
