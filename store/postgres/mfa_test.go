package postgres

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	"simpleapi/store/storetest"
)

// A user's factors are one jsonb document in store.Factors' format, NULL
// for a user without any (empty lists included), and NULL again once
// removed.
func TestUsersFactorsColumn(t *testing.T) {
	db := openTest(t, Options{})
	ctx := t.Context()
	users := db.Users()
	withFactors, plain := storetest.User(1, "mfa@example.com", store.RoleUser), storetest.User(2, "p@example.com", store.RoleUser)
	withFactors.Factors = storetest.SampleFactors()
	plain.Factors.RecoveryCodes = []store.RecoveryCode{}
	require.NoError(t, users.CreateUser(ctx, withFactors))
	require.NoError(t, users.CreateUser(ctx, plain))

	column := func(id string) []byte {
		t.Helper()
		var b []byte
		require.NoError(t, db.pool.QueryRow(ctx, `SELECT factors FROM users WHERE id = $1`, id).Scan(&b))
		return b
	}
	want, err := json.Marshal(storetest.SampleFactors())
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(column(withFactors.ID)))
	var confirmed bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT (factors->'totp'->>'confirmed')::bool FROM users WHERE id = $1`,
		withFactors.ID).Scan(&confirmed))
	assert.True(t, confirmed)
	assert.Nil(t, column(plain.ID), "no factors: NULL")
	got, err := users.UserByID(ctx, plain.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Factors{}, got.Factors)

	// Times in another zone are kept as the same instants, read in UTC;
	// UpdateUser returns the user as it reads back.
	local := storetest.SampleFactors()
	local.TOTP.CreatedAt = local.TOTP.CreatedAt.In(time.FixedZone("X", -7200))
	updated, err := users.UpdateUser(ctx, plain.ID, func(u *store.User) error { u.Factors = local; return nil })
	require.NoError(t, err)
	assert.Equal(t, storetest.SampleFactors(), updated.Factors)
	got, err = users.UserByID(ctx, plain.ID)
	require.NoError(t, err)
	assert.Equal(t, updated, got)

	_, err = users.UpdateUser(ctx, withFactors.ID, func(u *store.User) error { u.Factors = store.Factors{}; return nil })
	require.NoError(t, err)
	assert.Nil(t, column(withFactors.ID), "removed: NULL again")

	// An import carries the factors.
	other := openTest(t, Options{}).Users()
	res, err := other.ImportUsers(ctx, []store.User{got})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Added)
	imported, err := other.UserByID(ctx, got.ID)
	require.NoError(t, err)
	assert.Equal(t, got, imported)
}

// Users and sessions stored before migration 4 (today's format otherwise)
// load with no factors, AAL "" and a zero AuthAt, and take them on; the
// migration can be undone.
func TestRowsBeforeSecondFactorsStillLoad(t *testing.T) {
	ctx := t.Context()
	db, err := Connect(ctx, pgtest.Schema(t), Options{Now: storetest.NewClock(t0).Now})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, withProvider(db.pool, func(p *goose.Provider) error {
		_, err := p.UpTo(ctx, 3)
		return err
	}))

	u := storetest.User(1, "old@example.com", store.RoleAdmin)
	_, err = db.pool.Exec(ctx, `INSERT INTO users (id, email, email_key, password_hash, first_name, last_name, role,
			created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.Email, store.EmailKey(u.Email), u.PasswordHash, u.FirstName, u.LastName, string(u.Role), u.CreatedAt, u.UpdatedAt)
	require.NoError(t, err)
	old := newSession(1, "alice")
	old.IdleExpiresAt = t0.Add(time.Hour + 125*time.Millisecond)
	_, err = db.pool.Exec(ctx, `INSERT INTO sessions (id, family, token_hash, user_id, created_at, expires_at,
			idle_expires_at, last_seen_at, ip, user_agent, rotated_at, prev_token_hash, prev_valid_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)`,
		old.ID, old.Family[:], old.TokenHash[:], old.UserID, old.CreatedAt, old.ExpiresAt, old.IdleExpiresAt,
		old.LastSeenAt, old.IP, old.UserAgent, old.RotatedAt)
	require.NoError(t, err)

	require.NoError(t, Migrate(ctx, db.pool))
	users, ss := db.Users(), db.Sessions()
	got, err := users.UserByEmail(ctx, u.Email)
	require.NoError(t, err)
	assert.Equal(t, u, got)
	assert.True(t, got.Factors.IsZero())
	s, err := ss.SessionByFamily(ctx, old.Family)
	require.NoError(t, err)
	storetest.EqualSession(t, old, s)
	assert.Equal(t, "", s.AAL)
	assert.True(t, s.AuthAt.IsZero())

	u.Factors = storetest.SampleFactors()
	_, err = users.UpdateUser(ctx, u.ID, func(v *store.User) error { v.Factors = u.Factors; return nil })
	require.NoError(t, err)
	got, err = users.UserByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, u, got)
	at := t0.Add(1500 * time.Millisecond)
	s, err = ss.SetSessionAuth(ctx, old.ID, store.AAL2, at)
	require.NoError(t, err)
	old.AAL, old.AuthAt = store.AAL2, at
	storetest.EqualSession(t, old, s)
	require.NoError(t, ss.PutChallenge(ctx, "k", []byte("c"), time.Minute))

	require.NoError(t, withProvider(db.pool, func(p *goose.Provider) error {
		_, err := p.DownTo(ctx, 3)
		return err
	}))
	var n int
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name IN ('factors', 'aal', 'auth_at')`).Scan(&n))
	assert.Zero(t, n)
	var challenges bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT to_regclass('challenges') IS NOT NULL`).Scan(&challenges))
	assert.False(t, challenges)
	var id string
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT id FROM sessions WHERE family = $1`, old.Family[:]).Scan(&id))
	assert.Equal(t, old.ID, id, "the rows stay")
}

// SetSessionAuth leaves the rest of the row as it was, NULLs "" and the
// zero time, and never touches an expired session.
func TestSetSessionAuthRow(t *testing.T) {
	db, ss, clk := openSessions(t)
	ctx := t.Context()
	s := newSession(1, "alice")
	s.AAL, s.AuthAt = store.AAL2, t0
	require.NoError(t, ss.CreateSession(ctx, s))
	got, err := ss.SetSessionAuth(ctx, s.ID, "", time.Time{})
	require.NoError(t, err)
	s.AAL, s.AuthAt = "", time.Time{}
	assert.Equal(t, s, got)
	var nulls bool
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT aal IS NULL AND auth_at IS NULL FROM sessions WHERE id = $1`,
		s.ID).Scan(&nulls))
	assert.True(t, nulls)

	clk.Set(s.ExpiresAt)
	_, err = ss.SetSessionAuth(ctx, s.ID, store.AAL1, clk.Now())
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	var aal *string
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT aal FROM sessions WHERE id = $1`, s.ID).Scan(&aal))
	assert.Nil(t, aal, "an expired session is not changed")
}

// Challenges: an expired one left in the table does not block its key and
// is removed by DeleteExpired (its own rows only counted as sessions'),
// and of parallel takes of one challenge exactly one gets it.
func TestChallengesRows(t *testing.T) {
	db, ss, clk := openSessions(t)
	ctx := t.Context()
	challengeRows := func() int {
		t.Helper()
		var n int
		require.NoError(t, db.pool.QueryRow(ctx, `SELECT count(*) FROM challenges`).Scan(&n))
		return n
	}
	require.NoError(t, ss.PutChallenge(ctx, "old", []byte("1"), time.Second))
	require.NoError(t, ss.PutChallenge(ctx, "gone", []byte("2"), time.Second))
	require.NoError(t, ss.PutChallenge(ctx, "live", []byte("3"), time.Hour))
	var expires time.Time
	require.NoError(t, db.pool.QueryRow(ctx, `SELECT expires_at FROM challenges WHERE key = 'old'`).Scan(&expires))
	assert.True(t, t0.Add(time.Second).Equal(expires), expires)

	clk.Add(time.Second)
	require.NoError(t, ss.PutChallenge(ctx, "old", []byte("new"), time.Minute), "an expired key is free")
	got, err := ss.TakeChallenge(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, []byte("new"), got)
	assert.Equal(t, 2, challengeRows())
	require.NoError(t, ss.CreateSession(ctx, newSession(1, "alice")))
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "no session expired")
	assert.Equal(t, 1, challengeRows(), "the expired challenge is gone")
	c, err := ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, c)

	const takers = 8
	var wg sync.WaitGroup
	results := make([]error, takers)
	for i := range takers {
		wg.Go(func() { _, results[i] = ss.TakeChallenge(ctx, "live") })
	}
	wg.Wait()
	won := 0
	for _, err := range results {
		if err == nil {
			won++
		} else {
			assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
		}
	}
	assert.Equal(t, 1, won)
	assert.Zero(t, challengeRows())
}
