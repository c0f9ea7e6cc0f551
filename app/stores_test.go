package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
