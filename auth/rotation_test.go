package auth

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/memory"
	"simpleapi/store/storetest"
)

// newRotatingManager returns a manager that rotates tokens every
// interval with the given grace period, over a memory store on a clock the
// test moves, logging into logs.
func newRotatingManager(interval, grace time.Duration, logs *bytes.Buffer) (*SessionManager, store.SessionStore, *storetest.Clock) {
	clk := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.NewSessions(clk.Now)
	m := NewSessionManager(SessionConfig{Store: st, Absolute: 24 * time.Hour, IdleTimeout: time.Hour,
		RotateInterval: interval, RotateGrace: grace, Now: clk.Now,
		Log: slog.New(slog.NewJSONHandler(logs, nil))})
	return m, st, clk
}

func TestUseRotatesTokenWhenDue(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	m, st, clk := newRotatingManager(15*time.Minute, time.Minute, &logs)
	token, created, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)

	clk.Add(15*time.Minute - time.Second)
	s, next, err := m.Use(ctx, ParseToken(token))
	require.NoError(t, err)
	assert.Empty(t, next, "not due yet")
	assert.Equal(t, created.RotatedAt, s.RotatedAt)

	for i := range 3 {
		clk.Add(15 * time.Minute)
		s, next, err = m.Use(ctx, ParseToken(token))
		require.NoError(t, err, "rotation %d", i)
		require.NotEmpty(t, next)
		assert.NotEqual(t, token, next)
		assert.Equal(t, created.ID, s.ID, "the public id stays")
		assert.Equal(t, created.CreatedAt, s.CreatedAt)
		assert.Equal(t, created.ExpiresAt, s.ExpiresAt, "the absolute deadline stays")
		assert.Equal(t, clk.Now(), s.RotatedAt)
		assert.Equal(t, created.Family, s.Family, "a rotation keeps the family")
		assert.Equal(t, familySecret(token), familySecret(next))
		assert.Equal(t, HashToken(next), s.TokenHash)
		assert.Equal(t, HashToken(token), s.PrevTokenHash)
		stored, err := st.SessionByID(ctx, s.ID)
		require.NoError(t, err)
		assert.Equal(t, s, stored)
		token = next
	}
	assert.NotContains(t, logs.String(), EventSessionTokenReused)
}

func TestUseNeverRotatesWithIntervalZero(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	m, _, clk := newRotatingManager(0, time.Minute, &logs)
	token, _, err := m.Create(ctx, "user-1", "", "")
	require.NoError(t, err)
	for range 5 {
		clk.Add(50 * time.Minute)
		_, next, err := m.Use(ctx, ParseToken(token))
		require.NoError(t, err)
		assert.Empty(t, next)
	}
}

// The replaced token presented after its grace period ends the session:
// both tokens are refused, and the replay is audited with both addresses.
func TestUseReplayAfterGraceEndsSession(t *testing.T) {
	var logs bytes.Buffer
	m, st, clk := newRotatingManager(15*time.Minute, time.Minute, &logs)
	ctx := WithRequestInfo(t.Context(), &RequestInfo{RequestID: "req-1", ClientIP: func() string { return "198.51.100.9" }})
	old, created, err := m.Create(ctx, "user-1", "203.0.113.1", "test")
	require.NoError(t, err)
	clk.Add(15 * time.Minute)
	_, next, err := m.Use(ctx, ParseToken(old))
	require.NoError(t, err)
	require.NotEmpty(t, next)

	clk.Add(time.Minute - time.Second)
	_, _, err = m.Use(ctx, ParseToken(old))
	require.NoError(t, err, "within the grace period")
	assert.NotContains(t, logs.String(), EventSessionTokenReused)

	clk.Add(time.Second)
	_, _, err = m.Use(ctx, ParseToken(old))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err))
	_, _, err = m.Use(ctx, ParseToken(next))
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err), "the newer token ends with the session")
	_, err = st.SessionByID(ctx, created.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))

	var event map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var e map[string]any
		require.NoError(t, json.Unmarshal(line, &e))
		if e["event"] == EventSessionTokenReused {
			event = e
		}
	}
	require.NotNil(t, event, "audited")
	assert.Equal(t, true, event["audit"])
	assert.Equal(t, "WARN", event["level"])
	assert.Equal(t, created.ID, event["session_id"])
	assert.Equal(t, "user-1", event["user_id"])
	assert.Equal(t, "203.0.113.1", event["session_ip"], "the session's address")
	assert.Equal(t, "198.51.100.9", event["client_ip"], "the address that replayed the old token")
	assert.NotContains(t, logs.String(), old, "no token in the log")
	assert.NotContains(t, logs.String(), next)
}
