package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditEvents returns the audit log entries of one event.
func (s *server) auditEvents(event string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.logs.String()), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["audit"] == true && entry["event"] == event {
			out = append(out, entry)
		}
	}
	return out
}

// A session's token is replaced once it is older than
// SESSION_ROTATE_INTERVAL, on whatever route; the replaced token works for
// SESSION_ROTATE_GRACE, and coming back after that ends the session.
func TestSessionTokenRotation(t *testing.T) {
	for _, mode := range []string{"session_auth", "session_exp_auth", "session_db_auth"} {
		t.Run(mode, func(t *testing.T) {
			s := newSessionServer(t, "AUTH_TYPE", mode, "SESSION_ROTATE_INTERVAL", "900", "SESSION_ROTATE_GRACE", "60")
			first := s.sessionCookie(adminEmail, adminPassword)

			s.clock.Advance(899)
			rec := s.do("GET", "/api/v1/users/me", "", withCookie(first))
			require.Equal(t, 200, rec.Code)
			assert.Nil(t, cookieOf(t, rec), "not due yet")

			s.clock.Advance(1)
			rec = s.do("GET", "/api/v1/stats", "", withCookie(first))
			require.Equal(t, 200, rec.Code)
			second := cookieOf(t, rec)
			require.NotNil(t, second, "a fresh token in Set-Cookie")
			assert.NotEqual(t, first.Value, second.Value)
			assert.True(t, second.HttpOnly)
			assert.Equal(t, "/", second.Path)

			rec = s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(second))
			require.Equal(t, 200, rec.Code)
			assert.Nil(t, cookieOf(t, rec), "the successor is not due")
			list := decodeSessions(t, rec.Body.Bytes())
			require.Len(t, list, 1, "the same session, not a new one")
			assert.True(t, list[0].Current)
			require.NotNil(t, list[0].RotatedAt)
			assert.Equal(t, "2026-01-02T03:19:05", *list[0].RotatedAt)
			assert.Equal(t, "2026-01-02T03:04:05", *list[0].CreatedAt, "creation time kept")

			s.clock.Advance(59)
			rec = s.do("GET", "/api/v1/users/me", "", withCookie(first))
			assert.Equal(t, 200, rec.Code, "the old token within the grace period")
			assert.Nil(t, cookieOf(t, rec), "and no second successor")
			assert.Empty(t, s.auditEvents("session_token_reused"))

			s.clock.Advance(1)
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(first)), http.StatusForbidden, "Forbidden")
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(second)), http.StatusForbidden, "Forbidden")
			events := s.auditEvents("session_token_reused")
			require.Len(t, events, 1)
			assert.Equal(t, list[0].ID, events[0]["session_id"])
			assert.Equal(t, "192.0.2.1", events[0]["client_ip"])
			assert.Equal(t, list[0].IP, events[0]["session_ip"])
			assert.NotContains(t, s.logs.String(), first.Value)
			assert.NotContains(t, s.logs.String(), second.Value)
		})
	}
}

// SESSION_ROTATE_INTERVAL=0 never replaces a token.
func TestSessionTokenRotationOff(t *testing.T) {
	s := newSessionServer(t, "SESSION_ROTATE_INTERVAL", "0", "SESSION_IDLE_TIMEOUT", "0")
	c := s.adminCookie()
	for range 3 {
		s.clock.Advance(3600)
		rec := s.do("GET", "/api/v1/users/me", "", withCookie(c))
		require.Equal(t, 200, rec.Code)
		assert.Nil(t, cookieOf(t, rec))
	}
}

// Parallel requests that all find the token due get exactly one new
// cookie between them, in every session store; all are served.
func TestSessionTokenRotationParallel(t *testing.T) {
	for _, mode := range []string{"session_auth", "session_exp_auth", "session_db_auth"} {
		t.Run(mode, func(t *testing.T) {
			s := newSessionServer(t, "AUTH_TYPE", mode, "SESSION_ROTATE_INTERVAL", "60",
				"SESSION_ROTATE_GRACE", "10")
			c := s.adminCookie()
			s.clock.Advance(60)
			res := sendBurst(t, 32, func(int) (int, string, error) { return s.getMe(c) })
			assert.Equal(t, map[int]int{200: 32}, res.statuses)
			assert.Len(t, res.successors, 1, "exactly one successor")
		})
	}
}
