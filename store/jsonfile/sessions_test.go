package jsonfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// testSession returns session i of userID with a fresh random token,
// which is returned too so tests can look for it.
func testSession(i int, userID string) (store.Session, []byte) {
	token := make([]byte, 32)
	rand.Read(token)
	return store.Session{
		ID:         fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		TokenHash:  sha256.Sum256([]byte(base64.RawURLEncoding.EncodeToString(token))),
		UserID:     userID,
		CreatedAt:  testTime.Add(time.Duration(i) * time.Minute),
		ExpiresAt:  testTime.Add(24*time.Hour + time.Duration(i)*time.Minute),
		LastSeenAt: testTime.Add(time.Duration(i) * time.Minute),
		IP:         "203.0.113.7",
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}, token
}

func openSessionsDB(t *testing.T, dir string) *DB {
	t.Helper()
	opts, _ := testOptions()
	opts.Sessions = true
	return openDB(t, dir, opts)
}

func TestSessionsNotOpenedByDefault(t *testing.T) {
	opts, _ := testOptions()
	db := openDB(t, t.TempDir(), opts)
	assert.Nil(t, db.Sessions())
}

func TestSessionStore(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	ctx := t.Context()

	a1, _ := testSession(1, "alice")
	a2, _ := testSession(2, "alice")
	a3, _ := testSession(3, "alice")
	b1, _ := testSession(4, "bob")
	b1.ExpiresAt = time.Time{} // no absolute expiry
	// Created out of order: listing is still oldest first.
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	dupID, _ := testSession(1, "carol")
	assert.Equal(t, store.ECONFLICT, codeOf(ss.CreateSession(ctx, dupID)))
	dupHash, _ := testSession(9, "carol")
	dupHash.TokenHash = a1.TokenHash
	assert.Equal(t, store.ECONFLICT, codeOf(ss.CreateSession(ctx, dupHash)))

	got, err := ss.SessionByTokenHash(ctx, a1.TokenHash)
	require.NoError(t, err)
	assert.Equal(t, a1, got)
	got, err = ss.SessionByID(ctx, b1.ID)
	require.NoError(t, err)
	assert.Equal(t, b1, got)
	_, err = ss.SessionByTokenHash(ctx, store.TokenHash{})
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = ss.SessionByID(ctx, "nope")
	assert.Equal(t, store.ENOTFOUND, codeOf(err))

	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1, a2, a3}, list)
	list, err = ss.ListSessions(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)

	// Touch: unknown ids skipped, times only move forward.
	later := testTime.Add(time.Hour)
	require.NoError(t, ss.TouchSessions(ctx, map[string]time.Time{
		a1.ID:  later,
		a2.ID:  testTime.Add(-time.Hour),
		"nope": later,
	}))
	got, err = ss.SessionByID(ctx, a1.ID)
	require.NoError(t, err)
	assert.Equal(t, later, got.LastSeenAt)
	a1.LastSeenAt = later
	got, err = ss.SessionByID(ctx, a2.ID)
	require.NoError(t, err)
	assert.Equal(t, a2, got)

	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	assert.Equal(t, store.ENOTFOUND, codeOf(ss.DeleteSession(ctx, a3.ID)))
	_, err = ss.SessionByTokenHash(ctx, a3.TokenHash)
	assert.Equal(t, store.ENOTFOUND, codeOf(err))

	// A crash now keeps all of it.
	crashed := copyDir(t, dir)
	check := func(ss store.SessionStore) {
		t.Helper()
		list, err := ss.ListSessions(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, []store.Session{a1, a2}, list)
		got, err := ss.SessionByTokenHash(ctx, b1.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, b1, got)
		n, err := ss.CountSessions(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
	}
	check(ss)
	require.NoError(t, db.Close())
	check(openSessionsDB(t, dir).Sessions())
	ss = openSessionsDB(t, crashed).Sessions()
	check(ss)

	n, err := ss.DeleteUserSessions(ctx, "alice", a1.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	list, err = ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{a1}, list)

	// Expire everything idle since before a1's touch: a1 stays.
	n, err = ss.DeleteSessionsWhere(ctx, func(s store.Session) bool { return s.LastSeenAt.Before(later) })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = ss.SessionByID(ctx, b1.ID)
	assert.Equal(t, store.ENOTFOUND, codeOf(err))
	n, err = ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestSessionFileNeverHoldsToken(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ctx := t.Context()
	var tokens [][]byte
	for i := range 20 {
		s, token := testSession(i, fmt.Sprintf("user%d", i%3))
		require.NoError(t, db.Sessions().CreateSession(ctx, s))
		tokens = append(tokens, token)
	}
	require.NoError(t, db.Sessions().TouchSessions(ctx, map[string]time.Time{
		"5e550000-0000-4000-8000-000000000001": testTime.Add(time.Hour),
	}))

	checkFiles := func() {
		t.Helper()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var data []byte
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			data = append(data, b...)
		}
		require.Contains(t, string(data), `"token_hash":"`)
		for _, token := range tokens {
			for _, form := range []string{
				string(token),
				hex.EncodeToString(token),
				base64.StdEncoding.EncodeToString(token),
				base64.RawStdEncoding.EncodeToString(token),
				base64.URLEncoding.EncodeToString(token),
				base64.RawURLEncoding.EncodeToString(token),
			} {
				assert.False(t, bytes.Contains(data, []byte(form)), "token found in data files")
			}
		}
	}
	checkFiles() // the journal
	require.NoError(t, db.Close())
	checkFiles() // the snapshot
}
