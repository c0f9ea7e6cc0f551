package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/postgres/pgtest"
)

const sharedSecret = "multi-instance-secret-0123456789abcdef"

// sharedEnv is the environment of one instance of a deployment whose
// users are in PostgreSQL (databaseURL) and sessions and login limits in
// Redis (redisURL). Every instance has its own DATA_DIR: nothing on disk
// is shared.
func sharedEnv(t *testing.T, databaseURL, redisURL string) map[string]string {
	return sharedEnvOn(t, databaseURL, map[string]string{"REDIS_URL": redisURL})
}

// sharedEnvOn is sharedEnv with the Redis that the settings redis name.
func sharedEnvOn(t *testing.T, databaseURL string, redis map[string]string) map[string]string {
	env := testEnv(t.TempDir())
	env["AUTH_TYPE"] = "session_db_auth"
	env["USER_STORE"] = "postgres"
	env["DATABASE_URL"] = databaseURL
	env["SESSION_STORE"] = "redis"
	maps.Copy(env, redis)
	env["SESSION_SECRET"] = sharedSecret
	env["LOGIN_BASE_DELAY"] = "60" // a throttled account stays so for the whole test
	return env
}

// redisTopologies are the kinds of Redis a deployment may share: each
// gives the settings that name it, with a key prefix of the test's own.
// The Cluster and the Sentinel setup are the test binary's (testkit's
// shared ones).
var redisTopologies = []struct {
	name     string
	settings func(t *testing.T) map[string]string
}{
	{"server", func(t *testing.T) map[string]string {
		return map[string]string{"REDIS_URL": testkit.RedisPrefixURL(t, "simpleapi-e2e")}
	}},
	{"cluster", func(t *testing.T) map[string]string {
		return map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(testkit.SharedCluster(t).Addrs(), ","),
			"REDIS_KEY_PREFIX": testkit.TopologyPrefix("simpleapi-e2e")}
	}},
	{"sentinel", func(t *testing.T) map[string]string {
		return map[string]string{"REDIS_SENTINEL_ADDRS": strings.Join(testkit.SharedSentinel(t).SentinelAddrs(), ","),
			"REDIS_SENTINEL_MASTER": testkit.SentinelMaster, "REDIS_KEY_PREFIX": testkit.TopologyPrefix("simpleapi-e2e")}
	}},
}

// startPair starts instances A and B of one deployment on the Redis that
// the settings redis name.
func startPair(t *testing.T, redis map[string]string) (a, b *process) {
	databaseURL := pgtest.Schema(t)
	// Started together: migrations and the admin bootstrap run at once.
	var wg sync.WaitGroup
	envA, envB := sharedEnvOn(t, databaseURL, redis), sharedEnvOn(t, databaseURL, redis)
	wg.Go(func() { a = startProcess(t, envA) })
	wg.Go(func() { b = startProcess(t, envB) })
	wg.Wait()
	require.NotNil(t, a)
	require.NotNil(t, b)
	return a, b
}

// httpResult is one answer of a server process.
type httpResult struct {
	status int
	body   string
	header http.Header
}

// call sends a request to p with cookie ("" for none) and a JSON body
// ("" for none).
func call(t testing.TB, p *process, method, path, cookie, body string) httpResult {
	t.Helper()
	r, err := tryCall(p, method, path, cookie, body)
	require.NoError(t, err)
	return r
}

func tryCall(p *process, method, path, cookie, body string) (httpResult, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url(path), rd)
	if err != nil {
		return httpResult{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: string(b), header: resp.Header}, err
}

// loginOn signs in on p and returns the session cookie ("name=value").
func loginOn(t testing.TB, p *process, email, password string) string {
	t.Helper()
	r := call(t, p, "POST", "/api/v1/auth_session/login", "",
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
	require.Equal(t, 200, r.status, r.body)
	c := r.sessionCookie()
	if c == "" {
		t.Fatal("no session cookie")
	}
	return c
}

// sessionCookie returns the session cookie r set, as a Cookie header
// gives it ("name=value"), or "" for none.
func (r httpResult) sessionCookie() string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "_my_session_id" {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}

func userID(t *testing.T, r httpResult) string {
	t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &u), r.body)
	return u.ID
}

func createOn(t *testing.T, p *process, cookie, email, role string) string {
	t.Helper()
	r := call(t, p, "POST", "/api/v1/users", cookie,
		fmt.Sprintf(`{"email":%q,"password":"user-password-1","role":%q}`, email, role))
	require.Equal(t, 201, r.status, r.body)
	return userID(t, r)
}

// Two instances share PostgreSQL and each kind of Redis.
func TestMultiInstance(t *testing.T) {
	for _, top := range redisTopologies {
		t.Run(top.name, func(t *testing.T) { testMultiInstance(t, top.settings(t)) })
	}
}

func testMultiInstance(t *testing.T, redis map[string]string) {
	a, b := startPair(t, redis)
	admin := loginOn(t, a, adminEmail, adminPassword)

	t.Run("login on A, cookie on B", func(t *testing.T) {
		r := call(t, b, "GET", "/api/v1/users/me", admin, "")
		require.Equal(t, 200, r.status, r.body)
		assert.Contains(t, r.body, adminEmail)
	})

	t.Run("user created on A is read on B", func(t *testing.T) {
		id := createOn(t, a, admin, "created-on-a@example.com", "user")
		r := call(t, b, "GET", "/api/v1/users/"+id, admin, "")
		require.Equal(t, 200, r.status, r.body)
		assert.Contains(t, r.body, "created-on-a@example.com")
	})

	t.Run("logout on B ends the session on A", func(t *testing.T) {
		createOn(t, a, admin, "bob@example.com", "user")
		bob := loginOn(t, a, "bob@example.com", "user-password-1")
		require.Equal(t, 200, call(t, a, "GET", "/api/v1/users/me", bob, "").status)
		r := call(t, b, "DELETE", "/api/v1/auth_session/logout", bob, "")
		require.Equal(t, 200, r.status, r.body)
		assert.Equal(t, 403, call(t, a, "GET", "/api/v1/users/me", bob, "").status)
	})

	t.Run("admin revokes on A, refused on B", func(t *testing.T) {
		id := createOn(t, a, admin, "carol@example.com", "user")
		carol := loginOn(t, b, "carol@example.com", "user-password-1")
		require.Equal(t, 200, call(t, b, "GET", "/api/v1/users/me", carol, "").status)
		r := call(t, a, "DELETE", "/api/v1/users/"+id+"/sessions", admin, "")
		require.Equal(t, 200, r.status, r.body)
		assert.JSONEq(t, `{"revoked":1}`, r.body)
		assert.Equal(t, 403, call(t, b, "GET", "/api/v1/users/me", carol, "").status)
	})

	t.Run("failed logins over A and B throttle the account on both", func(t *testing.T) {
		createOn(t, a, admin, "dave@example.com", "user")
		wrong := `{"email":"dave@example.com","password":"wrong-password"}`
		var statuses []int
		for i := range 6 {
			p := a
			if i%2 == 1 {
				p = b
			}
			statuses = append(statuses, call(t, p, "POST", "/api/v1/auth_session/login", "", wrong).status)
		}
		// LOGIN_MAX_FAILURES=5 counted once for both: the sixth waits.
		assert.Equal(t, []int{401, 401, 401, 401, 401, 429}, statuses)
		right := `{"email":"dave@example.com","password":"user-password-1"}`
		for _, p := range []*process{a, b} {
			r := call(t, p, "POST", "/api/v1/auth_session/login", "", right)
			assert.Equal(t, 429, r.status, r.body)
			assert.NotEmpty(t, r.header.Get("Retry-After"))
		}
	})

	t.Run("50 parallel creates of one email across A and B", func(t *testing.T) {
		var created, conflicts atomic.Int32
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				p := a
				if i%2 == 1 {
					p = b
				}
				r, err := tryCall(p, "POST", "/api/v1/users", admin,
					`{"email":"same@example.com","password":"user-password-1"}`)
				if !assert.NoError(t, err) {
					return
				}
				switch r.status {
				case 201:
					created.Add(1)
				case 409:
					conflicts.Add(1)
					assert.JSONEq(t, `{"error":"email already registered"}`, r.body)
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int32(1), created.Load())
		assert.Equal(t, int32(49), conflicts.Load())
	})

	t.Run("parallel demotion of the last two admins", func(t *testing.T) {
		for round := range 3 {
			// Two admins only: the bootstrap admin and a fresh one.
			email := fmt.Sprintf("admin-%d@example.com", round)
			second := createOn(t, a, admin, email, "admin")
			first := userID(t, call(t, a, "GET", "/api/v1/users/me", admin, ""))
			secondCookie := loginOn(t, b, email, "user-password-1")
			var wg sync.WaitGroup
			var results [2]httpResult
			wg.Go(func() { results[0] = call(t, a, "PUT", "/api/v1/users/"+second, admin, `{"role":"user"}`) })
			wg.Go(func() { results[1] = call(t, b, "PUT", "/api/v1/users/"+first, secondCookie, `{"role":"user"}`) })
			wg.Wait()
			ok := 0
			for _, r := range results {
				switch r.status {
				case 200:
					ok++
				case 409:
					assert.JSONEq(t, `{"error":"last admin"}`, r.body)
				case 403: // its caller was demoted first
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
			}
			assert.Equal(t, 1, ok, "exactly one demotion")
			// Whoever is still admin lists the users: one admin remains.
			lister := admin
			if results[1].status == 200 {
				lister = secondCookie
			}
			r := call(t, a, "GET", "/api/v1/users", lister, "")
			require.Equal(t, 200, r.status, r.body)
			assert.Equal(t, 1, strings.Count(r.body, `"role":"admin"`), r.body)
			if results[1].status == 200 {
				// Restore the bootstrap admin for the next round.
				require.Equal(t, 200, call(t, b, "PUT", "/api/v1/users/"+first, secondCookie, `{"role":"admin"}`).status)
				require.Equal(t, 200, call(t, b, "PUT", "/api/v1/users/"+second, secondCookie, `{"role":"user"}`).status)
				admin = loginOn(t, a, adminEmail, adminPassword)
			}
		}
	})

	t.Run("kill -9 of A during a write storm", func(t *testing.T) {
		var mu sync.Mutex
		var acked []string
		var bErrors atomic.Int32
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					p := a
					if w%2 == 1 {
						p = b
					}
					email := fmt.Sprintf("storm-%d-%d@example.com", w, i)
					r, err := tryCall(p, "POST", "/api/v1/users", admin,
						fmt.Sprintf(`{"email":%q,"password":"user-password-1"}`, email))
					if p == b && (err != nil || r.status != 201) {
						bErrors.Add(1)
					}
					if err == nil && r.status == 201 {
						mu.Lock()
						acked = append(acked, email)
						mu.Unlock()
					}
				}
			})
		}
		// Let writes land on both, then kill A without warning.
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 40 })
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
		<-a.done
		mu.Lock()
		atKill := len(acked)
		mu.Unlock()
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= atKill+40 })
		close(stop)
		wg.Wait()
		assert.Zero(t, bErrors.Load(), "B kept serving")

		r := call(t, b, "GET", "/api/v1/users", admin, "")
		require.Equal(t, 200, r.status, r.body)
		for _, email := range acked {
			assert.Contains(t, r.body, `"`+email+`"`, "acknowledged write lost")
		}
	})
}

// waitFor polls cond (every 10ms, at most 30s): it waits for other
// processes, not for a clock.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "condition not reached")
		time.Sleep(10 * time.Millisecond)
	}
}

// With a shared session store every instance must sign cookies with the
// same secret: start-up refuses to generate one of its own.
func TestSharedSessionsNeedTheSecret(t *testing.T) {
	env := sharedEnv(t, "postgres://127.0.0.1:5432/test", "redis://127.0.0.1:6379/0")
	delete(env, "SESSION_SECRET")
	code, _, stderr := command(t, env, "", "serve")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "SESSION_SECRET")
}
