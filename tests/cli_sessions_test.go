package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sessionOwners counts the kept sessions per user id, from the sessions
// file a stopped server left.
func sessionOwners(t *testing.T, dir string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".db_UserSession.json"))
	require.NoError(t, err)
	var sessions map[string]struct {
		UserID string `json:"user_id"`
	}
	require.NoError(t, json.Unmarshal(b, &sessions))
	out := map[string]int{}
	for _, s := range sessions {
		out[s.UserID]++
	}
	return out
}

// The user commands end the sessions the API would: of a deleted user, of
// a user whose role changes, and (an operator's reset) of a user given a
// new password. Other users keep theirs.
func TestUserCommandsEndSessions(t *testing.T) {
	s := newSessionServer(t)
	admin := s.adminCookie()
	ids := map[string]string{}
	for _, email := range []string{"bob@example.com", "carol@example.com", "dave@example.com"} {
		rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, withCookie(admin))
		require.Equal(t, 201, rec.Code, rec.Body.String())
		var u userJSON
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &u))
		ids[email] = u.ID
		s.sessionCookie(email, userPassword)
		s.sessionCookie(email, userPassword)
	}
	adminID := s.userByEmailAsCookieAdmin(t, adminEmail).ID
	s.stop()
	before := sessionOwners(t, s.dataDir)
	require.Equal(t, 2, before[ids["bob@example.com"]])

	// The server's own settings: the commands end sessions in the session
	// store those name (here the JSON file of session_db_auth).
	env := s.env
	code, _, stderr := command(t, env, "", "user", "delete", "--email", "bob@example.com")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, env, "", "user", "set-role", "--email", "carol@example.com", "--role", "admin")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = command(t, env, "new-password-1\n", "user", "passwd", "--email", "dave@example.com")
	require.Equal(t, 0, code, stderr)

	after := sessionOwners(t, s.dataDir)
	assert.Zero(t, after[ids["bob@example.com"]], "deleted")
	assert.Zero(t, after[ids["carol@example.com"]], "role changed")
	assert.Zero(t, after[ids["dave@example.com"]], "password reset")
	assert.Equal(t, before[adminID], after[adminID], "the admin's session stays")
	assert.NotZero(t, after[adminID])
}
