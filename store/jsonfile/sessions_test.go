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
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
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

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T) store.SessionStore {
		return openSessionsDB(t, t.TempDir()).Sessions()
	})
}

// TestSessionsPersist checks what the contract cannot: creates, touches
// and deletes survive a clean close and a crash (a copy of the files taken
// while the store is open).
func TestSessionsPersist(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	ctx := t.Context()

	a1, _ := testSession(1, "alice")
	a2, _ := testSession(2, "alice")
	a3, _ := testSession(3, "alice")
	b1, _ := testSession(4, "bob")
	b1.ExpiresAt = time.Time{} // no absolute expiry
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	later := testTime.Add(time.Hour)
	require.NoError(t, ss.TouchSessions(ctx, map[string]time.Time{a1.ID: later}))
	a1.LastSeenAt = later
	require.NoError(t, ss.DeleteSession(ctx, a3.ID))

	crashed := copyDir(t, dir)
	check := func(ss store.SessionStore) {
		t.Helper()
		list, err := ss.ListSessions(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, []store.Session{a1, a2}, list)
		got, err := ss.SessionByTokenHash(ctx, b1.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, b1, got)
		_, err = ss.SessionByTokenHash(ctx, a3.TokenHash)
		assert.Equal(t, store.ENOTFOUND, codeOf(err))
		n, err := ss.CountSessions(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
	}
	check(ss)
	require.NoError(t, db.Close())
	check(openSessionsDB(t, dir).Sessions())
	check(openSessionsDB(t, crashed).Sessions())
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

// oldSessionsFile is a sessions file as the old Flask service wrote it:
// each record's session_id is the raw session token (the cookie value).
const oldSessionsFile = `{"0b4f7a52-8f8d-4b53-9d2e-4c8d3c4e8b01": {"id": "0b4f7a52-8f8d-4b53-9d2e-4c8d3c4e8b01", "created_at": "2017-09-25T01:55:17", "updated_at": "2017-09-25T01:55:17", "user_id": "8b6a1e8c-5a3e-4f1e-9f6e-2d1c0a9b8c7d", "session_id": "f3c1a2b4-raw-token-one-5d6e7f8a9b0c"}, ` +
	`"7d1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a": {"session_id": "9a8b7c6d-raw-token-two-1e2f3a4b5c6d", "user_id": "0d4c1f5e-1111-4a2b-8c3d-4e5f6a7b8c9d", "updated_at": "2018-01-02T03:04:05", "created_at": "2018-01-02T03:04:05", "id": "7d1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a"}}`

var oldTokens = []string{"f3c1a2b4-raw-token-one-5d6e7f8a9b0c", "9a8b7c6d-raw-token-two-1e2f3a4b5c6d"}

// TestOldServiceSessionsFile: the old service's sessions file does not stop
// the start. Its sessions are dropped with one warning, and their raw
// tokens are kept nowhere: not in memory, not in the log, not on disk once
// the store is open.
func TestOldServiceSessionsFile(t *testing.T) {
	for name, extra := range map[string]bool{"old only": false, "old and new": true} {
		t.Run(name, func(t *testing.T) {
			dir := dirWithUsers(t)
			file := oldSessionsFile
			kept, _ := testSession(1, "alice")
			if extra {
				// A record of this service's shape next to them is kept,
				// and so is one the journal holds.
				rec, err := encodeSession(&kept)
				require.NoError(t, err)
				file = file[:len(file)-1] + `, "` + kept.ID + `": ` + string(rec) + "}"
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile), []byte(file), 0o600))
			journaled, _ := testSession(2, "bob")
			if extra {
				rec, err := encodeSession(&journaled)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile+".journal"), appendLine(nil, "put", journaled.ID, rec), 0o600))
			}

			opts, logs := testOptions()
			opts.Sessions = true
			db, err := Open(dir, opts)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			ss := db.Sessions()
			ctx := t.Context()

			assert.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), logs.String())
			assert.Contains(t, logs.String(), "old service")
			assert.Contains(t, logs.String(), "records=2")
			assert.NotContains(t, logs.String(), "level=ERROR")
			for _, id := range []string{"0b4f7a52-8f8d-4b53-9d2e-4c8d3c4e8b01", "7d1e2f3a-4b5c-4d6e-8f9a-0b1c2d3e4f5a"} {
				_, err := ss.SessionByID(ctx, id)
				assert.Equal(t, store.ENOTFOUND, codeOf(err))
			}
			for _, tok := range oldTokens {
				assert.NotContains(t, logs.String(), tok)
				_, err := ss.SessionByTokenHash(ctx, sha256.Sum256([]byte(tok)))
				assert.Equal(t, store.ENOTFOUND, codeOf(err))
			}
			want := 0
			if extra {
				want = 2
				for _, s := range []store.Session{kept, journaled} {
					got, err := ss.SessionByTokenHash(ctx, s.TokenHash)
					require.NoError(t, err)
					assert.Equal(t, s, got)
				}
			}
			n, err := ss.CountSessions(ctx)
			require.NoError(t, err)
			assert.Equal(t, want, n)

			// The file was rewritten without them at once (a crash now
			// leaves no raw token behind), and the store works.
			noOldTokens := func() {
				t.Helper()
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				for _, e := range entries {
					b, err := os.ReadFile(filepath.Join(dir, e.Name()))
					require.NoError(t, err)
					for _, tok := range oldTokens {
						assert.NotContains(t, string(b), tok, e.Name())
					}
					assert.NotContains(t, string(b), "session_id", e.Name())
				}
			}
			noOldTokens()
			s3, _ := testSession(3, "carol")
			require.NoError(t, ss.CreateSession(ctx, s3))
			require.NoError(t, db.Close())
			noOldTokens()

			opts, logs = testOptions()
			opts.Sessions = true
			ss = openDB(t, dir, opts).Sessions()
			assert.NotContains(t, logs.String(), "level=WARN")
			n, err = ss.CountSessions(ctx)
			require.NoError(t, err)
			assert.Equal(t, want+1, n)
		})
	}
}

// TestBadSessionRecords: a sessions record of neither shape, or an old
// service's record in a journal (which this service never writes), still
// stops the start.
func TestBadSessionRecords(t *testing.T) {
	s, _ := testSession(1, "alice")
	rec, err := encodeSession(&s)
	require.NoError(t, err)
	snapshots := map[string]string{
		"short token_hash":   `{"x": {"id": "x", "user_id": "u", "token_hash": "abc"}}`,
		"token_hash not hex": `{"x": {"id": "x", "user_id": "u", "token_hash": "` + strings.Repeat("z", 64) + `"}}`,
		"no id":              `{"x": {"user_id": "u", "session_id": "raw"}}`,
		"null":               `{"x": null}`,
		"not an object":      `{"x": "raw"}`,
		"bad time":           `{"x": {"id": "x", "user_id": "u", "session_id": "raw", "created_at": 5}}`,
	}
	for name, file := range snapshots {
		t.Run(name, func(t *testing.T) {
			dir := dirWithUsers(t)
			require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile), []byte(file), 0o600))
			opts, _ := testOptions()
			opts.Sessions = true
			_, err := Open(dir, opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), sessionsFile+`: record "x"`)
			assert.NotContains(t, err.Error(), "raw")
		})
	}
	t.Run("old record in the journal", func(t *testing.T) {
		dir := dirWithUsers(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile), []byte(`{"`+s.ID+`": `+string(rec)+`}`), 0o600))
		old := `{"id": "y", "user_id": "u", "session_id": "raw"}`
		require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile+".journal"), appendLine(nil, "put", "y", []byte(old)), 0o600))
		opts, _ := testOptions()
		opts.Sessions = true
		_, err := Open(dir, opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), sessionsFile+".journal at offset 0")
		assert.Contains(t, err.Error(), "old service")
	})
}
