package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	storeredis "simpleapi/store/redis"
)

const testSecret = "stores-test-secret-0123456789abcdef"

// redisURL is the shared Redis under a key prefix of the test's own,
// emptied at the end.
func redisURL(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "simpleapi-app-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		c, _, err := storeredis.Open("redis://127.0.0.1:6379/0")
		require.NoError(t, err)
		defer c.Close()
		keys, err := c.Keys(context.Background(), prefix+"*").Result()
		require.NoError(t, err)
		if len(keys) > 0 {
			require.NoError(t, c.Del(context.Background(), keys...).Err())
		}
	})
	return "redis://127.0.0.1:6379/0?key_prefix=" + prefix
}

// Users in PostgreSQL and sessions in Redis: nothing is kept in DATA_DIR,
// the session store is Redis's, and readiness asks every backend.
func TestSharedStores(t *testing.T) {
	dir := t.TempDir()
	cfg := load(t, dir, "USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(t),
		"SESSION_STORE", "redis", "REDIS_URL", redisURL(t), "SESSION_SECRET", testSecret,
		"ADMIN_EMAIL", "admin@example.com", "ADMIN_PASSWORD", "admin-password-1")
	a, err := New(t.Context(), cfg, quiet())
	require.NoError(t, err)
	defer a.Close()
	assert.IsType(t, &storeredis.Sessions{}, a.SessionStore())
	assert.IsType(t, &storeredis.Limiter{}, a.stores.limiter, "login limits shared when REDIS_URL is set")
	require.NoError(t, a.stores.ready(t.Context()))
	rec := httptest.NewRecorder()
	a.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`simpleapi_store_pool_connections{backend="postgres",state="idle"}`,
		`simpleapi_store_pool_connections{backend="redis",state="in_use"}`,
		`simpleapi_store_operation_seconds_count{backend="postgres",operation=`,
		`simpleapi_store_operation_seconds_count{backend="redis",operation="delete_expired"}`,
	} {
		assert.Contains(t, rec.Body.String(), want)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing in DATA_DIR")
	require.NoError(t, a.Close())
}

// A Redis that does not answer stops start-up, naming its address but not
// the URL's password.
func TestUnreachableRedisRefusedAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := load(t, t.TempDir(), "AUTH_TYPE", "session_db_auth", "SESSION_STORE", "redis",
		"REDIS_URL", fmt.Sprintf("redis://:hunter2-password@%s/0", addr), "SESSION_SECRET", testSecret)
	_, err = New(t.Context(), cfg, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
	assert.NotContains(t, err.Error(), "hunter2")
}

// freezer forwards a port of its own to target. Frozen, it still accepts
// connections and keeps every one open, but forwards nothing either way:
// a backend that hangs.
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func startFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.forward(c)
		}
	}()
	t.Cleanup(func() {
		f.frozen.Store(false)
		ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

func (f *freezer) forward(c net.Conn) {
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		c.Close()
		return
	}
	f.mu.Lock()
	f.conns = append(f.conns, c, up)
	f.mu.Unlock()
	go f.pipe(up, c)
	f.pipe(c, up)
}

// pipe copies src to dst, holding what it reads while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && f.frozen.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// One deadline bounds PostgreSQL and Redis alike, the Redis store's own
// (2 s). With backends frozen (connections open, no answer), a PostgreSQL
// operation gives up after it rather than after the store's default, and
// /readyz answers 503 within it however many backends are frozen (each
// pinged once, all at once), then 200 again once they answer.
func TestFrozenBackendsAnswerWithinTheDeadline(t *testing.T) {
	require.Equal(t, 2*time.Second, backendTimeout)
	require.Equal(t, storeredis.OpTimeout, backendTimeout)

	pgURL, err := url.Parse(pgtest.Schema(t))
	require.NoError(t, err)
	pg := startFreezer(t, pgURL.Host)
	pgURL.Host = pg.addr()
	redisU, err := url.Parse(redisURL(t))
	require.NoError(t, err)
	rd := startFreezer(t, redisU.Host)
	redisU.Host = rd.addr()

	cfg := load(t, t.TempDir(), "USER_STORE", "postgres", "DATABASE_URL", pgURL.String(),
		"SESSION_STORE", "redis", "REDIS_URL", redisU.String(), "SESSION_SECRET", testSecret)
	a, err := New(t.Context(), cfg, quiet())
	require.NoError(t, err)
	h := a.Handler()
	readyz := func() (int, time.Duration) {
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, time.Since(start)
	}
	ready := func() bool { code, _ := readyz(); return code == 200 }
	require.True(t, ready())
	const slack = 500 * time.Millisecond

	pg.frozen.Store(true)
	start := time.Now()
	_, err = a.stores.users.UserByEmail(t.Context(), "nobody@example.com")
	took := time.Since(start)
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), "%v", err)
	assert.Less(t, took, backendTimeout+slack, "a PostgreSQL operation gives up at the deadline")
	assert.GreaterOrEqual(t, took, backendTimeout-slack, "it waited for a frozen database")
	pg.frozen.Store(false)
	require.Eventually(t, ready, 10*time.Second, 50*time.Millisecond)

	for _, frozen := range []struct {
		name     string
		backends []*freezer
	}{
		{"PostgreSQL", []*freezer{pg}},
		{"Redis", []*freezer{rd}},
		{"both", []*freezer{pg, rd}},
	} {
		for _, f := range frozen.backends {
			f.frozen.Store(true)
		}
		code, took := readyz()
		assert.Equal(t, 503, code, frozen.name)
		assert.Less(t, took, backendTimeout+slack, "%s frozen: /readyz answers within the deadline", frozen.name)
		for _, f := range frozen.backends {
			f.frozen.Store(false)
		}
		require.Eventually(t, ready, 10*time.Second, 50*time.Millisecond, "%s back", frozen.name)
	}
	require.NoError(t, a.Close())
}
