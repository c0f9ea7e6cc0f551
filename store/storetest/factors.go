package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// SampleFactors returns factors with every field set: a confirmed TOTP
// secret, two recovery codes (one used) and a passkey, with times in whole
// seconds, UTC.
func SampleFactors() store.Factors {
	used := UserTime.Add(time.Hour)
	return store.Factors{
		TOTP: &store.TOTP{Secret: []byte{1, 2, 3, 250}, Confirmed: true, CreatedAt: UserTime, LastStep: 57_012_345},
		RecoveryCodes: []store.RecoveryCode{
			{Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			{Hash: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752", UsedAt: &used},
		},
		Passkeys: []store.Passkey{{
			ID: []byte("credential-1"), Name: "laptop", PublicKey: []byte{0xa5, 1, 2, 3},
			AttestationType: "none", AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"},
			SignCount: 7, BackupEligible: true, BackupState: true, CreatedAt: UserTime, LastUsedAt: &used,
		}},
	}
}

// usersFactors: a user's factors are kept with the user, come back equal,
// change with UpdateUser and are copies.
func usersFactors(t *testing.T, us store.UserStore) {
	ctx := t.Context()
	plain, withFactors := User(1, "plain@example.com", store.RoleAdmin), User(2, "mfa@example.com", store.RoleUser)
	withFactors.Factors = SampleFactors()
	require.NoError(t, us.CreateUser(ctx, plain))
	require.NoError(t, us.CreateUser(ctx, withFactors))

	got, err := us.UserByID(ctx, withFactors.ID)
	require.NoError(t, err)
	assert.Equal(t, withFactors, got)
	got.Factors.Passkeys[0].Name = "changed"
	got.Factors.TOTP.Secret[0] = 99
	got, err = us.UserByEmail(ctx, "MFA@example.com")
	require.NoError(t, err)
	assert.Equal(t, withFactors, got, "a returned user is a copy, factors included")
	got, err = us.UserByID(ctx, plain.ID)
	require.NoError(t, err)
	assert.True(t, got.Factors.IsZero())

	// Enrol on the plain user; remove from the other.
	updated, err := us.UpdateUser(ctx, plain.ID, func(u *store.User) error {
		u.Factors.TOTP = &store.TOTP{Secret: []byte("sealed"), CreatedAt: UserTime}
		return nil
	})
	require.NoError(t, err)
	require.NotNil(t, updated.Factors.TOTP)
	assert.False(t, updated.Factors.Enrolled(), "not confirmed yet")
	_, err = us.UpdateUser(ctx, withFactors.ID, func(u *store.User) error {
		u.Factors = store.Factors{}
		return nil
	})
	require.NoError(t, err)
	list, err := us.ListUsers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []byte("sealed"), list[0].Factors.TOTP.Secret)
	assert.True(t, list[1].Factors.IsZero(), "removed")
}

// testSessionAuth: a session's assurance level and authentication time
// round-trip, and SetSessionAuth changes them in place.
func testSessionAuth(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a, b := Session(1, "alice", now), Session(2, "alice", now)
	a.AAL, a.AuthAt = store.AAL2, now.Add(-time.Minute+3*time.Millisecond)
	b.AAL = store.AALPending
	for _, s := range []store.Session{a, b} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	got, err := ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got)
	got, err = ss.SessionByID(ctx, b.ID)
	require.NoError(t, err)
	EqualSession(t, b, got)

	at := now.Add(250 * time.Millisecond)
	got, err = ss.SetSessionAuth(ctx, b.ID, store.AAL1, at)
	require.NoError(t, err)
	b.AAL, b.AuthAt = store.AAL1, at
	EqualSession(t, b, got, "the updated session is returned")
	got, err = ss.SessionByFamily(ctx, b.Family)
	require.NoError(t, err)
	EqualSession(t, b, got)
	EqualSessions(t, []store.Session{a, b}, list(t, ss, "alice"))

	_, err = ss.SetSessionAuth(ctx, "nope", store.AAL2, at)
	notFound(t, err)
	clock.Add(2 * time.Hour) // past both idle deadlines
	_, err = ss.SetSessionAuth(ctx, a.ID, store.AAL2, clock.Now())
	notFound(t, err, "an expired session")
}

// testChallenges: a challenge is kept until its time to live has passed,
// and taken once.
func testChallenges(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	data := []byte(`{"challenge":"c2FtcGxl","user_id":"alice"}`)
	require.NoError(t, ss.PutChallenge(ctx, "k1", data, time.Minute))
	require.NoError(t, ss.PutChallenge(ctx, "k2", []byte("two"), 2*time.Minute))
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.PutChallenge(ctx, "k1", []byte("again"), time.Minute)))
	for _, bad := range []struct {
		key  string
		data []byte
		ttl  time.Duration
	}{{"", data, time.Minute}, {"k3", data, 0}, {"k4", make([]byte, store.MaxChallenge+1), time.Minute}} {
		assert.Equal(t, store.EINVALID, store.ErrorCode(ss.PutChallenge(ctx, bad.key, bad.data, bad.ttl)), bad.key)
	}

	got, err := ss.TakeChallenge(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, data, got)
	_, err = ss.TakeChallenge(ctx, "k1")
	notFound(t, err, "taken once")
	_, err = ss.TakeChallenge(ctx, "nope")
	notFound(t, err)

	clock.Add(2*time.Minute - time.Millisecond)
	require.NoError(t, ss.PutChallenge(ctx, "k5", []byte("five"), time.Second))
	clock.Add(time.Millisecond)
	_, err = ss.TakeChallenge(ctx, "k2")
	notFound(t, err, "expired, to the millisecond")
	_, err = ss.DeleteExpired(ctx)
	require.NoError(t, err)
	got, err = ss.TakeChallenge(ctx, "k5")
	require.NoError(t, err, "a live one survives DeleteExpired")
	assert.Equal(t, []byte("five"), got)
	assert.Zero(t, count(t, ss), "challenges are not sessions")
}
