package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
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

// TestEmptiedUsersFileRefused: the binary refuses a data directory whose
// users file was emptied after use, rather than start with no users; a
// new directory works.
func TestEmptiedUsersFileRefused(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	code, _, stderr := command(t, env, "cli-password-1\n", "user", "create", "--email", "cli@example.com")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, os.Truncate(filepath.Join(dir, ".db_User.json"), 0))

	code, stdout, stderr := command(t, env, "", "user", "list")
	assert.NotEqual(t, 0, code)
	assert.NotContains(t, stdout, "cli@example.com")
	assert.Contains(t, stderr, ".db_User.json is empty, but the data directory was used before")
	info, err := os.Stat(filepath.Join(dir, ".db_User.json"))
	require.NoError(t, err)
	assert.Zero(t, info.Size(), "the refused start changed the users file")
}
