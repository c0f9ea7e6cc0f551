package tests

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDataDirDeletedWhileRunning: once DATA_DIR is gone, a write is not
// acknowledged (the next start would not find it) and the service reports
// itself not ready.
func TestDataDirDeletedWhileRunning(t *testing.T) {
	t.Run("basic_auth", func(t *testing.T) {
		s := newServer(t, "AUTH_TYPE", "basic_auth")
		require.NoError(t, os.RemoveAll(s.dataDir))
		assertError(t, s.do("POST", "/api/v1/users", `{"email":"dana@example.com","password":"`+userPassword+`"}`,
			asAdmin(), header("Content-Type", "application/json")), 503, "Service unavailable")
		assertError(t, s.do("GET", "/readyz", ""), 503, "Service unavailable")
	})
	t.Run("session_db_auth", func(t *testing.T) {
		s := newServer(t, "AUTH_TYPE", "session_db_auth")
		admin := s.adminCookie()
		require.NoError(t, os.RemoveAll(s.dataDir))
		// A login writes a session; a user's creation writes a user.
		assertError(t, s.login(adminEmail, adminPassword), 503, "Service unavailable")
		assertError(t, s.do("POST", "/api/v1/users", `{"email":"dana@example.com","password":"`+userPassword+`"}`,
			withCookie(admin), header("Content-Type", "application/json")), 503, "Service unavailable")
		assertError(t, s.do("GET", "/readyz", ""), 503, "Service unavailable")
	})
}
