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

func TestLastUseWrittenAtMostOnceAMinute(t *testing.T) {
	ctx := context.Background()
	m, st, clk := newTestManager(30 * time.Minute)
	token, s, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)

	// Uses within the first minute record nothing.
	for i := 0; i < 5; i++ {
		clk.Advance(10 * time.Second)
		_, err := m.Lookup(ctx, token)
		require.NoError(t, err)
	}
	require.NoError(t, m.Flush(ctx))
	assert.Empty(t, st.batches)

	// Many uses a minute later make one write, at the first of them.
	clk.Advance(20 * time.Second)
	firstUse := clk.Now()
	for i := 0; i < 5; i++ {
		_, err := m.Lookup(ctx, token)
		require.NoError(t, err)
		clk.Advance(time.Second)
	}
	require.NoError(t, m.Flush(ctx))
	require.Len(t, st.batches, 1)
	assert.Equal(t, map[string]time.Time{s.ID: firstUse}, st.batches[0])
	got, err := st.SessionByID(ctx, s.ID)
	require.NoError(t, err)
	assert.True(t, got.LastSeenAt.Equal(firstUse))
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
