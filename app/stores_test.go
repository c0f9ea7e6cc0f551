package app

import (
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
	storeredis "simpleapi/store/redis"
)

const testSecret = "stores-test-secret-0123456789abcdef"

// redisURL is the shared Redis under a key prefix of the test's own,
// emptied at the end.
func redisURL(t *testing.T) string { return testkit.RedisPrefixURL(t, "simpleapi-app-test") }

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
		`simpleapi_store_pool_timeouts_total{backend="redis"} 0`,
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
	pg := testkit.NewProxy(t, pgURL.Host)
	pgURL.Host = pg.Addr()
	redisU, err := url.Parse(redisURL(t))
	require.NoError(t, err)
	rd := testkit.NewProxy(t, redisU.Host)
	redisU.Host = rd.Addr()

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

	pg.Set(testkit.Freeze)
	start := time.Now()
	_, err = a.stores.users.UserByEmail(t.Context(), "nobody@example.com")
	took := time.Since(start)
	assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), "%v", err)
	assert.Less(t, took, backendTimeout+slack, "a PostgreSQL operation gives up at the deadline")
	assert.GreaterOrEqual(t, took, backendTimeout-slack, "it waited for a frozen database")
	pg.Set(testkit.Forward)
	require.Eventually(t, ready, 10*time.Second, 50*time.Millisecond)

	for _, frozen := range []struct {
		name     string
		backends []*testkit.Proxy
	}{
		{"PostgreSQL", []*testkit.Proxy{pg}},
		{"Redis", []*testkit.Proxy{rd}},
		{"both", []*testkit.Proxy{pg, rd}},
	} {
		for _, f := range frozen.backends {
			f.Set(testkit.Freeze)
		}
		code, took := readyz()
		assert.Equal(t, 503, code, frozen.name)
		assert.Less(t, took, backendTimeout+slack, "%s frozen: /readyz answers within the deadline", frozen.name)
		for _, f := range frozen.backends {
			f.Set(testkit.Forward)
		}
		require.Eventually(t, ready, 10*time.Second, 50*time.Millisecond, "%s back", frozen.name)
	}
	require.NoError(t, a.Close())
}

// A Cluster (REDIS_CLUSTER_ADDRS) and a Sentinel's primary
// (REDIS_SENTINEL_ADDRS) serve the Redis stores; /readyz follows the
// topology's health: 503 while a primary is lost and nothing has taken
// its place, 200 once a replica has, without a restart. The failed
// commands are counted by node.
func TestRedisTopologiesAndReadiness(t *testing.T) {
	const resumeWithin = 30 * time.Second // node timeout 2 s, sentinel down-after 1 s, plus the elections
	readyz := func(a *App) func() bool {
		return func() bool {
			rec := httptest.NewRecorder()
			a.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			return rec.Code == 200
		}
	}
	metricsText := func(a *App) string {
		rec := httptest.NewRecorder()
		a.Metrics().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}

	t.Run("cluster", func(t *testing.T) {
		cl := testkit.StartCluster(t)
		cfg := load(t, t.TempDir(), "AUTH_TYPE", "session_db_auth", "SESSION_STORE", "redis",
			"REDIS_CLUSTER_ADDRS", strings.Join(cl.Addrs(), ","), "REDIS_KEY_PREFIX", "app-test:",
			"SESSION_SECRET", testSecret)
		a, err := New(t.Context(), cfg, quiet())
		require.NoError(t, err)
		defer a.Close()
		assert.IsType(t, &storeredis.Sessions{}, a.SessionStore())
		assert.IsType(t, &storeredis.Limiter{}, a.stores.limiter)
		require.True(t, readyz(a)())

		primary := cl.Nodes[0]
		replica := cl.ReplicaOf(primary)
		require.NotNil(t, replica)
		primary.Kill()
		assert.False(t, readyz(a)(), "a primary lost")
		assert.Contains(t, metricsText(a), fmt.Sprintf(`simpleapi_store_node_errors_total{backend="redis",node=%q}`, primary.Addr()))
		require.Eventually(t, readyz(a), resumeWithin, 100*time.Millisecond, "its replica took over")

		// A primary and its replica lost: their slots have no owner.
		next := cl.Nodes[1]
		nextReplica := cl.ReplicaOf(next)
		require.NotNil(t, nextReplica)
		next.Kill()
		nextReplica.Kill()
		assert.False(t, readyz(a)())
	})

	t.Run("sentinel", func(t *testing.T) {
		se := testkit.StartSentinel(t)
		cfg := load(t, t.TempDir(), "AUTH_TYPE", "session_db_auth", "SESSION_STORE", "redis",
			"REDIS_SENTINEL_ADDRS", strings.Join(se.SentinelAddrs(), ","), "REDIS_SENTINEL_MASTER", testkit.SentinelMaster,
			"SESSION_SECRET", testSecret)
		a, err := New(t.Context(), cfg, quiet())
		require.NoError(t, err)
		defer a.Close()
		require.True(t, readyz(a)())
		se.Primary.Kill()
		assert.False(t, readyz(a)(), "the primary lost")
		assert.Contains(t, metricsText(a), `simpleapi_store_node_errors_total{backend="redis",node="sentinel:`+testkit.SentinelMaster+`"}`)
		require.Eventually(t, readyz(a), resumeWithin, 100*time.Millisecond, "the replica was promoted")
		se.Replica.Kill()
		assert.False(t, readyz(a)(), "no primary left")
	})
}

// REDIS_PASSWORD reaches the Cluster's nodes and never an error message.
func TestRedisPasswordNotShown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := load(t, t.TempDir(), "AUTH_TYPE", "session_db_auth", "SESSION_STORE", "redis",
		"REDIS_CLUSTER_ADDRS", addr, "REDIS_PASSWORD", "hunter2-password", "SESSION_SECRET", testSecret)
	_, err = New(t.Context(), cfg, quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)
	assert.NotContains(t, err.Error(), "hunter2")
}
