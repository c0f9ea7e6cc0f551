package jsonfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestAccessTokensSurviveARestart(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	opts, _ := testOptions()
	db, err := Open(dir, opts)
	require.NoError(t, err)
	u := testUser(1)
	require.NoError(t, db.Users().CreateUser(ctx, u))
	tok := storetest.AccessToken(1, u.ID, testTime, 24*time.Hour)
	require.NoError(t, db.AccessTokens().CreateAccessToken(ctx, tok, 50, testTime))
	ok, err := db.AccessTokens().TouchAccessToken(ctx, tok.ID, time.Time{}, testTime.Add(time.Minute), "192.0.2.7")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, db.Close())

	raw, err := os.ReadFile(filepath.Join(dir, tokensFile))
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "sapi_", "only hashes are kept")

	db = openDB(t, dir, opts)
	got, user, err := db.AccessTokens().AccessTokenByHash(ctx, tok.Hash)
	require.NoError(t, err)
	tok.LastUsedAt, tok.LastUsedIP = testTime.Add(time.Minute), "192.0.2.7"
	assert.Equal(t, tok, got)
	assert.Equal(t, u.ID, user.ID)
}

// A crash after a user's removal was durable but before its tokens'
// leaves tokens without a user: they authenticate nobody, and the next
// start removes them.
func TestAccessTokensOfAGoneUserAreRemovedOnOpen(t *testing.T) {
	ctx := t.Context()
	dir := dirWithUsers(t)
	orphan := `{"70c0e000-0000-4000-8000-000000000001":{"id":"70c0e000-0000-4000-8000-000000000001",` +
		`"user_id":"gone","name":"ci","scope":"read",` +
		`"token_hash":"0101010101010101010101010101010101010101010101010101010101010101",` +
		`"created_at":"2024-05-17T12:30:45Z","expires_at":"2024-08-15T12:30:45Z"}}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, tokensFile), []byte(orphan), 0o600))
	opts, logs := testOptions()
	db := openDB(t, dir, opts)
	_, _, err := db.AccessTokens().AccessTokenByHash(ctx, store.TokenHash{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	assert.Equal(t, store.ENOTFOUND, codeOf(err))
	assert.Contains(t, logs.String(), "removing access tokens of deleted users")
	require.NoError(t, db.Close())

	// The removal was written: the next start finds nothing to remove.
	opts, logs = testOptions()
	db = openDB(t, dir, opts)
	list, err := db.AccessTokens().ListAccessTokens(ctx, "gone")
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.NotContains(t, logs.String(), "removing access tokens")
}
