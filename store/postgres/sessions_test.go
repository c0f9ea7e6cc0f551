package postgres

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

// t0 is the time the sessions' clock starts at: whole seconds, UTC, as
// the store keeps times.
var t0 = time.Date(2024, 5, 17, 12, 30, 45, 0, time.UTC)

// newSession returns session i of userID: created i minutes after t0,
// an absolute deadline a day later, no idle deadline.
func newSession(i int, userID string) store.Session {
	return store.Session{
		ID:         fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		TokenHash:  hashOf(fmt.Sprintf("token %d %s", i, userID)),
		UserID:     userID,
		CreatedAt:  t0.Add(time.Duration(i) * time.Minute),
		ExpiresAt:  t0.Add(24*time.Hour + time.Duration(i)*time.Minute),
		LastSeenAt: t0.Add(time.Duration(i) * time.Minute),
		RotatedAt:  t0.Add(time.Duration(i) * time.Minute),
		IP:         "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
}

func openSessions(t *testing.T) (*DB, *Sessions, *storetest.Clock) {
	c := storetest.NewClock(t0)
	db := openTest(t, Options{Now: c.Now})
	return db, db.Sessions(), c
}

func hashOf(s string) store.TokenHash { return sha256.Sum256([]byte(s)) }

// Expiry belongs to the store: at the clock's time, a session past either
// deadline is not returned, listed, counted, touched or rotated, and
// DeleteExpired removes its row.
func TestSessionsExpiry(t *testing.T) {
	db, ss, clk := openSessions(t)
	ctx := t.Context()
	abs := newSession(1, "alice") // absolute deadline t0+24h1m, no idle one
	idle := newSession(2, "alice")
	idle.IdleExpiresAt = t0.Add(30 * time.Minute)
	forever := newSession(3, "alice")
	forever.ExpiresAt = time.Time{}
	for _, s := range []store.Session{abs, idle, forever} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}

	clk.Set(idle.IdleExpiresAt.Add(-time.Second))
	n, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	clk.Set(idle.IdleExpiresAt) // the deadline itself is past
	_, err = ss.SessionByID(ctx, idle.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, err = ss.SessionByTokenHash(ctx, idle.TokenHash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, idle.ID, clk.Now(), clk.Now().Add(time.Hour))))
	_, err = ss.RotateToken(ctx, idle.ID, idle.TokenHash, store.Rotation{TokenHash: hashOf("new"), RotatedAt: clk.Now()})
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{abs, forever}, list)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	clk.Set(abs.ExpiresAt.Add(time.Hour))
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, 3, rows(t, db), "expired rows stay until DeleteExpired")
	n, err = ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, 1, rows(t, db))
	got, err := ss.SessionByID(ctx, forever.ID)
	require.NoError(t, err)
	assert.Equal(t, forever, got)

	// An expired session does not count as revoked.
	gone := newSession(4, "bob")
	gone.IdleExpiresAt = clk.Now().Add(time.Minute)
	require.NoError(t, ss.CreateSession(ctx, gone))
	require.NoError(t, ss.CreateSession(ctx, newSession(5, "bob")))
	clk.Set(clk.Now().Add(time.Minute))
	n, err = ss.DeleteUserSessions(ctx, "bob", "")
	require.NoError(t, err)
	assert.Equal(t, 0, n, "newSession(5) expired at t0+24h5m too")
}

func rows(t *testing.T, db *DB) int {
	var n int
	require.NoError(t, db.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions`).Scan(&n))
	return n
}

// Lookups by token hash, previous token hash and user and the deadline
// sweep have their indexes.
func TestSessionsIndexes(t *testing.T) {
	db, _, _ := openSessions(t)
	var defs []string
	r, err := db.pool.Query(t.Context(), `SELECT indexdef FROM pg_indexes WHERE tablename = 'sessions'
		AND schemaname = current_schema() ORDER BY indexname`)
	require.NoError(t, err)
	for r.Next() {
		var d string
		require.NoError(t, r.Scan(&d))
		defs = append(defs, d)
	}
	require.NoError(t, r.Err())
	joined := ""
	for _, d := range defs {
		joined += d + "\n"
	}
	for _, want := range []string{"(deadline)", "(id)", "(prev_token_hash)", "UNIQUE INDEX sessions_token_hash", "(user_id, created_at)"} {
		assert.Contains(t, joined, want)
	}
}
