package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/memory"
)

// touchCounter records what reaches the store's TouchSessions.
type touchCounter struct {
	store.SessionStore
	mu      sync.Mutex
	batches []map[string]time.Time
}

func (c *touchCounter) TouchSessions(ctx context.Context, m map[string]time.Time) error {
	c.mu.Lock()
	c.batches = append(c.batches, m)
	c.mu.Unlock()
	return c.SessionStore.TouchSessions(ctx, m)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newTestManager(idle time.Duration) (*SessionManager, *touchCounter, *fakeClock) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := &touchCounter{SessionStore: memory.NewSessions()}
	m := NewSessionManager(SessionConfig{Store: st, Absolute: 24 * time.Hour, IdleTimeout: idle, Now: clk.Now})
	return m, st, clk
}

func TestLastUseWrittenOncePerFlush(t *testing.T) {
	ctx := context.Background()
	m, st, clk := newTestManager(30 * time.Minute)
	token, s, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)

	// Many uses between two flushes (the background flush runs once a
	// minute) make one write, of the latest use.
	var last time.Time
	for i := 0; i < 5; i++ {
		clk.Advance(10 * time.Second)
		last = clk.Now()
		_, err := m.Lookup(ctx, token)
		require.NoError(t, err)
	}
	assert.Empty(t, st.batches, "nothing is written on the request path")
	require.NoError(t, m.Flush(ctx))
	require.Len(t, st.batches, 1)
	assert.Equal(t, map[string]time.Time{s.ID: last}, st.batches[0])
	got, err := st.SessionByID(ctx, s.ID)
	require.NoError(t, err)
	assert.True(t, got.LastSeenAt.Equal(last))

	// Without uses, a flush writes nothing.
	require.NoError(t, m.Flush(ctx))
	assert.Len(t, st.batches, 1)
}

func TestIdleTimeoutShorterThanAMinute(t *testing.T) {
	ctx := context.Background()
	m, _, clk := newTestManager(30 * time.Second)
	token, _, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	for i := 0; i < 10; i++ {
		clk.Advance(20 * time.Second)
		_, err := m.Lookup(ctx, token)
		require.NoError(t, err, "use %d, 20 s after the previous one", i)
	}
	clk.Advance(30 * time.Second)
	_, err = m.Lookup(ctx, token)
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}

func TestRenewReplacesTokenAndID(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newTestManager(time.Hour)
	token, s, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	fresh, renewed, err := m.Renew(ctx, s)
	require.NoError(t, err)
	assert.NotEqual(t, token, fresh)
	assert.NotEqual(t, s.ID, renewed.ID)
	assert.Equal(t, s.ExpiresAt, renewed.ExpiresAt, "same lifetime")
	_, err = m.Lookup(ctx, token)
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	_, err = m.Lookup(ctx, fresh)
	assert.NoError(t, err)

	// Renewing a session revoked meanwhile leaves nothing behind.
	_, gone, err := m.Create(ctx, "user-2", "", "")
	require.NoError(t, err)
	require.NoError(t, m.Destroy(ctx, gone.ID))
	_, _, err = m.Renew(ctx, gone)
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	left, err := st.ListSessions(ctx, "user-2")
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestPendingUseKeepsSessionAlive(t *testing.T) {
	ctx := context.Background()
	m, _, clk := newTestManager(10 * time.Minute)
	token, _, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	clk.Advance(9 * time.Minute)
	_, err = m.Lookup(ctx, token) // recorded, not yet written
	require.NoError(t, err)
	clk.Advance(9 * time.Minute) // 18 min after creation, 9 after the last use
	_, err = m.Lookup(ctx, token)
	require.NoError(t, err, "the unwritten use counts")
	clk.Advance(10 * time.Minute)
	_, err = m.Lookup(ctx, token)
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}

func TestRunFlushesAtShutdown(t *testing.T) {
	m, st, clk := newTestManager(time.Hour)
	token, _, err := m.Create(context.Background(), "user-1", "", "")
	require.NoError(t, err)
	clk.Advance(2 * time.Minute)
	_, err = m.Lookup(context.Background(), token)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx, time.Hour); close(done) }()
	cancel()
	<-done
	st.mu.Lock()
	defer st.mu.Unlock()
	assert.Len(t, st.batches, 1, "the recorded use was written at shutdown")
}

func TestSweepRemovesExpired(t *testing.T) {
	ctx := context.Background()
	m, st, clk := newTestManager(time.Hour)
	_, _, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	clk.Advance(30 * time.Minute)
	_, _, err = m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	clk.Advance(31 * time.Minute)
	n, err := m.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	left, err := st.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, left)
}

func TestTokensAreRandomAndHashed(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newTestManager(time.Hour)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		token, s, err := m.Create(ctx, "u", "", "")
		require.NoError(t, err)
		assert.Len(t, token, 43, "32 bytes, base64url")
		assert.False(t, seen[token])
		seen[token] = true
		assert.Equal(t, HashToken(token), s.TokenHash)
		got, err := st.SessionByTokenHash(ctx, HashToken(token))
		require.NoError(t, err)
		assert.Equal(t, s.ID, got.ID)
	}
	_, err := m.Lookup(ctx, "not-a-token")
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
}
