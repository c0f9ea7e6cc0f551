package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store/jsonfile"
)

// oldServiceFile is a users file exactly as the old Flask service wrote it
// (json.dump: ", " and ": " separators, no role, unsalted SHA-256).
func oldServiceFile(password string) string {
	sum := sha256.Sum256([]byte(password))
	h := hex.EncodeToString(sum[:])
	return `{"9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21": {"id": "9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21", ` +
		`"created_at": "2017-09-25T01:55:17", "updated_at": "2017-09-25T01:55:17", "email": "bob@hbtn.io", ` +
		`"_password": "` + h + `", "first_name": "Bob", "last_name": "Dylan"}, ` +
		`"4f2d7c0e-2b1a-4f6b-9b7e-1c2d3e4f5a6b": {"id": "4f2d7c0e-2b1a-4f6b-9b7e-1c2d3e4f5a6b", ` +
		`"created_at": "2017-09-26T10:00:00", "updated_at": "2017-09-26T10:00:00", "email": "ann@hbtn.io", ` +
		`"_password": "` + h + `", "first_name": null, "last_name": null}}`
}

func TestOldServiceUsersFile(t *testing.T) {
	dir := t.TempDir()
	const oldPassword = "H0lberton School 98!"
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".db_User.json"), []byte(oldServiceFile(oldPassword)), 0o600))

	s := startServer(t, dir)
	bob := basicAuth("bob@hbtn.io", oldPassword)
	rec := s.do("GET", "/api/v1/users/me", "", bob)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, `{"created_at":"2017-09-25T01:55:17","email":"bob@hbtn.io","first_name":"Bob",`+
		`"id":"9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21","last_name":"Dylan","role":"user","updated_at":"2017-09-25T01:55:17"}`,
		rec.Body.String())
	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@hbtn.io", "wrong")), 403, "Forbidden")

	// Listing keeps the file's order, after the admin created at start-up.
	rec = s.do("GET", "/api/v1/users", "", asAdmin())
	require.Equal(t, 200, rec.Code)
	var users []userJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &users))
	require.Len(t, users, 3)
	assert.Equal(t, "bob@hbtn.io", *users[0].Email)
	assert.Equal(t, "ann@hbtn.io", *users[1].Email)
	assert.Nil(t, users[1].FirstName)
	s.stop()

	// Bob's hash was upgraded to argon2id at his login; Ann's is untouched
	// until hers. The old password still works after the upgrade.
	db, err := jsonfile.Open(dir, jsonfile.Options{})
	require.NoError(t, err)
	u, err := db.Users().UserByEmail(context.Background(), "bob@hbtn.io")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$"), u.PasswordHash)
	ann, err := db.Users().UserByEmail(context.Background(), "ann@hbtn.io")
	require.NoError(t, err)
	assert.Len(t, ann.PasswordHash, 64)
	require.NoError(t, db.Close())

	s = startServer(t, dir)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bob).Code)
}

func TestUsersSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	bob := s.createUser("bob@example.com")
	carol := s.createUser("carol@example.com")
	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":"Bob"}`, asAdmin()).Code)
	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/"+carol.ID, "", asAdmin()).Code)
	before := s.do("GET", "/api/v1/users", "", asAdmin()).Body.String()
	s.stop()

	s = startServer(t, dir)
	assertBody(t, s.do("GET", "/api/v1/users", "", asAdmin()), 200, before)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		fi, err := e.Info()
		require.NoError(t, err)
		if !fi.IsDir() {
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), e.Name())
		}
	}
}

func TestDataDirCreatedPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	startServer(t, dir)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	_, err = os.Stat(filepath.Join(dir, ".db_User.json"))
	require.NoError(t, err)
}
