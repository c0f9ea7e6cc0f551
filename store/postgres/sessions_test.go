package postgres

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	"simpleapi/store/storetest"
)

// t0 is the time the sessions' clock starts at: UTC, with milliseconds,
// as the store keeps them.
var t0 = time.Date(2024, 5, 17, 12, 30, 45, 250_000_000, time.UTC)

// newSession returns session i of userID: created i minutes after t0,
// an absolute deadline a day later, no idle deadline.
func newSession(i int, userID string) store.Session {
	return store.Session{
		ID:         fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		Family:     hashOf(fmt.Sprintf("family %d %s", i, userID)),
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
	_, err = ss.SessionByFamily(ctx, idle.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, idle.ID, clk.Now(), clk.Now().Add(time.Hour))))
	_, err = ss.RotateToken(ctx, idle.ID, idle.TokenHash, store.Rotation{Family: idle.Family, TokenHash: hashOf("new"), RotatedAt: clk.Now()})
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

// The lookups by family and user and the deadline sweep have their
// indexes; the token hashes, which nothing looks sessions up by, have
// none.
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
	joined := strings.Join(defs, "\n")
	for _, want := range []string{"(deadline)", "(id)", "UNIQUE INDEX sessions_family ON", "(family)", "(user_id, created_at)"} {
		assert.Contains(t, joined, want)
	}
	assert.NotContains(t, joined, "token_hash")
	assert.Len(t, defs, 4)
}

// SessionByFamily is one probe of the family index (the planner is told
// to avoid a scan, which on a tiny table it would rightly prefer).
func TestSessionByFamilyUsesItsIndex(t *testing.T) {
	db, _, _ := openSessions(t)
	ctx := t.Context()
	tx, err := db.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(context.Background()) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`)
	require.NoError(t, err)
	var plan []string
	f := hashOf("f")
	r, err := tx.Query(ctx, `EXPLAIN `+sessionByFamily, pgx.NamedArgs{"family": f[:], "now": t0})
	require.NoError(t, err)
	for r.Next() {
		var line string
		require.NoError(t, r.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, r.Err())
	require.NotEmpty(t, plan)
	assert.Contains(t, plan[0], "Index Scan using sessions_family", strings.Join(plan, "\n"))
}

// A session stored before families existed (migration 2's shape, with a
// grace-period token) loads after migration 3 with its token hash as its
// family, is found by it, and rotates like any other.
func TestSessionsBeforeFamiliesStillLoad(t *testing.T) {
	ctx := t.Context()
	url := pgtest.Schema(t)
	db, err := Connect(ctx, url, Options{Now: storetest.NewClock(t0).Now})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, withProvider(db.pool, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, 2)
		return err
	}))

	old := newSession(1, "alice")
	old.IdleExpiresAt = t0.Add(time.Hour + 125*time.Millisecond)
	old.PrevTokenHash, old.PrevValidUntil = hashOf("replaced"), t0.Add(time.Minute)
	_, err = db.pool.Exec(ctx, `INSERT INTO sessions (id, token_hash, user_id, created_at, expires_at,
			idle_expires_at, last_seen_at, ip, user_agent, rotated_at, prev_token_hash, prev_valid_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		old.ID, old.TokenHash[:], old.UserID, old.CreatedAt, old.ExpiresAt, old.IdleExpiresAt,
		old.LastSeenAt, old.IP, old.UserAgent, old.RotatedAt, old.PrevTokenHash[:], old.PrevValidUntil)
	require.NoError(t, err)

	require.NoError(t, Migrate(ctx, db.pool))
	ss := db.Sessions()
	want := old
	want.Family = old.TokenHash
	got, err := ss.SessionByFamily(ctx, old.TokenHash)
	require.NoError(t, err)
	storetest.EqualSession(t, want, got)
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	storetest.EqualSessions(t, []store.Session{want}, list)

	// Its next rotation keeps the family; a new session cannot take it.
	r := store.Rotation{Family: want.Family, TokenHash: hashOf("next"), RotatedAt: t0.Add(time.Second),
		PrevTokenHash: old.TokenHash, PrevValidUntil: t0.Add(time.Minute)}
	got, err = ss.RotateToken(ctx, old.ID, old.TokenHash, r)
	require.NoError(t, err)
	assert.Equal(t, r.TokenHash, got.TokenHash)
	got, err = ss.SessionByFamily(ctx, want.Family)
	require.NoError(t, err)
	assert.Equal(t, old.ID, got.ID)
	taken := newSession(2, "bob")
	taken.Family = want.Family
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, taken)))

	// The migration can be undone: the table is back in its old shape.
	require.NoError(t, withProvider(db.pool, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, 2)
		return err
	}))
	var token []byte
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT token_hash FROM sessions WHERE id = $1`, old.ID).Scan(&token))
	assert.Equal(t, r.TokenHash[:], token)
	var families int
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'sessions' AND column_name = 'family'`).Scan(&families))
	assert.Zero(t, families)
}

// A session's row does not grow with its rotations: it keeps its current
// and previous token, never a history.
func TestSessionFootprintIsBounded(t *testing.T) {
	db, ss, _ := openSessions(t)
	ctx := t.Context()
	s := storetest.Session(1, "alice", t0)
	require.NoError(t, ss.CreateSession(ctx, s))
	size := func() int {
		t.Helper()
		var n int
		require.NoError(t, db.pool.QueryRow(ctx,
			`SELECT pg_column_size(sessions.*) FROM sessions WHERE id = $1`, s.ID).Scan(&n))
		return n
	}
	s = storetest.RotateMany(t, ss, s, 1)
	once := size()
	s = storetest.RotateMany(t, ss, s, 1000)
	assert.Equal(t, once, size(), "bytes after 1 and after 1001 rotations")
	assert.Equal(t, 1, rows(t, db))
	got, err := ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	storetest.EqualSession(t, s, got)
	t.Logf("one session's row: %d bytes, after 1 rotation and after 1001", once)
}
