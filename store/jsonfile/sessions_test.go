package jsonfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth/sessiontest"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

// testSession returns session i of userID with a fresh random family and
// token, which is returned too so tests can look for it. Its times are
// around testTime, where openSessionsDB's clock stands.
func testSession(i int, userID string) (store.Session, []byte) {
	token := make([]byte, 32)
	rand.Read(token)
	created := testTime.Add(time.Duration(i) * time.Minute)
	return store.Session{
		ID:            fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		Family:        storetest.NewTokenHash(),
		TokenHash:     sha256.Sum256([]byte(base64.RawURLEncoding.EncodeToString(token))),
		UserID:        userID,
		CreatedAt:     created,
		ExpiresAt:     created.Add(24 * time.Hour),
		IdleExpiresAt: created.Add(30 * time.Minute),
		LastSeenAt:    created,
		IP:            "203.0.113.7",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		RotatedAt:     created,
	}, token
}

// openSessionsDB opens dir with the sessions file, on a clock standing at
// testTime.
func openSessionsDB(t *testing.T, dir string) *DB {
	t.Helper()
	return openSessionsDBAt(t, dir, func() time.Time { return testTime })
}

func openSessionsDBAt(t *testing.T, dir string, now func() time.Time) *DB {
	t.Helper()
	opts, _ := testOptions()
	opts.Sessions = true
	opts.Now = now
	return openDB(t, dir, opts)
}

func TestSessionsNotOpenedByDefault(t *testing.T) {
	opts, _ := testOptions()
	db := openDB(t, t.TempDir(), opts)
	assert.Nil(t, db.Sessions())
}

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		return openSessionsDBAt(t, t.TempDir(), now).Sessions()
	})
}

// TestSessionManagerContract runs the session manager's rotation promises
// over this store.
func TestSessionManagerContract(t *testing.T) {
	sessiontest.Manager(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		return openSessionsDBAt(t, t.TempDir(), now).Sessions()
	})
}

// TestSessionsPersist checks what the contract cannot: creates, rotations
// and deletes survive a clean close and a crash (a copy of the files taken
// while the store is open), and so do touches once written.
func TestSessionsPersist(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	ctx := t.Context()

	a1, _ := testSession(1, "alice")
	a2, _ := testSession(2, "alice")
	a3, _ := testSession(3, "alice")
	b1, _ := testSession(4, "bob")
	b1.ExpiresAt, b1.IdleExpiresAt = time.Time{}, time.Time{} // no deadline
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	r := store.Rotation{Family: a2.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: testTime.Add(time.Minute),
		PrevTokenHash: a2.TokenHash, PrevValidUntil: testTime.Add(2 * time.Minute)}
	_, err := ss.RotateToken(ctx, a2.ID, a2.TokenHash, r)
	require.NoError(t, err)
	a2.TokenHash, a2.RotatedAt, a2.PrevTokenHash, a2.PrevValidUntil = r.TokenHash, r.RotatedAt, r.PrevTokenHash, r.PrevValidUntil
	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	later := testTime.Add(time.Hour)
	require.NoError(t, ss.TouchSession(ctx, b1.ID, later, time.Time{}))
	b1.LastSeenAt = later

	crashed := copyDir(t, dir)
	check := func(ss store.SessionStore) {
		t.Helper()
		list, err := ss.ListSessions(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, []store.Session{a1, a2}, list)
		got, err := ss.SessionByFamily(ctx, a2.Family)
		require.NoError(t, err)
		assert.Equal(t, a2, got)
		got, err = ss.SessionByFamily(ctx, b1.Family)
		require.NoError(t, err)
		assert.Equal(t, b1, got)
		_, err = ss.SessionByFamily(ctx, a3.Family)
		assert.Equal(t, store.ENOTFOUND, codeOf(err))
		n, err := ss.CountSessions(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
	}
	check(ss)
	require.NoError(t, db.Close())
	check(openSessionsDB(t, dir).Sessions())

	// The crash came before the touch was written: b1 is as created.
	b1.LastSeenAt = b1.CreatedAt
	check(openSessionsDB(t, crashed).Sessions())
}

// TestTouchesWrittenOncePerMinute: touches reach the journal when a
// minute has passed since they were last written (on the store's clock),
// when DeleteExpired runs, and at Close; reads see them at once.
func TestTouchesWrittenOncePerMinute(t *testing.T) {
	dir := t.TempDir()
	clock := storetest.NewClock(testTime)
	opts, _ := testOptions()
	opts.Sessions = true
	opts.Now = clock.Now
	opts.QuietCompactAfter = -1 // count journal records undisturbed
	db := openDB(t, dir, opts)
	ss := db.Sessions()
	ctx := t.Context()
	a, _ := testSession(0, "alice")
	b, _ := testSession(1, "alice")
	b.CreatedAt, b.LastSeenAt, b.RotatedAt, b.IdleExpiresAt = a.CreatedAt, a.LastSeenAt, a.RotatedAt, a.IdleExpiresAt
	for _, s := range []store.Session{a, b} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	journaled := func() int {
		t.Helper()
		db.sessions.t.mu.RLock()
		defer db.sessions.t.mu.RUnlock()
		return db.sessions.t.jrecs
	}
	require.Equal(t, 2, journaled())
	onDisk := func(s store.Session) store.Session {
		t.Helper()
		got, err := openSessionsDBAt(t, copyDir(t, dir), clock.Now).Sessions().SessionByID(ctx, s.ID)
		require.NoError(t, err)
		return got
	}

	// Many uses within the minute: seen at once, not written.
	for i := range 59 {
		clock.Add(time.Second)
		now := clock.Now()
		require.NoError(t, ss.TouchSession(ctx, a.ID, now, now.Add(30*time.Minute)))
		got, err := ss.SessionByID(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, now, got.LastSeenAt, "use %d", i)
		require.Equal(t, now.Add(30*time.Minute), got.IdleExpiresAt, "use %d", i)
	}
	assert.Equal(t, 2, journaled(), "no journal record within the minute")
	assert.Equal(t, a, onDisk(a))

	// The first use a minute after the last write writes every pending
	// session once.
	clock.Add(time.Second)
	now := clock.Now()
	require.NoError(t, ss.TouchSession(ctx, b.ID, now, now.Add(30*time.Minute)))
	assert.Equal(t, 4, journaled())
	require.NoError(t, db.sessions.t.commit(db.sessions.touchSeq))
	a.LastSeenAt, a.IdleExpiresAt = now.Add(-time.Second), now.Add(30*time.Minute-time.Second)
	b.LastSeenAt, b.IdleExpiresAt = now, now.Add(30*time.Minute)
	assert.Equal(t, a, onDisk(a))
	assert.Equal(t, b, onDisk(b))

	// DeleteExpired writes what is pending and returns once it is durable.
	clock.Add(time.Second)
	now = clock.Now()
	require.NoError(t, ss.TouchSession(ctx, a.ID, now, now.Add(30*time.Minute)))
	assert.Equal(t, 4, journaled())
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, 5, journaled())
	a.LastSeenAt, a.IdleExpiresAt = now, now.Add(30*time.Minute)
	assert.Equal(t, a, onDisk(a))

	// Close writes what is pending.
	clock.Add(time.Second)
	now = clock.Now()
	require.NoError(t, ss.TouchSession(ctx, b.ID, now, now.Add(30*time.Minute)))
	require.NoError(t, db.Close())
	b.LastSeenAt, b.IdleExpiresAt = now, now.Add(30*time.Minute)
	got, err := openSessionsDBAt(t, dir, clock.Now).Sessions().SessionByID(ctx, b.ID)
	require.NoError(t, err)
	assert.Equal(t, b, got)
}

// TestDeleteExpiredPersists: expired sessions leave the file, and a clock
// moved back does not bring them back.
func TestDeleteExpiredPersists(t *testing.T) {
	dir := t.TempDir()
	clock := storetest.NewClock(testTime)
	db := openSessionsDBAt(t, dir, clock.Now)
	ss := db.Sessions()
	ctx := t.Context()
	short, _ := testSession(0, "alice")
	long, _ := testSession(1, "alice")
	long.IdleExpiresAt = long.ExpiresAt
	for _, s := range []store.Session{short, long} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	clock.Add(time.Hour)
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	clock.Set(testTime)
	for _, d := range []string{copyDir(t, dir), dir} {
		if d == dir {
			require.NoError(t, db.Close())
		}
		ss := openSessionsDBAt(t, d, clock.Now).Sessions()
		_, err := ss.SessionByID(ctx, short.ID)
		assert.Equal(t, store.ENOTFOUND, codeOf(err))
		got, err := ss.SessionByID(ctx, long.ID)
		require.NoError(t, err)
		assert.Equal(t, long, got)
	}
}

// TestSessionFileBeforeDeadlines: a sessions file written before sessions
// kept their idle deadline and rotation still loads. A record without
// idle_expires_at gets last_seen_at + Options.SessionIdleTimeout (none when
// it is zero), rotated_at = created_at and no previous token.
func TestSessionFileBeforeDeadlines(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	file := `{"5e550000-0000-4000-8000-000000000001": {"id": "5e550000-0000-4000-8000-000000000001", "user_id": "alice", ` +
		`"token_hash": "` + hash + `", "created_at": "2024-05-17T12:30:45", "updated_at": "2024-05-17T12:40:45", ` +
		`"expires_at": "2024-05-18T12:30:45", "last_seen_at": "2024-05-17T12:40:45", "ip": "203.0.113.7", "user_agent": "curl/8.8.0"}}`
	h := hexHash(t, hash)
	want := store.Session{
		ID: "5e550000-0000-4000-8000-000000000001", Family: h, TokenHash: h, UserID: "alice",
		CreatedAt: testTime, ExpiresAt: testTime.Add(24 * time.Hour), LastSeenAt: testTime.Add(10 * time.Minute),
		IP: "203.0.113.7", UserAgent: "curl/8.8.0", RotatedAt: testTime,
	}
	for name, idle := range map[string]time.Duration{"no idle timeout": 0, "idle timeout": 30 * time.Minute} {
		t.Run(name, func(t *testing.T) {
			dir := dirWithUsers(t)
			require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile), []byte(file), 0o600))
			opts, logs := testOptions()
			opts.Sessions = true
			opts.SessionIdleTimeout = idle
			opts.Now = func() time.Time { return testTime.Add(time.Minute) }
			db := openDB(t, dir, opts)
			got, err := db.Sessions().SessionByFamily(t.Context(), h)
			require.NoError(t, err)
			w := want
			if idle > 0 {
				w.IdleExpiresAt = w.LastSeenAt.Add(idle)
			}
			assert.Equal(t, w, got)
			assert.Empty(t, logs.String())

			// Written back in the new shape, it reads the same.
			w.LastSeenAt = w.LastSeenAt.Add(time.Second)
			require.NoError(t, db.Sessions().TouchSession(t.Context(), w.ID, w.LastSeenAt, time.Time{}))
			_, err = db.Sessions().DeleteExpired(t.Context())
			require.NoError(t, err)
			require.NoError(t, db.Close())
			opts.SessionIdleTimeout = 0
			got, err = openDB(t, dir, opts).Sessions().SessionByID(t.Context(), w.ID)
			require.NoError(t, err)
			assert.Equal(t, w, got)
		})
	}
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
		if i%2 == 0 {
			// The replaced token's hash is kept, never the token.
			next := make([]byte, 32)
			rand.Read(next)
			tokens = append(tokens, next)
			_, err := db.Sessions().RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family,
				TokenHash: sha256.Sum256([]byte(base64.RawURLEncoding.EncodeToString(next))), RotatedAt: testTime,
				PrevTokenHash: s.TokenHash, PrevValidUntil: testTime.Add(time.Minute)})
			require.NoError(t, err)
		}
	}
	require.NoError(t, db.Sessions().TouchSession(ctx, "5e550000-0000-4000-8000-000000000001", testTime.Add(time.Minute), time.Time{}))
	_, err := db.Sessions().DeleteExpired(ctx)
	require.NoError(t, err)

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
		require.Contains(t, string(data), `"family":"`)
		require.Contains(t, string(data), `"token_hash":"`)
		require.Contains(t, string(data), `"prev_token_hash":"`)
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
			opts.Now = func() time.Time { return testTime }
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
				_, err := ss.SessionByFamily(ctx, sha256.Sum256([]byte(tok)))
				assert.Equal(t, store.ENOTFOUND, codeOf(err))
			}
			want := 0
			if extra {
				want = 2
				for _, s := range []store.Session{kept, journaled} {
					got, err := ss.SessionByFamily(ctx, s.Family)
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
			opts.Now = func() time.Time { return testTime }
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
		"family not hex":     `{"x": {"id": "x", "user_id": "u", "token_hash": "` + strings.Repeat("ab", 32) + `", "family": "` + strings.Repeat("z", 64) + `"}}`,
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

// TestSessionsAfterWriteFailure: once storage has failed, writes are
// refused, but sessions are still found and their uses still recorded (in
// memory), as reads go on being answered.
func TestSessionsAfterWriteFailure(t *testing.T) {
	var fail atomic.Bool
	clock := storetest.NewClock(testTime)
	opts, _ := testOptions()
	opts.Sessions = true
	opts.Now = clock.Now
	opts.syncFile = func(f *os.File) error {
		if fail.Load() {
			return syscall.EIO
		}
		return f.Sync()
	}
	db := openDB(t, t.TempDir(), opts)
	ss := db.Sessions()
	ctx := t.Context()
	a, _ := testSession(0, "alice")
	require.NoError(t, ss.CreateSession(ctx, a))

	fail.Store(true)
	b, _ := testSession(1, "alice")
	assert.Equal(t, store.EUNAVAILABLE, codeOf(ss.CreateSession(ctx, b)))
	for range 3 {
		clock.Add(time.Minute)
		now := clock.Now()
		require.NoError(t, ss.TouchSession(ctx, a.ID, now, now.Add(30*time.Minute)))
		got, err := ss.SessionByFamily(ctx, a.Family)
		require.NoError(t, err)
		assert.Equal(t, now, got.LastSeenAt)
	}
	_, err := ss.RotateToken(ctx, a.ID, a.TokenHash, store.Rotation{Family: a.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: clock.Now()})
	assert.Equal(t, store.EUNAVAILABLE, codeOf(err))
	assert.Equal(t, store.EUNAVAILABLE, codeOf(ss.DeleteSession(ctx, a.ID)))
	_, err = ss.DeleteExpired(ctx)
	assert.Equal(t, store.EUNAVAILABLE, codeOf(err))
}

// dirWithSessionRecords returns a data directory whose sessions snapshot
// holds the record a, of session 5e550000-0000-4000-8000-000000000001,
// and whose sessions journal holds the record b, of session …002: records
// as an earlier version wrote them.
func dirWithSessionRecords(t *testing.T, a, b string) string {
	t.Helper()
	dir := dirWithUsers(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile),
		[]byte(`{`+"\n"+`"5e550000-0000-4000-8000-000000000001": `+a+"\n}\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, sessionsFile+".journal"),
		appendRecord(nil, 1, "put", "5e550000-0000-4000-8000-000000000002", []byte(b)), 0o600))
	return dir
}

// hexHash decodes a token hash written in hex.
func hexHash(t *testing.T, s string) store.TokenHash {
	t.Helper()
	var h store.TokenHash
	require.NoError(t, decodeHash(&h, s))
	return h
}

// TestSessionFileBeforeFamilies: a sessions file in the format written
// before families and milliseconds (a snapshot and a journal record) still
// loads. Each session's family is its token hash, so its current token
// still finds it; whole-second times read as they were. Written back, the
// records gain family and read the same.
func TestSessionFileBeforeFamilies(t *testing.T) {
	hashA, prevA, hashB := strings.Repeat("a1", 32), strings.Repeat("b2", 32), strings.Repeat("c3", 32)
	recA := `{"id":"5e550000-0000-4000-8000-000000000001","user_id":"alice","token_hash":"` + hashA + `",` +
		`"created_at":"2024-05-17T12:30:45","updated_at":"2024-05-17T12:40:45","expires_at":"2024-05-18T12:30:45",` +
		`"idle_expires_at":"2024-05-17T13:10:45","last_seen_at":"2024-05-17T12:40:45","ip":"203.0.113.7",` +
		`"user_agent":"curl/8.8.0","rotated_at":"2024-05-17T12:35:45","prev_token_hash":"` + prevA + `",` +
		`"prev_valid_until":"2024-05-17T12:36:45"}`
	recB := `{"id":"5e550000-0000-4000-8000-000000000002","user_id":"bob","token_hash":"` + hashB + `",` +
		`"created_at":"2024-05-17T12:30:45","updated_at":"2024-05-17T12:30:45","expires_at":null,` +
		`"idle_expires_at":null,"last_seen_at":"2024-05-17T12:30:45","ip":"198.51.100.1",` +
		`"user_agent":"Mozilla/5.0","rotated_at":"2024-05-17T12:30:45"}`
	dir := dirWithSessionRecords(t, recA, recB)
	hash := func(s string) store.TokenHash { return hexHash(t, s) }
	a := store.Session{
		ID: "5e550000-0000-4000-8000-000000000001", Family: hash(hashA), TokenHash: hash(hashA), UserID: "alice",
		CreatedAt: testTime, ExpiresAt: testTime.Add(24 * time.Hour), IdleExpiresAt: testTime.Add(40 * time.Minute),
		LastSeenAt: testTime.Add(10 * time.Minute), IP: "203.0.113.7", UserAgent: "curl/8.8.0",
		RotatedAt: testTime.Add(5 * time.Minute), PrevTokenHash: hash(prevA), PrevValidUntil: testTime.Add(6 * time.Minute),
	}
	b := store.Session{
		ID: "5e550000-0000-4000-8000-000000000002", Family: hash(hashB), TokenHash: hash(hashB), UserID: "bob",
		CreatedAt: testTime, LastSeenAt: testTime, IP: "198.51.100.1", UserAgent: "Mozilla/5.0", RotatedAt: testTime,
	}
	ctx := t.Context()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	for _, s := range []store.Session{a, b} {
		got, err := ss.SessionByFamily(ctx, s.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err := ss.SessionByFamily(ctx, a.PrevTokenHash)
	assert.Equal(t, store.ENOTFOUND, codeOf(err), "a previous token is no family")

	// A rotation keeps the family; a renewal moves to a new one.
	r := store.Rotation{Family: a.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: testTime.Add(1500 * time.Millisecond)}
	_, err = ss.RotateToken(ctx, a.ID, a.TokenHash, r)
	require.NoError(t, err)
	a.TokenHash, a.RotatedAt, a.PrevTokenHash, a.PrevValidUntil = r.TokenHash, r.RotatedAt, store.TokenHash{}, time.Time{}
	r = store.Rotation{Family: storetest.NewTokenHash(), TokenHash: storetest.NewTokenHash(), RotatedAt: testTime}
	_, err = ss.RotateToken(ctx, b.ID, b.TokenHash, r)
	require.NoError(t, err)
	oldB := b.Family
	b.Family, b.TokenHash = r.Family, r.TokenHash
	require.NoError(t, db.Close())

	file, err := os.ReadFile(filepath.Join(dir, sessionsFile))
	require.NoError(t, err)
	assert.Contains(t, string(file), `"family":"`+hashA+`"`)
	assert.Contains(t, string(file), `"rotated_at":"2024-05-17T12:30:46.500Z"`)
	ss = openSessionsDB(t, dir).Sessions()
	for _, s := range []store.Session{a, b} {
		got, err := ss.SessionByFamily(ctx, s.Family)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err = ss.SessionByFamily(ctx, oldB)
	assert.Equal(t, store.ENOTFOUND, codeOf(err), "the family a renewal left")
}

// TestSessionTimesKeepMilliseconds: session times are kept to the
// millisecond (finer parts are dropped on the way in, so a value reads the
// same before and after a restart), through the journal (a crash) and the
// snapshot (a clean close), and a deadline read back from disk ends the
// session at its millisecond.
func TestSessionTimesKeepMilliseconds(t *testing.T) {
	dir := t.TempDir()
	clock := storetest.NewClock(testTime.Add(737 * time.Millisecond))
	db := openSessionsDBAt(t, dir, clock.Now)
	ss := db.Sessions()
	ctx := t.Context()

	a, _ := testSession(1, "alice")
	a.CreatedAt = testTime.Add(123*time.Millisecond + 456*time.Microsecond)
	a.LastSeenAt, a.RotatedAt = a.CreatedAt, a.CreatedAt
	a.IdleExpiresAt = testTime.Add(30*time.Minute + 250*time.Millisecond)
	a.ExpiresAt = testTime.Add(24*time.Hour + 999*time.Millisecond + 999*time.Microsecond)
	require.NoError(t, ss.CreateSession(ctx, a))
	a.CreatedAt, a.LastSeenAt, a.RotatedAt = testTime.Add(123*time.Millisecond), testTime.Add(123*time.Millisecond), testTime.Add(123*time.Millisecond)
	a.ExpiresAt = testTime.Add(24*time.Hour + 999*time.Millisecond)

	seen, idle := testTime.Add(400*time.Millisecond+time.Microsecond), testTime.Add(31*time.Minute+900*time.Millisecond)
	require.NoError(t, ss.TouchSession(ctx, a.ID, seen, idle))
	a.LastSeenAt, a.IdleExpiresAt = testTime.Add(400*time.Millisecond), idle
	r := store.Rotation{Family: a.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: testTime.Add(450 * time.Millisecond),
		PrevTokenHash: a.TokenHash, PrevValidUntil: testTime.Add(1450 * time.Millisecond)}
	_, err := ss.RotateToken(ctx, a.ID, a.TokenHash, r)
	require.NoError(t, err)
	a.TokenHash, a.RotatedAt, a.PrevTokenHash, a.PrevValidUntil = r.TokenHash, r.RotatedAt, r.PrevTokenHash, r.PrevValidUntil

	check := func(ss store.SessionStore, when string) {
		t.Helper()
		got, err := ss.SessionByFamily(ctx, a.Family)
		require.NoError(t, err, when)
		assert.Equal(t, a, got, when)
	}
	check(ss, "in memory")
	crashed := copyDir(t, dir)
	check(openSessionsDBAt(t, crashed, clock.Now).Sessions(), "from the journal")
	require.NoError(t, db.Close())
	file, err := os.ReadFile(filepath.Join(dir, sessionsFile))
	require.NoError(t, err)
	assert.Contains(t, string(file), `"idle_expires_at":"2024-05-17T13:01:45.900Z"`)
	assert.Contains(t, string(file), `"expires_at":"2024-05-18T12:30:45.999Z"`)

	clock.Set(idle.Add(-time.Millisecond))
	ss = openSessionsDBAt(t, dir, clock.Now).Sessions()
	check(ss, "from the snapshot, a millisecond before the idle deadline")
	clock.Set(idle)
	_, err = ss.SessionByFamily(ctx, a.Family)
	assert.Equal(t, store.ENOTFOUND, codeOf(err), "at the idle deadline, to the millisecond")
}

// TestSessionsFileEmptied: a sessions file truncated to 0 bytes stops the
// start, as an empty users file does, with a message that says how to
// start without sessions, and nothing in the directory changes; done as
// it says, the store starts with none.
func TestSessionsFileEmptied(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	require.NoError(t, db.Users().CreateUser(t.Context(), testUser(1)))
	s, _ := testSession(1, testUser(1).ID)
	require.NoError(t, db.Sessions().CreateSession(t.Context(), s))
	require.NoError(t, db.Close())
	path := filepath.Join(dir, sessionsFile)
	require.NoError(t, os.Truncate(path, 0))

	listing := func() map[string]int64 {
		t.Helper()
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		files := map[string]int64{}
		for _, e := range entries {
			fi, err := e.Info()
			require.NoError(t, err)
			files[e.Name()] = fi.Size()
		}
		return files
	}
	before := listing()
	opts, _ := testOptions()
	opts.Sessions = true
	_, err := Open(dir, opts)
	assert.EqualError(t, err, path+": the file is empty (0 bytes): refusing to start without the sessions; "+
		"restore .db_UserSession.json from a backup, or move it and its journals (.db_UserSession.json.journal*) "+
		"aside to start without sessions (their users sign in again)")
	assert.Equal(t, before, listing(), "files were changed")

	aside := t.TempDir()
	moved, err := filepath.Glob(path + "*")
	require.NoError(t, err)
	require.NotEmpty(t, moved)
	for _, p := range moved {
		require.NoError(t, os.Rename(p, filepath.Join(aside, filepath.Base(p))))
	}
	db = openSessionsDB(t, dir)
	n, err := db.Sessions().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = db.Users().UserByID(t.Context(), testUser(1).ID)
	assert.NoError(t, err, "the users are kept")
}

// TestSessionRecordSizeBounded: what a session costs does not grow with
// its rotations. After 1,000 its record on disk (the snapshot, after the
// compaction at Close) is as long as after one, and memory holds one value
// and one index entry for it.
func TestSessionRecordSizeBounded(t *testing.T) {
	dir := t.TempDir()
	clock := storetest.NewClock(storetest.Start())
	db := openSessionsDBAt(t, dir, clock.Now)
	s := storetest.Session(1, "alice", clock.Now())
	require.NoError(t, db.Sessions().CreateSession(t.Context(), s))
	s = storetest.RotateMany(t, db.Sessions(), s, 1)
	require.NoError(t, db.Close())
	oneRec, oneFile := sessionOnDisk(t, dir, s.ID)

	db = openSessionsDBAt(t, dir, clock.Now)
	s = storetest.RotateMany(t, db.Sessions(), s, 999)
	db.sessions.t.mu.RLock()
	assert.Equal(t, 1, db.sessions.t.len())
	assert.Len(t, db.sessions.t.order, 1)
	assert.Len(t, db.sessions.byFamily, 1)
	assert.Len(t, db.sessions.byUser["alice"], 1)
	db.sessions.t.mu.RUnlock()
	require.NoError(t, db.Close())
	manyRec, manyFile := sessionOnDisk(t, dir, s.ID)

	assert.NotEqual(t, string(oneRec), string(manyRec), "the record changed")
	assert.Equal(t, len(oneRec), len(manyRec), "record size after 1 and after 1,000 rotations")
	assert.Equal(t, oneFile, manyFile, "sessions file size after 1 and after 1,000 rotations")
	enc, err := encodeSession(normalizeSession(s))
	require.NoError(t, err)
	assert.Equal(t, string(enc), string(manyRec))
	t.Logf("one session with a previous token: %d-byte record, %d-byte sessions file", len(manyRec), manyFile)
}

// sessionOnDisk returns the record of session id in dir's sessions
// snapshot and the snapshot's size, checking that the journal is empty.
func sessionOnDisk(t *testing.T, dir, id string) (json.RawMessage, int64) {
	t.Helper()
	recs := snapshotOnDisk(t, dir, sessionsFile)
	require.Contains(t, recs, id)
	snap, err := os.Stat(filepath.Join(dir, sessionsFile))
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(dir, sessionsFile+".journal"))
	require.NoError(t, err)
	require.Zero(t, st.Size(), "journal after a close")
	return recs[id], snap.Size()
}
