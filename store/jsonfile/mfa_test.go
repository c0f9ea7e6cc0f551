package jsonfile

import (
	"encoding/json"
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

// TestUserWithoutFactorsKeepsItsRecord: a user without second factors is
// written byte for byte as before factors existed, in the journal and in
// the snapshot, so the old service's users file keeps its shape; empty
// factors (lists with nothing in them) count as none.
func TestUserWithoutFactorsKeepsItsRecord(t *testing.T) {
	const rec1 = `{"id":"00000000-0000-4000-8000-000000000001","created_at":"2024-05-17T12:30:46",` +
		`"updated_at":"2024-05-17T12:30:46","email":"user1@example.com",` +
		`"_password":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",` +
		`"first_name":"First1","last_name":"Last1","role":"user"}`
	const rec2 = `{"id":"bare","created_at":"2017-09-25T01:55:17","updated_at":"2017-09-25T01:55:17",` +
		`"email":null,"_password":null,"first_name":null,"last_name":null,"role":"user"}`

	dir := t.TempDir()
	opts, _ := testOptions()
	db := openDB(t, dir, opts)
	ctx := t.Context()
	u1 := testUser(1)
	u1.Factors = store.Factors{RecoveryCodes: []store.RecoveryCode{}, Passkeys: []store.Passkey{}}
	bare := store.User{ID: "bare", Role: store.RoleUser,
		CreatedAt: time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC), UpdatedAt: time.Date(2017, 9, 25, 1, 55, 17, 0, time.UTC)}
	require.NoError(t, db.Users().CreateUser(ctx, u1))
	require.NoError(t, db.Users().CreateUser(ctx, bare))
	got, err := db.Users().UserByID(ctx, u1.ID)
	require.NoError(t, err)
	assert.Equal(t, testUser(1), got, "empty factors are none")

	journal, err := os.ReadFile(filepath.Join(dir, usersFile+".journal"))
	require.NoError(t, err)
	want := string(appendRecord(nil, 1, "put", u1.ID, []byte(rec1))) + string(appendRecord(nil, 2, "put", bare.ID, []byte(rec2)))
	assert.Equal(t, want, string(journal))

	require.NoError(t, db.Close())
	snapshot, err := os.ReadFile(filepath.Join(dir, usersFile))
	require.NoError(t, err)
	assert.Equal(t, "{\n\""+u1.ID+"\": "+rec1+",\n\"bare\": "+rec2+"\n}\n", string(snapshot))
}

// TestUserFactorsRoundTrip: a user's factors are written under
// second_factors, in store.Factors' JSON format, and read back equal from
// the journal (a crash) and the snapshot (a clean close); removed, the key
// goes and the record is as before.
func TestUserFactorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions()
	db := openDB(t, dir, opts)
	ctx := t.Context()
	u, plain := testUser(1), testUser(2)
	u.Factors = storetest.SampleFactors()
	// Times in another zone come back in UTC, as after a restart.
	u.Factors.TOTP.CreatedAt = u.Factors.TOTP.CreatedAt.In(time.FixedZone("X", 3600))
	require.NoError(t, db.Users().CreateUser(ctx, u))
	require.NoError(t, db.Users().CreateUser(ctx, plain))
	u.Factors = storetest.SampleFactors()
	got, err := db.Users().UserByID(ctx, u.ID)
	require.NoError(t, err)
	assert.Equal(t, u, got)

	check := func(dir, when string) {
		t.Helper()
		db := openDB(t, dir, opts)
		list, err := db.Users().ListUsers(ctx)
		require.NoError(t, err, when)
		assert.Equal(t, []store.User{u, plain}, list, when)
		require.NoError(t, db.Close())
	}
	crashed := copyDir(t, dir)
	check(crashed, "from the journal")
	require.NoError(t, db.Close())
	check(dir, "from the snapshot")

	// The record: the old keys, then second_factors in Factors' format.
	recs := snapshotOnDisk(t, dir, usersFile)
	var rec map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(recs[u.ID], &rec))
	wantFactors, err := json.Marshal(storetest.SampleFactors())
	require.NoError(t, err)
	assert.JSONEq(t, string(wantFactors), string(rec["second_factors"]))
	assert.Contains(t, string(recs[u.ID]), `"role":"user","second_factors":{"totp":{"secret":"AQID+g==","confirmed":true,`)
	assert.NotContains(t, string(recs[plain.ID]), "second_factors")

	// Removed, the record is as the old service wrote it again.
	db = openDB(t, dir, opts)
	_, err = db.Users().UpdateUser(ctx, u.ID, func(u *store.User) error { u.Factors = store.Factors{}; return nil })
	require.NoError(t, err)
	require.NoError(t, db.Close())
	recs = snapshotOnDisk(t, dir, usersFile)
	before := testUser(1)
	want, err := encodeUser(&before)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(recs[u.ID]))
}

// TestSessionAuthPersists: a session's AAL and AuthAt survive a crash and
// a clean close, to the millisecond; a session without them is written
// without the keys.
func TestSessionAuthPersists(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	ctx := t.Context()
	a, _ := testSession(1, "alice")
	b, _ := testSession(2, "alice")
	a.AAL = store.AALPending
	for _, s := range []store.Session{a, b} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	at := testTime.Add(1250*time.Millisecond + 300*time.Microsecond)
	got, err := ss.SetSessionAuth(ctx, a.ID, store.AAL2, at)
	require.NoError(t, err)
	a.AAL, a.AuthAt = store.AAL2, testTime.Add(1250*time.Millisecond)
	assert.Equal(t, a, got)

	check := func(ss store.SessionStore, when string) {
		t.Helper()
		list, err := ss.ListSessions(ctx, "alice")
		require.NoError(t, err, when)
		assert.Equal(t, []store.Session{a, b}, list, when)
	}
	check(ss, "in memory")
	check(openSessionsDB(t, copyDir(t, dir)).Sessions(), "from the journal")
	require.NoError(t, db.Close())
	check(openSessionsDB(t, dir).Sessions(), "from the snapshot")

	recs := snapshotOnDisk(t, dir, sessionsFile)
	assert.Contains(t, string(recs[a.ID]), `"aal":"aal2","auth_at":"2024-05-17T12:30:46.250Z"`)
	assert.NotContains(t, string(recs[b.ID]), `"aal"`)
	assert.NotContains(t, string(recs[b.ID]), `"auth_at"`)
}

// TestSessionFileBeforeAuth: records in today's format, written before
// sessions had an assurance level (a snapshot and a journal record), load
// with AAL "" and a zero AuthAt, and SetSessionAuth works on them.
func TestSessionFileBeforeAuth(t *testing.T) {
	family, hashA, hashB := strings.Repeat("f0", 32), strings.Repeat("a1", 32), strings.Repeat("c3", 32)
	recA := `{"id":"5e550000-0000-4000-8000-000000000001","user_id":"alice","family":"` + family + `",` +
		`"token_hash":"` + hashA + `","created_at":"2024-05-17T12:30:45.125Z","updated_at":"2024-05-17T12:40:45.000Z",` +
		`"expires_at":"2024-05-18T12:30:45.125Z","idle_expires_at":"2024-05-17T13:10:45.000Z",` +
		`"last_seen_at":"2024-05-17T12:40:45.000Z","ip":"203.0.113.7","user_agent":"curl/8.8.0",` +
		`"rotated_at":"2024-05-17T12:30:45.125Z"}`
	recB := `{"id":"5e550000-0000-4000-8000-000000000002","user_id":"bob","family":"` + hashB + `",` +
		`"token_hash":"` + hashB + `","created_at":"2024-05-17T12:30:45.000Z","updated_at":"2024-05-17T12:30:45.000Z",` +
		`"expires_at":null,"idle_expires_at":null,"last_seen_at":"2024-05-17T12:30:45.000Z","ip":"198.51.100.1",` +
		`"user_agent":"Mozilla/5.0","rotated_at":"2024-05-17T12:30:45.000Z"}`
	dir := dirWithSessionRecords(t, recA, recB)
	hash := func(s string) store.TokenHash { return hexHash(t, s) }
	ms := time.Millisecond
	a := store.Session{
		ID: "5e550000-0000-4000-8000-000000000001", Family: hash(family), TokenHash: hash(hashA), UserID: "alice",
		CreatedAt: testTime.Add(125 * ms), ExpiresAt: testTime.Add(24*time.Hour + 125*ms), IdleExpiresAt: testTime.Add(40 * time.Minute),
		LastSeenAt: testTime.Add(10 * time.Minute), IP: "203.0.113.7", UserAgent: "curl/8.8.0", RotatedAt: testTime.Add(125 * ms),
	}
	b := store.Session{
		ID: "5e550000-0000-4000-8000-000000000002", Family: hash(hashB), TokenHash: hash(hashB), UserID: "bob",
		CreatedAt: testTime, LastSeenAt: testTime, IP: "198.51.100.1", UserAgent: "Mozilla/5.0", RotatedAt: testTime,
	}
	ctx := t.Context()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	for _, s := range []store.Session{a, b} {
		got, err := ss.SessionByFamily(ctx, s.Family)
		require.NoError(t, err)
		assert.Equal(t, s, got)
		assert.Equal(t, "", got.AAL)
		assert.True(t, got.AuthAt.IsZero())
	}
	// Written back unchanged, a record is as it was.
	enc, err := encodeSession(&b)
	require.NoError(t, err)
	assert.Equal(t, recB, string(enc))

	got, err := ss.SetSessionAuth(ctx, b.ID, store.AAL1, testTime.Add(ms))
	require.NoError(t, err)
	b.AAL, b.AuthAt = store.AAL1, testTime.Add(ms)
	assert.Equal(t, b, got)
	require.NoError(t, db.Close())
	ss = openSessionsDB(t, dir).Sessions()
	for _, s := range []store.Session{a, b} {
		got, err := ss.SessionByID(ctx, s.ID)
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
}

// TestChallengesInMemoryOnly: challenges are never written to the data
// directory and do not survive a restart (see sessionStore); a returned
// challenge is the caller's, and what Put was given is copied.
func TestChallengesInMemoryOnly(t *testing.T) {
	dir := t.TempDir()
	db := openSessionsDB(t, dir)
	ss := db.Sessions()
	ctx := t.Context()
	data := []byte("challenge-data-to-look-for")
	require.NoError(t, ss.PutChallenge(ctx, "k1", data, time.Minute))
	require.NoError(t, ss.PutChallenge(ctx, "k2", data, time.Minute))
	data[0] = 'X'
	got, err := ss.TakeChallenge(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, "challenge-data-to-look-for", string(got), "Put copies its data")
	require.NoError(t, ss.PutChallenge(ctx, "k3", nil, time.Minute))
	got, err = ss.TakeChallenge(ctx, "k3")
	require.NoError(t, err)
	assert.Empty(t, got)

	for _, d := range []string{copyDir(t, dir), dir} {
		for name, b := range dirContents(t, d) {
			assert.NotContains(t, b, "look-for", name)
		}
	}
	require.NoError(t, db.Close())
	_, err = openSessionsDB(t, dir).Sessions().TakeChallenge(ctx, "k2")
	assert.Equal(t, store.ENOTFOUND, codeOf(err), "gone with the restart")
}
