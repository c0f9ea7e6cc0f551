// Package sessiontest checks, on a real session store, what the session
// manager promises about token rotation: grace periods to the
// millisecond, every earlier token of a session recognised as a replay,
// and parallel requests that never sign their client out. Each store's
// tests run Manager against a fresh instance, as they run
// storetest.SessionStore.
package sessiontest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

// Manager runs the suite; open returns a fresh store on the given clock.
func Manager(t *testing.T, open storetest.OpenSessionStore) {
	t.Run("SubSecondGrace", func(t *testing.T) { testSubSecondGrace(t, open) })
	t.Run("Ancestors", func(t *testing.T) {
		for _, back := range []int{2, 3, 10} {
			testAncestor(t, open, back)
		}
	})
	t.Run("ParallelRotation", func(t *testing.T) { testParallelRotation(t, open) })
	t.Run("RenewForgetsFamily", func(t *testing.T) { testRenew(t, open) })
}

// setUp returns a manager rotating every interval with grace, over a
// fresh store, on a clock the test moves, logging into logs.
func setUp(t *testing.T, open storetest.OpenSessionStore, interval, grace time.Duration) (*auth.SessionManager, *storetest.Clock, *testkit.LockedBuffer) {
	clk := storetest.NewClock(storetest.Start())
	var logs testkit.LockedBuffer
	m := auth.NewSessionManager(auth.SessionConfig{Store: open(t, clk.Now), Absolute: 24 * time.Hour,
		IdleTimeout: time.Hour, RotateInterval: interval, RotateGrace: grace, Now: clk.Now,
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	return m, clk, &logs
}

// use presents token once, as a request would.
func use(t *testing.T, m *auth.SessionManager, token string) (store.Session, string, error) {
	t.Helper()
	ctx := auth.WithRequestInfo(t.Context(), &auth.RequestInfo{RequestID: "r", ClientIP: func() string { return "198.51.100.9" }})
	return m.Use(ctx, auth.ParseToken(token))
}

func forbidden(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err), msgAndArgs...)
}

// reuseEvents returns the session_token_reused events logged.
func reuseEvents(t *testing.T, logs *testkit.LockedBuffer) []map[string]any {
	t.Helper()
	var events []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e map[string]any
		require.NoError(t, json.Unmarshal(line, &e))
		if e["event"] == auth.EventSessionTokenReused {
			events = append(events, e)
		}
	}
	return events
}

// testSubSecondGrace: with a 2 s interval and a 1 s grace, a rotation late
// in a second leaves the replaced token working 100 ms before the grace
// ends and makes it a replay 100 ms after, whatever the second.
func testSubSecondGrace(t *testing.T, open storetest.OpenSessionStore) {
	m, clk, logs := setUp(t, open, 2*time.Second, time.Second)
	old, s, err := m.Create(t.Context(), "user-1", "203.0.113.1", "test")
	require.NoError(t, err)
	clk.Add(2100 * time.Millisecond) // .837 of a second: late in it
	_, next, err := use(t, m, old)
	require.NoError(t, err)
	require.NotEmpty(t, next, "due")

	clk.Add(900 * time.Millisecond) // grace - 100 ms, in the next second
	_, again, err := use(t, m, old)
	require.NoError(t, err, "within the grace period")
	assert.Empty(t, again, "the replaced token makes no successor")
	_, _, err = use(t, m, next)
	require.NoError(t, err)
	assert.Empty(t, reuseEvents(t, logs))

	clk.Add(200 * time.Millisecond) // grace + 100 ms
	_, _, err = use(t, m, old)
	forbidden(t, err, "after the grace period")
	_, _, err = use(t, m, next)
	forbidden(t, err, "the replay ended the session")
	_, err = m.Get(t.Context(), s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Len(t, reuseEvents(t, logs), 1)
}

// testAncestor: a token replaced back rotations ago, presented while the
// session lives on, ends the session, once, and is audited with both
// addresses.
func testAncestor(t *testing.T, open storetest.OpenSessionStore, back int) {
	m, clk, logs := setUp(t, open, time.Minute, time.Second)
	first, s, err := m.Create(t.Context(), "user-1", "203.0.113.1", "test")
	require.NoError(t, err)
	tokens := []string{first}
	for range back {
		clk.Add(time.Minute)
		_, next, err := use(t, m, tokens[len(tokens)-1])
		require.NoError(t, err)
		require.NotEmpty(t, next)
		tokens = append(tokens, next)
	}
	clk.Add(10 * time.Second)
	_, _, err = use(t, m, tokens[0])
	forbidden(t, err, "a token %d rotations old", back)
	for i, tok := range tokens {
		_, _, err = use(t, m, tok)
		forbidden(t, err, "token %d after the replay", i)
	}
	events := reuseEvents(t, logs)
	require.Len(t, events, 1, "audited once (%d rotations back)", back)
	assert.Equal(t, s.ID, events[0]["session_id"])
	assert.Equal(t, "user-1", events[0]["user_id"])
	assert.Equal(t, "203.0.113.1", events[0]["session_ip"])
	assert.Equal(t, "198.51.100.9", events[0]["client_ip"])
	for _, tok := range tokens {
		assert.NotContains(t, logs.String(), tok, "no token in the log")
	}
}

// testParallelRotation: 64 requests with one token, at the moment it is
// due, are all served, and exactly one successor comes out of them; the
// replaced token still works within its grace period, and makes no second
// successor.
func testParallelRotation(t *testing.T, open storetest.OpenSessionStore) {
	m, clk, logs := setUp(t, open, time.Minute, time.Second)
	token, s, err := m.Create(t.Context(), "user-1", "", "")
	require.NoError(t, err)
	for round := range 5 {
		clk.Add(time.Minute)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var successors []string
		start := make(chan struct{})
		for range 64 {
			wg.Go(func() {
				<-start
				got, next, err := use(t, m, token)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, s.ID, got.ID)
				if next != "" {
					mu.Lock()
					successors = append(successors, next)
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		require.Len(t, successors, 1, "round %d: exactly one successor", round)
		stored, err := m.Get(t.Context(), s.ID)
		require.NoError(t, err)
		assert.Equal(t, auth.HashToken(successors[0]), stored.TokenHash, "the successor handed out is the one kept")
		assert.Equal(t, auth.HashToken(token), stored.PrevTokenHash)
		_, next, err := use(t, m, token)
		require.NoError(t, err, "round %d: the replaced token works within the grace period", round)
		assert.Empty(t, next, "round %d: and makes no second successor", round)
		token = successors[0]
	}
	assert.Empty(t, reuseEvents(t, logs))
}

// testRenew: after a renewal (a password change) the tokens of the family
// it left are unknown, not replays: the session lives on.
func testRenew(t *testing.T, open storetest.OpenSessionStore) {
	m, clk, logs := setUp(t, open, time.Minute, time.Second)
	old, s, err := m.Create(t.Context(), "user-1", "", "")
	require.NoError(t, err)
	clk.Add(time.Second)
	fresh, _, err := m.Renew(t.Context(), s)
	require.NoError(t, err)
	_, _, err = use(t, m, old)
	forbidden(t, err)
	_, _, err = use(t, m, fresh)
	require.NoError(t, err, "the session lives on")
	assert.Empty(t, reuseEvents(t, logs))
}
