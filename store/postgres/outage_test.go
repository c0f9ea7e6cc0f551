package postgres

import (
	"context"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	"simpleapi/store/storetest"
)

// viaProxy returns dbURL with its host replaced by the address of a proxy
// in front of the database.
func viaProxy(t *testing.T, dbURL string) (*testkit.Proxy, string) {
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	p := testkit.NewProxy(t, u.Host)
	u.Host = p.Addr()
	return p, u.String()
}

// bound is the longest an operation may take when the database does not
// answer: the default deadline, which every test here runs with, plus a
// margin for the race detector on a busy machine.
const bound = DefaultTimeout + 500*time.Millisecond

// Cut, stalled or frozen, the database costs every operation at most the
// deadline: each returns EUNAVAILABLE (a 503) within bound, all of them
// at once, and service resumes when the database is back.
func TestOutageIsUnavailableAndRecovers(t *testing.T) {
	p, dbURL := viaProxy(t, pgtest.Schema(t))
	ctx := t.Context()
	db, err := Open(ctx, dbURL, Options{})
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, db.opts.Timeout, "the default deadline, the Redis store's too")
	users, sessions := db.Users(), db.Sessions()
	admin := storetest.User(1, "admin@example.com", store.RoleAdmin)
	require.NoError(t, users.CreateUser(ctx, admin))
	s := storetest.Session(1, admin.ID, time.Now())
	require.NoError(t, sessions.CreateSession(ctx, s))

	// Every operation of both stores, on rows that exist.
	ops := map[string]func() error{
		"ping":          func() error { return users.Ping(ctx) },
		"create_user":   func() error { return users.CreateUser(ctx, storetest.User(2, "b@example.com", store.RoleUser)) },
		"user_by_id":    func() error { _, err := users.UserByID(ctx, admin.ID); return err },
		"user_by_email": func() error { _, err := users.UserByEmail(ctx, admin.Email); return err },
		"list_users":    func() error { _, err := users.ListUsers(ctx); return err },
		"count_users":   func() error { _, err := users.CountUsers(ctx); return err },
		"update_user": func() error {
			_, err := users.UpdateUser(ctx, admin.ID, func(u *store.User) error { return nil })
			return err
		},
		"delete_user":       func() error { return users.DeleteUser(ctx, admin.ID) },
		"session_ping":      func() error { return sessions.Ping(ctx) },
		"create_session":    func() error { return sessions.CreateSession(ctx, storetest.Session(2, admin.ID, time.Now())) },
		"session_by_family": func() error { _, err := sessions.SessionByFamily(ctx, s.Family); return err },
		"session_by_id":     func() error { _, err := sessions.SessionByID(ctx, s.ID); return err },
		"list_sessions":     func() error { _, err := sessions.ListSessions(ctx, admin.ID); return err },
		"touch_session":     func() error { return sessions.TouchSession(ctx, s.ID, time.Now(), time.Time{}) },
		"rotate_token": func() error {
			_, err := sessions.RotateToken(ctx, s.ID, s.TokenHash,
				store.Rotation{Family: s.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: time.Now()})
			return err
		},
		"set_session_auth": func() error {
			_, err := sessions.SetSessionAuth(ctx, s.ID, store.AAL2, time.Now())
			return err
		},
		"put_challenge":        func() error { return sessions.PutChallenge(ctx, "k", []byte("c"), time.Minute) },
		"take_challenge":       func() error { _, err := sessions.TakeChallenge(ctx, "k"); return err },
		"delete_session":       func() error { return sessions.DeleteSession(ctx, s.ID) },
		"delete_user_sessions": func() error { _, err := sessions.DeleteUserSessions(ctx, admin.ID, ""); return err },
		"delete_expired":       func() error { _, err := sessions.DeleteExpired(ctx); return err },
		"count_sessions":       func() error { _, err := sessions.CountSessions(ctx); return err },
	}
	for _, mode := range []testkit.Mode{testkit.Cut, testkit.Stall, testkit.Freeze} {
		p.Set(mode)
		// All at once, as requests would come: waiting for a pooled
		// connection or behind another read counts against the deadline.
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		for name, op := range ops {
			wg.Go(func() {
				start := time.Now()
				err := op()
				took := time.Since(start)
				assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), "%s while %s: %v", name, mode, err)
				assert.Equal(t, "Service unavailable", store.ErrorMessage(err), "%s while %s", name, mode)
				assert.Less(t, took, bound, "%s while %s", name, mode)
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
			})
		}
		wg.Wait()
		t.Logf("%s: the slowest operation took %v", mode, slowest.Round(time.Millisecond))
		p.Set(testkit.Forward)
		// Service resumes by itself: the pool drops the broken
		// connections and dials new ones.
		var err error
		for range 3 {
			if err = users.Ping(ctx); err == nil {
				break
			}
		}
		require.NoError(t, err, "after %s", mode)
		got, err := users.UserByID(ctx, admin.ID)
		require.NoError(t, err)
		assert.Equal(t, admin, got)
	}

	// Nothing the outages started is left running once the store and the
	// proxy's connections are closed.
	db.Close()
	p.Close()
	// Goroutines told to stop may still be finishing a network call;
	// they get a bounded time to return.
	assert.Eventually(t, func() bool { return pgxGoroutines() == "" }, bound, 10*time.Millisecond,
		"pgx goroutines left running")
	if left := pgxGoroutines(); left != "" {
		t.Log(left)
	}
}

// pgxGoroutines returns the stacks of the running goroutines that are in
// pgx or its pool, "" when there are none.
func pgxGoroutines() string {
	buf := make([]byte, 1<<20)
	var left []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "github.com/jackc/") {
			left = append(left, g)
		}
	}
	return strings.Join(left, "\n\n")
}

// A query that waits on a lock longer than the timeout is cancelled and
// reported as unavailable, and the lock holder's work is unaffected.
func TestLockWaitIsBounded(t *testing.T) {
	dbURL := pgtest.Schema(t)
	ctx := t.Context()
	db, err := Open(ctx, dbURL, Options{})
	require.NoError(t, err)
	defer db.Close()
	u := storetest.User(1, "a@example.com", store.RoleUser)
	require.NoError(t, db.Users().CreateUser(ctx, u))

	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, u.ID)
	require.NoError(t, err)

	start := time.Now()
	_, err = db.Users().UpdateUser(ctx, u.ID, func(u *store.User) error { u.FirstName = nil; return nil })
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), err)
	assert.Less(t, time.Since(start), bound)
	require.NoError(t, tx.Commit(ctx))

	got, err := db.Users().UpdateUser(ctx, u.ID, func(u *store.User) error { u.FirstName = nil; return nil })
	require.NoError(t, err)
	assert.Nil(t, got.FirstName)
}

// A database that cannot be reached at start fails Open in bounded time.
func TestOpenUnreachable(t *testing.T) {
	p, dbURL := viaProxy(t, pgtest.BaseURL())
	p.Set(testkit.Stall)
	start := time.Now()
	_, err := Open(t.Context(), dbURL, Options{})
	require.Error(t, err)
	assert.Less(t, time.Since(start), bound)
}
