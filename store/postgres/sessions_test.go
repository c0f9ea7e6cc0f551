package postgres

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
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

// clock is the sessions' injected time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func openSessions(t *testing.T) (*DB, *Sessions, *clock) {
	c := &clock{now: t0}
	db := openTest(t, Options{Now: c.Now})
	return db, db.Sessions(), c
}

func hashOf(s string) store.TokenHash { return sha256.Sum256([]byte(s)) }

func TestSessionsCreateAndRead(t *testing.T) {
	_, ss, _ := openSessions(t)
	ctx := t.Context()
	a1, a2, a3, b1 := newSession(1, "alice"), newSession(2, "alice"), newSession(3, "alice"),
		newSession(4, "bob")
	b1.ExpiresAt = time.Time{}
	b1.IdleExpiresAt = t0.Add(30 * time.Minute)
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, newSession(1, "carol"))), "same id")
	dup := newSession(9, "carol")
	dup.TokenHash = a1.TokenHash
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, dup)), "same token hash")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{ID: "x"})))
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{UserID: "x"})))

	got, err := ss.SessionByTokenHash(ctx, a1.TokenHash)
	require.NoError(t, err)
	assert.Equal(t, a1, got)
	got, err = ss.SessionByID(ctx, b1.ID)
	require.NoError(t, err)
	assert.Equal(t, b1, got)
	_, err = ss.SessionByTokenHash(ctx, store.TokenHash{})
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err, "the zero hash matches no session")
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

	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.DeleteSession(ctx, a3.ID)))
	n, err = ss.DeleteUserSessions(ctx, "alice", a1.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	list, err = ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1}, list)
	n, err = ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// Expiry belongs to the store: at the clock's time, a session past either
// deadline is not returned, listed, counted, touched or rotated, and
// DeleteExpired removes its row.
func TestSessionsExpiry(t *testing.T) {
	db, ss, clk := openSessions(t)
	ctx := t.Context()
	abs := newSession(1, "alice") // absolute deadline Time+24h1m, no idle one
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
	assert.Equal(t, 0, n, "Session(5) expired at Time+24h5m too")
}

func rows(t *testing.T, db *DB) int {
	var n int
	require.NoError(t, db.pool.QueryRow(t.Context(), `SELECT count(*) FROM sessions`).Scan(&n))
	return n
}

// TouchSession moves the last use and the idle deadline forward only, and
// a moved idle deadline keeps the session alive.
func TestSessionsTouch(t *testing.T) {
	_, ss, clk := openSessions(t)
	ctx := t.Context()
	s := newSession(1, "alice")
	s.IdleExpiresAt = t0.Add(30 * time.Minute)
	require.NoError(t, ss.CreateSession(ctx, s))

	seen := t0.Add(20 * time.Minute)
	require.NoError(t, ss.TouchSession(ctx, s.ID, seen, seen.Add(30*time.Minute)))
	require.NoError(t, ss.TouchSession(ctx, s.ID, t0, t0), "a late call")
	require.NoError(t, ss.TouchSession(ctx, s.ID, time.Time{}, time.Time{}), "zero times")
	got, err := ss.SessionByID(ctx, s.ID)
	require.NoError(t, err)
	s.LastSeenAt, s.IdleExpiresAt = seen, seen.Add(30*time.Minute)
	assert.Equal(t, s, got)

	clk.Set(t0.Add(45 * time.Minute)) // past the first idle deadline
	_, err = ss.SessionByTokenHash(ctx, s.TokenHash)
	require.NoError(t, err)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, "nope", seen, seen)))

	// A session without an idle deadline gets one from its first touch.
	s2 := newSession(2, "alice")
	require.NoError(t, ss.CreateSession(ctx, s2))
	require.NoError(t, ss.TouchSession(ctx, s2.ID, clk.Now(), clk.Now().Add(time.Minute)))
	got, err = ss.SessionByID(ctx, s2.ID)
	require.NoError(t, err)
	assert.Equal(t, clk.Now().Add(time.Minute), got.IdleExpiresAt)
}

func TestSessionsRotate(t *testing.T) {
	_, ss, clk := openSessions(t)
	ctx := t.Context()
	s := newSession(1, "alice")
	require.NoError(t, ss.CreateSession(ctx, s))
	other := newSession(2, "alice")
	require.NoError(t, ss.CreateSession(ctx, other))

	r := store.Rotation{TokenHash: hashOf("t2"), RotatedAt: t0.Add(time.Minute),
		PrevTokenHash: s.TokenHash, PrevValidUntil: t0.Add(2 * time.Minute)}
	got, err := ss.RotateToken(ctx, s.ID, s.TokenHash, r)
	require.NoError(t, err)
	want := s
	want.TokenHash, want.RotatedAt, want.PrevTokenHash, want.PrevValidUntil =
		r.TokenHash, r.RotatedAt, r.PrevTokenHash, r.PrevValidUntil
	assert.Equal(t, want, got)
	for _, h := range []store.TokenHash{r.TokenHash, s.TokenHash} {
		got, err = ss.SessionByTokenHash(ctx, h)
		require.NoError(t, err, "found by the current and by the previous token")
		assert.Equal(t, want, got)
	}
	_, err = ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{TokenHash: hashOf("t3")})
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err), "already replaced")
	_, err = ss.RotateToken(ctx, s.ID, r.TokenHash, store.Rotation{TokenHash: other.TokenHash})
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err), "new token in use")
	_, err = ss.RotateToken(ctx, "nope", r.TokenHash, store.Rotation{TokenHash: hashOf("t4")})
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	// A rotation without a previous token ends the old one at once.
	got, err = ss.RotateToken(ctx, s.ID, r.TokenHash, store.Rotation{TokenHash: hashOf("t5"), RotatedAt: clk.Now()})
	require.NoError(t, err)
	assert.Equal(t, store.TokenHash{}, got.PrevTokenHash)
	for _, h := range []store.TokenHash{r.TokenHash, s.TokenHash} {
		_, err = ss.SessionByTokenHash(ctx, h)
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	}

	// Of parallel rotations from one token, exactly one succeeds.
	from := hashOf("t5")
	errs := make([]error, 20)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			_, errs[i] = ss.RotateToken(ctx, s.ID, from, store.Rotation{
				TokenHash: sha256.Sum256([]byte{byte(i), 'x'}), RotatedAt: clk.Now(), PrevTokenHash: from})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.Equal(t, store.ECONFLICT, store.ErrorCode(err))
		}
	}
	assert.Equal(t, 1, ok)
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
