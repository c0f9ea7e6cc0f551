package tests

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
)

// The session store on a Redis that loses its primary or moves slots
// while 8 clients sign in, read and sign out on two instances. What
// docs/session-store.md reports ("Failover, measured") comes from these
// tests' logs.

// traffic is 8 clients, each with an account of its own, signing in,
// reading /users/me and signing out in a loop over two instances.
type traffic struct {
	pair  [2]*process
	users []string

	mu       sync.Mutex
	answers  []answer
	kept     []kept // sessions left signed in, to check later
	outs     []kept // sessions signed out, to check later
	falseOK  []string
	stop     chan struct{}
	wg       sync.WaitGroup
	cycles   []int // per client
	errCount int
}

// answer is one request's outcome: status 0 is no answer at all.
type answer struct {
	at     time.Time // when it came back
	what   string    // login, me, logout
	status int
}

// kept is a session and when its sign-in (or sign-out) was acknowledged.
type kept struct {
	cookie string
	at     time.Time
}

const trafficClients = 8

// startTraffic creates the accounts and starts the clients.
func startTraffic(t *testing.T, a, b *process) *traffic {
	tr := &traffic{pair: [2]*process{a, b}, stop: make(chan struct{}), cycles: make([]int, trafficClients)}
	admin := loginOn(t, a, adminEmail, adminPassword)
	for i := range trafficClients {
		email := fmt.Sprintf("client-%d@example.com", i)
		createOn(t, a, admin, email, "user")
		tr.users = append(tr.users, email)
	}
	for i := range trafficClients {
		tr.wg.Go(func() { tr.client(t, i) })
	}
	return tr
}

func (tr *traffic) record(what string, r httpResult, err error) httpResult {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	status := r.status
	if err != nil {
		status = 0
		tr.errCount++
	}
	tr.answers = append(tr.answers, answer{at: time.Now(), what: what, status: status})
	return r
}

// client i signs in, reads and signs out until stopped; every third
// session stays signed in. A sign-out answered 200 must end the session
// at once: a read that still gets 200 is a false success.
func (tr *traffic) client(t *testing.T, i int) {
	login := fmt.Sprintf(`{"email":%q,"password":"user-password-1"}`, tr.users[i])
	for n := 0; ; n++ {
		select {
		case <-tr.stop:
			return
		default:
		}
		p := tr.pair[n%2]
		r, err := tryCall(p, "POST", "/api/v1/auth_session/login", "", login)
		tr.record("login", r, err)
		cookie := r.sessionCookie()
		if err != nil || r.status != 200 || cookie == "" {
			continue
		}
		ackedAt := time.Now()
		r, err = tryCall(tr.pair[(n+1)%2], "GET", "/api/v1/users/me", cookie, "")
		tr.record("me", r, err)
		if n%3 == 2 {
			tr.mu.Lock()
			tr.kept = append(tr.kept, kept{cookie, ackedAt})
			tr.mu.Unlock()
			continue
		}
		r, err = tryCall(p, "DELETE", "/api/v1/auth_session/logout", cookie, "")
		tr.record("logout", r, err)
		if err != nil || r.status != 200 {
			continue
		}
		outAt := time.Now()
		r, err = tryCall(tr.pair[(n+1)%2], "GET", "/api/v1/users/me", cookie, "")
		tr.record("me-after-logout", r, err)
		tr.mu.Lock()
		tr.outs = append(tr.outs, kept{cookie, outAt})
		if err == nil && r.status == 200 {
			tr.falseOK = append(tr.falseOK, "read after sign-out")
		}
		tr.cycles[i]++
		tr.mu.Unlock()
	}
}

// waitCycles waits until every client has completed n more full cycles,
// for up to a minute.
func (tr *traffic) waitCycles(t *testing.T, n int) {
	t.Helper()
	tr.mu.Lock()
	from := slices.Clone(tr.cycles)
	tr.mu.Unlock()
	done := func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for i, c := range tr.cycles {
			if c < from[i]+n {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			t.Fatalf("clients stuck: cycles %v (from %v); answers of the last 5 s: %s", tr.cycles, from,
				sortedCounts(tr.counts(time.Now().Add(-5*time.Second), time.Now())))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (tr *traffic) finish() {
	close(tr.stop)
	tr.wg.Wait()
}

// counts are the answers from..to by kind and status, "login 200: 12".
func (tr *traffic) counts(from, to time.Time) map[string]int {
	c := map[string]int{}
	for _, a := range tr.answers {
		if !a.at.Before(from) && a.at.Before(to) {
			c[fmt.Sprintf("%s %d", a.what, a.status)]++
		}
	}
	return c
}

// assertAnswers checks that every answer was 200 or 503 (a 403 on a read
// is a session lost, counted apart; after a sign-out it is the answer),
// never a 500 nor none.
func (tr *traffic) assertAnswers(t *testing.T) {
	assert.Zero(t, tr.errCount, "requests without an answer")
	for _, a := range tr.answers {
		switch {
		case a.status == 200, a.status == 503:
		case a.what == "me" && a.status == 403:
		case a.what == "me-after-logout" && a.status == 403:
		default:
			t.Errorf("%s answered %d", a.what, a.status)
		}
	}
	assert.Empty(t, tr.falseOK, "false successes")
}

// check reads /users/me with each session: how many answer 200.
func check(t *testing.T, p *process, sessions []kept) (ok int) {
	for _, s := range sessions {
		r := call(t, p, "GET", "/api/v1/users/me", s.cookie, "")
		if r.status == 200 {
			ok++
		}
	}
	return ok
}

func before(sessions []kept, at time.Time) (out []kept) {
	for _, s := range sessions {
		if s.at.Before(at) {
			out = append(out, s)
		}
	}
	return out
}

func after(sessions []kept, at time.Time) (out []kept) {
	for _, s := range sessions {
		if !s.at.Before(at) {
			out = append(out, s)
		}
	}
	return out
}

// TestRedisFailoverUnderLoad kills the primary (kill -9) of a Sentinel
// setup, and one primary of a Cluster, under traffic. Requests in flight
// may answer 503, never 500 nor a false success; service resumes without
// a restart; the figures are logged.
func TestRedisFailoverUnderLoad(t *testing.T) {
	t.Run("sentinel", func(t *testing.T) {
		se := testkit.StartSentinel(t)
		failoverUnderLoad(t, map[string]string{
			"REDIS_SENTINEL_ADDRS": strings.Join(se.SentinelAddrs(), ","), "REDIS_SENTINEL_MASTER": testkit.SentinelMaster,
		}, se.Primary.Kill)
	})
	t.Run("cluster", func(t *testing.T) {
		cl := testkit.StartCluster(t)
		failoverUnderLoad(t, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(cl.Addrs(), ",")}, cl.Nodes[0].Kill)
	})
}

func failoverUnderLoad(t *testing.T, redis map[string]string, kill func()) {
	a, b := startPair(t, redis)
	tr := startTraffic(t, a, b)
	warm := time.Now().Add(3 * time.Second) // sessions old enough to have reached the replica
	tr.waitCycles(t, 5)
	waitFor(t, func() bool { return time.Now().After(warm) })
	killAt := time.Now()
	kill()
	// Resumed: every client completed 5 cycles after the last failure,
	// which is then at least a second old.
	var lastFailure time.Time
	for {
		tr.waitCycles(t, 5)
		tr.mu.Lock()
		lastFailure = killAt
		for _, an := range tr.answers {
			if an.status == 503 && an.at.After(lastFailure) {
				lastFailure = an.at
			}
		}
		tr.mu.Unlock()
		if time.Since(lastFailure) > time.Second {
			break
		}
	}
	tr.finish()
	tr.assertAnswers(t)

	resumed := lastFailure.Sub(killAt)
	assert.Less(t, resumed, 30*time.Second, "service resumed")
	settled := killAt.Add(-2 * time.Second) // older writes have reached the replica
	keptOld, keptNear, keptAfter := before(tr.kept, settled), after(before(tr.kept, killAt), settled), after(tr.kept, lastFailure)
	outNear := after(before(tr.outs, killAt), settled)
	survivedOld, survivedNear, survivedAfter := check(t, a, keptOld), check(t, b, keptNear), check(t, a, keptAfter)
	undone := check(t, b, outNear)
	assert.Equal(t, len(keptOld), survivedOld, "sessions signed in 2 s or more before the kill survive")
	assert.Equal(t, len(keptAfter), survivedAfter, "sessions signed in after the failover survive")
	assert.Zero(t, check(t, a, before(tr.outs, settled)), "sign-outs 2 s or more before the kill stay")

	during, afterwards := tr.counts(killAt, lastFailure.Add(time.Millisecond)), tr.counts(lastFailure.Add(time.Millisecond), time.Now())
	t.Logf("failover: service resumed %.1f s after the kill; answers during: %v; after: %v; "+
		"sessions signed in within 2 s before the kill and lost: %d of %d; sign-outs within 2 s before the kill undone: %d of %d; "+
		"sessions of earlier sign-ins lost: %d of %d",
		resumed.Seconds(), sortedCounts(during), sortedCounts(afterwards), len(keptNear)-survivedNear, len(keptNear),
		undone, len(outNear), len(keptOld)-survivedOld, len(keptOld))
}

func sortedCounts(c map[string]int) string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, c[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// TestClusterReshardUnderLoad moves slots between the primaries of a
// Cluster (redis-cli --cluster reshard) while the clients run: MOVED and
// ASK redirects are followed by the client, no request answers 500, and
// no success is false.
func TestClusterReshardUnderLoad(t *testing.T) {
	cl := testkit.StartCluster(t)
	a, b := startPair(t, map[string]string{"REDIS_CLUSTER_ADDRS": strings.Join(cl.Addrs(), ",")})
	tr := startTraffic(t, a, b)
	tr.waitCycles(t, 3)
	start := time.Now()
	from, to := cl.NodeID(cl.Nodes[0]), cl.NodeID(cl.Nodes[1])
	for _, move := range [][2]string{{from, to}, {to, from}} {
		out, err := exec.Command("redis-cli", "--cluster", "reshard", cl.Nodes[0].Addr(),
			"--cluster-from", move[0], "--cluster-to", move[1], "--cluster-slots", "2000", "--cluster-yes").CombinedOutput()
		require.NoError(t, err, "%s", out)
		tr.waitCycles(t, 2)
	}
	end := time.Now()
	tr.finish()
	tr.assertAnswers(t)
	assert.Equal(t, len(tr.kept), check(t, a, tr.kept), "every session signed in is there")
	assert.Zero(t, check(t, b, tr.outs), "every session signed out is gone")
	t.Logf("reshard of 2,000 slots there and back in %.1f s: answers %v", end.Sub(start).Seconds(),
		sortedCounts(tr.counts(start, end)))
}
