package tests

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/postgres/pgtest"
)

// burstStores are the session stores, each as the settings that pick it.
func burstStores(t *testing.T) map[string][]string {
	return map[string][]string{
		"memory":   {"AUTH_TYPE", "session_auth"},
		"jsonfile": {"AUTH_TYPE", "session_db_auth"},
		"postgres": {"AUTH_TYPE", "session_db_auth", "SESSION_STORE", "postgres", "DATABASE_URL", pgtest.Schema(t),
			"SESSION_SECRET", sharedSecret},
		"redis": {"AUTH_TYPE", "session_db_auth", "SESSION_STORE", "redis", "SESSION_SECRET", sharedSecret,
			"REDIS_URL", testkit.RedisPrefixURL(t, "simpleapi-e2e")},
	}
}

// burstResult is what one burst of parallel requests got back.
type burstResult struct {
	statuses   map[int]int
	successors []string // the cookies set, one per rotation
}

// sendBurst sends n requests at once, request i through send, which returns
// its status and the session cookie it set ("" for none), and tallies
// them. A request that fails in transport (send's error) is not counted,
// and fails the test.
func sendBurst(t *testing.T, n int, send func(i int) (status int, cookie string, err error)) burstResult {
	res := burstResult{statuses: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs atomic.Int64
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			status, cookie, err := send(i)
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			res.statuses[status]++
			if cookie != "" {
				res.successors = append(res.successors, cookie)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Zero(t, errs.Load(), "transport errors")
	return res
}

// getMe is a burst's request to s: GET /api/v1/users/me with cookie c.
// It returns the status and the value of the session cookie set, if any.
func (s *server) getMe(c *http.Cookie) (int, string, error) {
	rec := s.do("GET", "/api/v1/users/me", "", withCookie(c))
	if next := cookieOf(s.t, rec); next != nil {
		return rec.Code, next.Value, nil
	}
	return rec.Code, "", nil
}

// TestRotationBursts: 64 parallel requests with one cookie, 20 times, on
// every session store. Every other burst lands at a random millisecond
// just after the token is due; the bursts between carry the replaced and
// the new token half and half, at a random point inside the grace period.
// Every answer is 200, each rotation makes exactly one successor, and no
// request is taken for a replay.
func TestRotationBursts(t *testing.T) {
	for name, kv := range burstStores(t) {
		t.Run(name, func(t *testing.T) {
			s := newSessionServer(t, append(kv, "SESSION_ROTATE_INTERVAL", "2", "SESSION_ROTATE_GRACE", "1")...)
			current := s.adminCookie().Value
			var replaced string
			burst := func(cookies ...string) burstResult {
				return sendBurst(t, 64, func(i int) (int, string, error) {
					return s.getMe(&http.Cookie{Name: "_my_session_id", Value: cookies[i%len(cookies)]})
				})
			}
			for round := range 10 {
				// Due: the token is 2 s old, plus a random part of a second.
				s.clock.AdvanceBy(2*time.Second + time.Duration(rand.IntN(1000))*time.Millisecond)
				res := burst(current)
				assert.Equal(t, map[int]int{200: 64}, res.statuses, "round %d, at rotation", round)
				require.Len(t, res.successors, 1, "round %d: exactly one successor", round)
				replaced, current = current, res.successors[0]

				// In flight: the replaced token within its grace period,
				// beside the new one.
				s.clock.AdvanceBy(time.Duration(rand.IntN(900)) * time.Millisecond)
				res = burst(replaced, current)
				assert.Equal(t, map[int]int{200: 64}, res.statuses, "round %d, within the grace period", round)
				assert.Empty(t, res.successors, "round %d: nothing due", round)
			}
			assert.Empty(t, s.auditEvents("session_token_reused"))
			rec := s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(&http.Cookie{Name: "_my_session_id", Value: current}))
			require.Equal(t, 200, rec.Code)
			assert.Len(t, decodeSessions(t, rec.Body.Bytes()), 1, "one session throughout")
		})
	}
}

// TestRotationBurstsTwoInstances: the same on two instances sharing
// PostgreSQL and each kind of Redis, on the real clock, each burst spread
// over both.
func TestRotationBurstsTwoInstances(t *testing.T) {
	for _, top := range redisTopologies {
		t.Run(top.name, func(t *testing.T) { testRotationBurstsTwoInstances(t, top.settings(t)) })
	}
}

func testRotationBurstsTwoInstances(t *testing.T, redis map[string]string) {
	databaseURL := pgtest.Schema(t)
	var a, b *process
	var wg sync.WaitGroup
	for _, p := range []**process{&a, &b} {
		env := sharedEnvOn(t, databaseURL, redis)
		env["SESSION_ROTATE_INTERVAL"], env["SESSION_ROTATE_GRACE"] = "2", "1"
		wg.Go(func() { *p = startProcess(t, env) })
	}
	wg.Wait()
	require.NotNil(t, a)
	require.NotNil(t, b)
	pair := []*process{a, b}

	burst := func(cookies ...string) burstResult {
		return sendBurst(t, 64, func(i int) (int, string, error) {
			r, err := tryCall(pair[i%2], "GET", "/api/v1/users/me", cookies[(i/2)%len(cookies)], "")
			return r.status, r.sessionCookie(), err
		})
	}

	current := loginOn(t, a, adminEmail, adminPassword)
	rotated := time.Now()
	for round := range 10 {
		// Due 2 s after the latest rotation; land at a random point of
		// the next second.
		time.Sleep(time.Until(rotated.Add(2*time.Second + time.Duration(rand.IntN(900))*time.Millisecond)))
		res := burst(current)
		rotated = time.Now()
		assert.Equal(t, map[int]int{200: 64}, res.statuses, "round %d, at rotation", round)
		require.Len(t, res.successors, 1, "round %d: exactly one successor", round)
		replaced := current
		current = res.successors[0]

		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		res = burst(replaced, current)
		assert.Equal(t, map[int]int{200: 64}, res.statuses, "round %d, within the grace period", round)
		assert.Empty(t, res.successors, "round %d: nothing due", round)
	}
	r := call(t, b, "GET", "/api/v1/auth_session/sessions", current, "")
	require.Equal(t, 200, r.status, r.body)
	assert.Len(t, decodeSessions(t, []byte(r.body)), 1, "one session throughout")
}
