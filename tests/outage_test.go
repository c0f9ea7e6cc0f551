package tests

import (
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/postgres/pgtest"
)

// statuses records every status the test saw, to check that none was a
// 500.
type statuses struct {
	mu   sync.Mutex
	seen []int
}

func (s *statuses) add(r httpResult) httpResult {
	s.mu.Lock()
	s.seen = append(s.seen, r.status)
	s.mu.Unlock()
	return r
}

// Redis and PostgreSQL go away during traffic and come back: the API
// answers 503 (never 500, never a hang), /readyz says so without naming
// anything secret, and service resumes by itself.
func TestBackendOutagesThroughTheAPI(t *testing.T) {
	rs := testkit.StartRedis(t)
	schemaURL, err := url.Parse(pgtest.Schema(t))
	require.NoError(t, err)
	pg := testkit.NewProxy(t, schemaURL.Host)
	schemaURL.Host = pg.Addr()
	schemaURL.User = url.UserPassword("postgres", "not-shown-anywhere")
	env := sharedEnv(t, schemaURL.String(), rs.URL())
	p := startProcess(t, env)

	var seen statuses
	get := func(path, cookie string) httpResult {
		start := time.Now()
		r := seen.add(call(t, p, "GET", path, cookie, ""))
		assert.Less(t, time.Since(start), 8*time.Second, "bounded: %s", path)
		return r
	}
	login := func() httpResult {
		return seen.add(call(t, p, "POST", "/api/v1/auth_session/login", "",
			fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, adminPassword)))
	}
	unavailable := func(r httpResult, what string) {
		t.Helper()
		assert.Equal(t, 503, r.status, what)
		assert.JSONEq(t, `{"error":"Service unavailable"}`, r.body, what)
	}
	notReady := func(what string) {
		t.Helper()
		r := get("/readyz", "")
		assert.Equal(t, 503, r.status, what)
		for _, secret := range []string{"not-shown-anywhere", schemaURL.Host, fmt.Sprint(rs.Port()), sharedSecret} {
			assert.NotContains(t, r.body, secret, what)
		}
	}

	cookie := loginOn(t, p, adminEmail, adminPassword)
	require.Equal(t, 200, get("/api/v1/users/me", cookie).status)
	require.Equal(t, 200, get("/readyz", "").status)

	// Redis away: sessions and login limits cannot be read.
	rs.Stop()
	unavailable(get("/api/v1/users/me", cookie), "session lookup, Redis down")
	unavailable(login(), "login, Redis down")
	notReady("Redis down")
	assert.Equal(t, 200, get("/healthz", "").status, "the process itself is fine")

	// Back, empty: the old session is gone, a new login works.
	rs.Start()
	waitFor(t, func() bool { return get("/readyz", "").status == 200 })
	assert.Equal(t, 403, get("/api/v1/users/me", cookie).status)
	r := login()
	require.Equal(t, 200, r.status, r.body)
	cookie = loginOn(t, p, adminEmail, adminPassword)

	// PostgreSQL away: the caller is read fresh from the users store.
	pg.Set(testkit.Refuse)
	unavailable(get("/api/v1/users/me", cookie), "PostgreSQL down")
	unavailable(get("/api/v1/users", cookie), "PostgreSQL down")
	notReady("PostgreSQL down")
	pg.Set(testkit.Forward)
	waitFor(t, func() bool { return get("/readyz", "").status == 200 })
	assert.Equal(t, 200, get("/api/v1/users/me", cookie).status, "recovered")

	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.NotContains(t, seen.seen, 500)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done // the log is complete and no longer written
	assert.NotContains(t, p.stderr.String(), "not-shown-anywhere", "no secret in a log")
}
