package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

// Indexes left behind by a step that failed midway (a process killed
// between two, an outage) point to nothing: every read ignores them, a
// new session may take the id, and revocations count only sessions.
func TestStaleIndexesIgnored(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s := session(1, "alice")
	orphan := pointer{key: hashText(storetest.NewTokenHash()), user: "alice"}
	// The steps of a create that stopped before the session itself.
	require.NoError(t, c.Set(ctx, ss.idKey(s.ID), orphan.String(), 0).Err())
	require.NoError(t, c.ZAdd(ctx, ss.userKey("alice"), goredis.Z{Score: 1, Member: s.ID}).Err())
	require.NoError(t, c.Set(ctx, ss.aliasKey(hashText(s.Family)), orphan.key, 0).Err())

	_, err := ss.SessionByID(ctx, s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, err = ss.SessionByFamily(ctx, s.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, s.ID, baseTime, time.Time{})))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.DeleteSession(ctx, s.ID)))
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, list)
	n, err := ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Zero(t, n)

	// The id and the family are free: the index keys are taken over.
	require.NoError(t, ss.CreateSession(ctx, s))
	got, err := ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	got, err = ss.SessionByID(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, s, got)
	n, err = ss.CountSessions(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// A session whose family another session's key holds (that session was
// renewed away from it) gets a key of its own, found through the family's
// t: key; deleting it leaves the other alone.
func TestFamilyOfARenewedSession(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	a := session(1, "alice")
	require.NoError(t, ss.CreateSession(ctx, a))
	r := store.Rotation{Family: storetest.NewTokenHash(), TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime.Add(time.Second)}
	renewed, err := ss.RotateToken(ctx, a.ID, a.TokenHash, r)
	require.NoError(t, err)

	b := session(2, "bob")
	b.Family = a.Family
	require.NoError(t, ss.CreateSession(ctx, b))
	p, ok, err := ss.pointerOf(ctx, b.ID)
	require.NoError(t, err)
	require.True(t, ok)
	assert.NotEqual(t, hashText(b.Family), p.key, "a key of its own")
	assert.Equal(t, hashText(b.Family), p.alias)
	got, err := ss.SessionByFamily(ctx, b.Family)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	got, err = ss.SessionByFamily(ctx, r.Family)
	require.NoError(t, err)
	assert.Equal(t, renewed, got)

	// Renewing b too moves its family's t: key.
	r2 := store.Rotation{Family: storetest.NewTokenHash(), TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime.Add(time.Second)}
	_, err = ss.RotateToken(ctx, b.ID, b.TokenHash, r2)
	require.NoError(t, err)
	_, err = ss.SessionByFamily(ctx, b.Family)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.NotContains(t, keysUnder(t, ss.c, ss.prefix), ss.aliasKey(hashText(b.Family)))

	require.NoError(t, ss.DeleteSession(ctx, b.ID))
	got, err = ss.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, renewed, got)
	require.NoError(t, ss.DeleteSession(ctx, a.ID))
	assert.Empty(t, keysUnder(t, ss.c, ss.prefix), "nothing left behind")
}

// A session without an absolute deadline has index keys without a TTL:
// once it has ended by its idle deadline, DeleteExpired removes them.
func TestDeleteExpiredRemovesIndexes(t *testing.T) {
	ss, clk := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	s := session(1, "alice")
	s.ExpiresAt, s.IdleExpiresAt = time.Time{}, baseTime.Add(time.Hour)
	require.NoError(t, ss.CreateSession(ctx, s))
	for _, k := range []string{ss.idKey(s.ID), ss.userKey("alice")} {
		ttl, err := c.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Equal(t, time.Duration(-1), ttl, "%s: no TTL", k)
	}
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Len(t, keysUnder(t, c, ss.prefix), 4, "live: nothing removed")

	clk.Add(time.Hour)
	_, err = ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Empty(t, keysUnder(t, c, ss.prefix))
}

// An attempt the address refuses is given back to the account: it does
// not count as in flight.
func TestLimiterGivesBackAnAttemptTheAddressRefuses(t *testing.T) {
	limits := testLimits
	limits.IPBurst = 1
	l, _ := newLimiter(t, limits)
	ctx := t.Context()
	_, ok, err := l.Allow(ctx, "bob@example.com", "198.51.100.1")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, l.Success(ctx, "bob@example.com", "198.51.100.1"))
	_, ok, err = l.Allow(ctx, "carol@example.com", "198.51.100.1")
	require.NoError(t, err)
	require.True(t, ok, "the success gave the token back")
	wait, ok, err := l.Allow(ctx, "dave@example.com", "198.51.100.1")
	require.NoError(t, err)
	require.False(t, ok)
	assert.Positive(t, wait)
	inFlight, err := l.c.ZCard(ctx, l.accountKeys("dave@example.com")[2]).Result()
	require.NoError(t, err)
	assert.Zero(t, inFlight, "dave's refused attempt is not in flight")
}
