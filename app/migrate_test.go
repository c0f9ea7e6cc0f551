package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/postgres"
	"simpleapi/store/postgres/pgtest"
	"simpleapi/store/storetest"
)

// runMigrate runs "simpleapi migrate args..." against databaseURL and
// returns its output.
func runMigrate(t *testing.T, databaseURL string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"DATABASE_URL": databaseURL}
	err := run(t.Context(), append([]string{"migrate"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String(), err
}

// pgUsers reads every user back from the database.
func pgUsers(t *testing.T, databaseURL string) []store.User {
	t.Helper()
	db, err := postgres.Connect(t.Context(), databaseURL, postgres.Options{})
	require.NoError(t, err)
	defer db.Close()
	users, err := db.Users().ListUsers(t.Context())
	require.NoError(t, err)
	return users
}

func TestMigrateStatusAndUp(t *testing.T) {
	url := pgtest.Schema(t)
	out, err := runMigrate(t, url, "status")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^1\s+00001_users.sql\s+pending\s*$`, out)
	assert.Regexp(t, `(?m)^2\s+00002_sessions.sql\s+pending\s*$`, out)

	out, err = runMigrate(t, url, "up")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^1\s+00001_users.sql\s+applied\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\s*$`, out)
	assert.Regexp(t, `(?m)^2\s+00002_sessions.sql\s+applied\s+`, out)
	again, err := runMigrate(t, url, "up")
	require.NoError(t, err)
	assert.Equal(t, out, again, "nothing left to apply")
	assert.Empty(t, pgUsers(t, url))
}

func TestMigrateUsage(t *testing.T) {
	_, err := runMigrate(t, "", "status")
	assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}))
	assert.ErrorContains(t, err, "DATABASE_URL")
	// The server's rule for DATABASE_URL applies, and the URL (it may
	// hold a password) is not echoed.
	_, err = runMigrate(t, "mysql://app:hunter2@db/app", "status")
	assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}))
	assert.ErrorContains(t, err, "DATABASE_URL")
	assert.ErrorContains(t, err, "postgres://")
	assert.NotContains(t, err.Error(), "hunter2")
	_, err = runMigrate(t, pgtest.BaseURL(), "import-json")
	assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}))
	_, err = runMigrate(t, pgtest.BaseURL(), "down")
	assert.Equal(t, 2, exitCode(err, &bytes.Buffer{}))
	out, err := runMigrate(t, "", "-h")
	require.NoError(t, err)
	assert.Contains(t, out, "import-json --data-dir DIR")

	// A directory without a users file is an error, and is not created.
	missing := filepath.Join(t.TempDir(), "nope")
	_, err = runMigrate(t, pgtest.Schema(t), "import-json", "--data-dir", missing)
	assert.Equal(t, 1, exitCode(err, &bytes.Buffer{}))
	assert.NoDirExists(t, missing)
}

// A users file written by the Flask service: SHA-256 hashes, no roles, null
// names, and (which it allowed) two users sharing an email.
func TestImportJSONFromFlaskService(t *testing.T) {
	sum := sha256.Sum256([]byte("H0lberton School 98!"))
	h := hex.EncodeToString(sum[:])
	file := `{"9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21": {"id": "9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21", ` +
		`"created_at": "2017-09-25T01:55:17", "updated_at": "2017-09-25T01:55:17", "email": "bob@hbtn.io", ` +
		`"_password": "` + h + `", "first_name": "Bob", "last_name": "Dylan"}, ` +
		`"4f2d7c0e-2b1a-4f6b-9b7e-1c2d3e4f5a6b": {"id": "4f2d7c0e-2b1a-4f6b-9b7e-1c2d3e4f5a6b", ` +
		`"created_at": "2017-09-26T10:00:00", "updated_at": "2017-09-27T11:30:00", "email": "ann@hbtn.io", ` +
		`"_password": "` + h + `", "first_name": null, "last_name": null}, ` +
		`"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9": {"id": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", ` +
		`"created_at": "2017-09-28T08:00:00", "updated_at": "2017-09-28T08:00:00", "email": "BOB@hbtn.io", ` +
		`"_password": "` + h + `", "first_name": null, "last_name": null}}`
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".db_User.json"), []byte(file), 0o600))
	url := pgtest.Schema(t)

	out, err := runMigrate(t, url, "import-json", "--data-dir", dir)
	require.NoError(t, err)
	assert.Equal(t, "imported 2 users, 0 already present, 1 skipped\n"+
		"skipped 0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9: its email belongs to another user\n", out)

	bob, dylan := "Bob", "Dylan"
	want := []store.User{{
		ID: "9a5c1a8c-6f1e-4ad0-8a53-0d1c5a3e7b21", Email: "bob@hbtn.io", PasswordHash: h,
		FirstName: &bob, LastName: &dylan, Role: store.RoleUser,
		CreatedAt: time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC),
		UpdatedAt: time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC),
	}, {
		ID: "4f2d7c0e-2b1a-4f6b-9b7e-1c2d3e4f5a6b", Email: "ann@hbtn.io", PasswordHash: h, Role: store.RoleUser,
		CreatedAt: time.Date(2017, 9, 26, 10, 0, 0, 0, time.UTC),
		UpdatedAt: time.Date(2017, 9, 27, 11, 30, 0, 0, time.UTC),
	}}
	assert.Equal(t, want, pgUsers(t, url))

	out, err = runMigrate(t, url, "import-json", "--data-dir", dir)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "imported 0 users, 2 already present, 1 skipped\n"), out)
	assert.Equal(t, want, pgUsers(t, url), "a second run changes nothing")
}

// A users file written by this service, with an admin, argon2id hashes and
// changes still in its journal.
func TestImportJSONFromThisService(t *testing.T) {
	dir := t.TempDir()
	src, err := jsonfile.Open(dir, jsonfile.Options{QuietCompactAfter: -1})
	require.NoError(t, err)
	first := "Ada"
	users := []store.User{{
		ID: "11111111-1111-4111-8111-111111111111", Email: "Ada@Example.com", FirstName: &first,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
		Role:         store.RoleAdmin,
		CreatedAt:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), UpdatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}, {
		ID: "22222222-2222-4222-8222-222222222222", Email: "grace@example.com",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$b3RoZXJoYXNob3RoZXJoYXNob3RoZXJoYXNo",
		Role:         store.RoleUser,
		CreatedAt:    time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC), UpdatedAt: time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC),
	}}
	for _, u := range users {
		require.NoError(t, src.Users().CreateUser(t.Context(), u))
	}
	users[1].UpdatedAt = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	users[1].Role = store.RoleAdmin
	_, err = src.Users().UpdateUser(t.Context(), users[1].ID, func(u *store.User) error {
		u.Role, u.UpdatedAt = users[1].Role, users[1].UpdatedAt
		return nil
	})
	require.NoError(t, err)

	// While the store is open, its directory is locked: nothing is imported.
	url := pgtest.Schema(t)
	_, err = runMigrate(t, url, "import-json", "--data-dir", dir)
	require.ErrorIs(t, err, jsonfile.ErrLocked)
	require.NoError(t, src.Close())

	out, err := runMigrate(t, url, "import-json", "--data-dir", dir)
	require.NoError(t, err)
	assert.Equal(t, "imported 2 users, 0 already present, 0 skipped\n", out)
	assert.Equal(t, users, pgUsers(t, url))
}

// The users' access tokens go with them; a second run adds nothing.
func TestImportJSONCopiesAccessTokens(t *testing.T) {
	dir := t.TempDir()
	src, err := jsonfile.Open(dir, jsonfile.Options{QuietCompactAfter: -1})
	require.NoError(t, err)
	u := storetest.User(1, "ada@example.com", store.RoleAdmin)
	require.NoError(t, src.Users().CreateUser(t.Context(), u))
	tok := storetest.AccessToken(1, u.ID, storetest.UserTime, 90*24*time.Hour)
	require.NoError(t, src.AccessTokens().CreateAccessToken(t.Context(), tok, 50, storetest.UserTime))
	_, err = src.AccessTokens().TouchAccessToken(t.Context(), tok.ID, time.Time{}, storetest.UserTime.Add(time.Hour), "192.0.2.9")
	require.NoError(t, err)
	require.NoError(t, src.Close())

	url := pgtest.Schema(t)
	out, err := runMigrate(t, url, "import-json", "--data-dir", dir)
	require.NoError(t, err)
	assert.Equal(t, "imported 1 users, 0 already present, 0 skipped\n"+
		"imported 1 access tokens, 0 already present, 0 skipped (their user was not imported)\n", out)
	db, err := postgres.Connect(t.Context(), url, postgres.Options{})
	require.NoError(t, err)
	defer db.Close()
	got, user, err := db.AccessTokens().AccessTokenByHash(t.Context(), tok.Hash)
	require.NoError(t, err)
	tok.LastUsedAt, tok.LastUsedIP = storetest.UserTime.Add(time.Hour), "192.0.2.9"
	assert.Equal(t, tok, got)
	assert.Equal(t, u.ID, user.ID)

	out, err = runMigrate(t, url, "import-json", "--data-dir", dir)
	require.NoError(t, err)
	assert.Contains(t, out, "imported 0 access tokens, 1 already present")
}
