package redis

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

// writeLegacy writes session s by hand as the store laid sessions out
// before families and millisecond times: no family field, times in Unix
// nanoseconds, and index keys t:<token hash> for its current and previous
// tokens. It returns s as the store now reads it: its token hash is its
// family, its times are kept to the millisecond.
func writeLegacy(t *testing.T, ss *Sessions, s store.Session) store.Session {
	t.Helper()
	ctx := t.Context()
	ns := func(v time.Time) string {
		if v.IsZero() {
			return ""
		}
		return strconv.FormatInt(v.UnixNano(), 10)
	}
	hexOf := func(h store.TokenHash) string {
		if h == (store.TokenHash{}) {
			return ""
		}
		return hex.EncodeToString(h[:])
	}
	ttl := s.Deadline().Sub(ss.now())
	_, err := ss.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		sk := ss.prefix + "s:" + s.ID
		p.HSet(ctx, sk, map[string]any{
			"id": s.ID, "user": s.UserID, "hash": hexOf(s.TokenHash), "prev": hexOf(s.PrevTokenHash),
			"created": ns(s.CreatedAt), "expires": ns(s.ExpiresAt), "idle": ns(s.IdleExpiresAt),
			"seen": ns(s.LastSeenAt), "ip": s.IP, "ua": s.UserAgent, "rotated": ns(s.RotatedAt),
			"prev_until": ns(s.PrevValidUntil),
		})
		p.PExpire(ctx, sk, ttl)
		p.Set(ctx, ss.prefix+"t:"+hexOf(s.TokenHash), s.ID, ttl)
		if s.PrevTokenHash != (store.TokenHash{}) {
			p.Set(ctx, ss.prefix+"t:"+hexOf(s.PrevTokenHash), s.ID, ttl)
		}
		p.ZAdd(ctx, ss.prefix+"u:"+s.UserID, goredis.Z{Score: float64(s.CreatedAt.UnixMilli()), Member: s.ID})
		p.PExpire(ctx, ss.prefix+"u:"+s.UserID, ttl)
		p.ZAdd(ctx, ss.prefix+"live", goredis.Z{Score: float64(s.Deadline().UnixMilli()), Member: s.ID})
		return nil
	})
	require.NoError(t, err)

	s.Family = s.TokenHash
	for _, p := range []*time.Time{&s.CreatedAt, &s.ExpiresAt, &s.IdleExpiresAt, &s.LastSeenAt, &s.RotatedAt, &s.PrevValidUntil} {
		*p = p.Truncate(time.Millisecond)
	}
	return s
}

// legacySession is a session as stored before families: rotated once
// (so it has a previous token), with times off the millisecond.
func legacySession(i int, user string) store.Session {
	s := session(i, user)
	s.Family = store.TokenHash{}
	s.PrevTokenHash = storetest.NewTokenHash()
	s.RotatedAt = baseTime.Add(-time.Minute + 123456789)
	s.PrevValidUntil = baseTime.Add(987654321)
	s.LastSeenAt = baseTime.Add(-time.Second + 400_000)
	s.IdleExpiresAt = baseTime.Add(time.Hour + 600_000) // 0.6 ms past a whole ms
	return s
}

// Sessions stored before families load, are found by their token hash as
// family (not by their previous token), and take touches, rotations,
// renewals and deletion; what the store writes to them is in the new
// layout.
func TestSessionStoredBeforeFamilies(t *testing.T) {
	t.Run("Read", func(t *testing.T) {
		ss, _ := newSessions(t)
		ctx := t.Context()
		want := writeLegacy(t, ss, legacySession(1, "alice"))

		got, err := ss.SessionByFamily(ctx, want.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, want, got, "its token hash is its family; times to the ms")
		_, err = ss.SessionByFamily(ctx, want.PrevTokenHash)
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "its previous token's key finds nothing")
		got, err = ss.SessionByID(ctx, want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		list, err := ss.ListSessions(ctx, "alice")
		require.NoError(t, err)
		assert.Equal(t, []store.Session{want}, list)
		n, err := ss.CountSessions(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		// Its family is in use.
		dup := session(2, "bob")
		dup.Family = want.Family
		assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, dup)))
		// Its previous token's key names it, but is no family of it.
		free := session(3, "bob")
		free.Family = want.PrevTokenHash
		require.NoError(t, ss.CreateSession(ctx, free))
		got, err = ss.SessionByFamily(ctx, free.Family)
		require.NoError(t, err)
		assert.Equal(t, free, got)
	})

	// The stored idle deadline is 0.6 ms past a whole millisecond: the Go
	// reads and the scripts both end the session at that millisecond.
	t.Run("Deadline", func(t *testing.T) {
		ss, clk := newSessions(t)
		ctx := t.Context()
		want := writeLegacy(t, ss, legacySession(1, "alice"))

		clk.Set(want.IdleExpiresAt.Add(-time.Millisecond))
		_, err := ss.SessionByFamily(ctx, want.Family)
		require.NoError(t, err)
		require.NoError(t, ss.TouchSession(ctx, want.ID, time.Time{}, time.Time{}), "live for the touch script")
		clk.Set(want.IdleExpiresAt)
		_, err = ss.SessionByFamily(ctx, want.Family)
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ss.TouchSession(ctx, want.ID, time.Time{}, time.Time{})))
		_, err = ss.RotateToken(ctx, want.ID, want.TokenHash, store.Rotation{Family: want.Family, TokenHash: storetest.NewTokenHash()})
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	})

	t.Run("TouchAndRotate", func(t *testing.T) {
		ss, _ := newSessions(t)
		ctx := t.Context()
		c := ss.c.(*goredis.Client)
		want := writeLegacy(t, ss, legacySession(1, "alice"))

		// Touches compare with the stored nanoseconds at the millisecond:
		// the same millisecond is not later.
		require.NoError(t, ss.TouchSession(ctx, want.ID, want.LastSeenAt, want.IdleExpiresAt))
		got, err := ss.SessionByID(ctx, want.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got, "nothing later")
		seen, idle := want.LastSeenAt.Add(time.Millisecond), want.IdleExpiresAt.Add(time.Hour)
		require.NoError(t, ss.TouchSession(ctx, want.ID, seen, idle))
		want.LastSeenAt, want.IdleExpiresAt = seen, idle
		got, err = ss.SessionByFamily(ctx, want.Family)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		for _, k := range []string{ss.sessionKey(want.ID), ss.familyKey(want.Family)} {
			ttl, err := c.PTTL(ctx, k).Result()
			require.NoError(t, err)
			assert.InDelta(t, 2*time.Hour, ttl, float64(5*time.Second), "moved with the idle deadline: %s", k)
		}
		stored, err := c.HGetAll(ctx, ss.sessionKey(want.ID)).Result()
		require.NoError(t, err)
		assert.Equal(t, strconv.FormatInt(seen.UnixMilli(), 10), stored["seen"], "written in ms")
		assert.Len(t, stored["created"], 19, "untouched: still ns")

		// A rotation keeps the family (its first token's hash), writes it
		// down, and drops the key of the previous token.
		r := store.Rotation{Family: want.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime.Add(time.Second),
			PrevTokenHash: want.TokenHash, PrevValidUntil: baseTime.Add(time.Minute)}
		got, err = ss.RotateToken(ctx, want.ID, want.TokenHash, r)
		require.NoError(t, err)
		oldPrev := want.PrevTokenHash
		want.TokenHash, want.RotatedAt, want.PrevTokenHash, want.PrevValidUntil = r.TokenHash, r.RotatedAt, r.PrevTokenHash, r.PrevValidUntil
		assert.Equal(t, want, got)
		got, err = ss.SessionByFamily(ctx, want.Family)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, hex.EncodeToString(want.Family[:]), c.HGet(ctx, ss.sessionKey(want.ID), "family").Val())
		assert.ElementsMatch(t, []string{ss.sessionKey(want.ID), ss.familyKey(want.Family), ss.userKey("alice"), ss.liveKey()},
			keysUnder(t, c, ss.prefix), "the previous token's key is gone: %x", oldPrev)

		require.NoError(t, ss.DeleteSession(ctx, want.ID))
		assert.Empty(t, keysUnder(t, c, ss.prefix))
	})

	t.Run("Renew", func(t *testing.T) {
		ss, _ := newSessions(t)
		ctx := t.Context()
		c := ss.c.(*goredis.Client)
		want := writeLegacy(t, ss, legacySession(1, "alice"))

		r := store.Rotation{Family: storetest.NewTokenHash(), TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime}
		got, err := ss.RotateToken(ctx, want.ID, want.TokenHash, r)
		require.NoError(t, err)
		oldFamily := want.Family
		want.Family, want.TokenHash, want.RotatedAt, want.PrevTokenHash, want.PrevValidUntil = r.Family, r.TokenHash, r.RotatedAt, store.TokenHash{}, time.Time{}
		assert.Equal(t, want, got)
		_, err = ss.SessionByFamily(ctx, oldFamily)
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
		assert.ElementsMatch(t, []string{ss.sessionKey(want.ID), ss.familyKey(want.Family), ss.userKey("alice"), ss.liveKey()},
			keysUnder(t, c, ss.prefix), "both token keys gone")
	})

	// It has no assurance level (AAL "", counting as AAL1) and no
	// authentication time, and takes both.
	t.Run("Auth", func(t *testing.T) {
		ss, clk := newSessions(t)
		ctx := t.Context()
		c := ss.c.(*goredis.Client)
		want := writeLegacy(t, ss, legacySession(1, "alice"))
		got, err := ss.SessionByID(ctx, want.ID)
		require.NoError(t, err)
		assert.Empty(t, got.AAL)
		assert.True(t, got.AuthAt.IsZero())

		at := baseTime.Add(1500 * time.Microsecond)
		got, err = ss.SetSessionAuth(ctx, want.ID, store.AAL2, at)
		require.NoError(t, err)
		want.AAL, want.AuthAt = store.AAL2, at.Truncate(time.Millisecond)
		assert.Equal(t, want, got, "the rest as it was")
		got, err = ss.SessionByFamily(ctx, want.Family)
		require.NoError(t, err)
		assert.Equal(t, want, got)
		stored, err := c.HGetAll(ctx, ss.sessionKey(want.ID)).Result()
		require.NoError(t, err)
		assert.Equal(t, "aal2", stored["aal"])
		assert.Equal(t, strconv.FormatInt(at.UnixMilli(), 10), stored["auth_at"], "written in ms")
		assert.Len(t, stored["created"], 19, "untouched: still ns")

		clk.Set(want.IdleExpiresAt) // the 0.6 ms past it are not kept
		_, err = ss.SetSessionAuth(ctx, want.ID, store.AAL1, clk.Now())
		assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "ended")
	})

	t.Run("Delete", func(t *testing.T) {
		ss, _ := newSessions(t)
		ctx := t.Context()
		c := ss.c.(*goredis.Client)
		a := writeLegacy(t, ss, legacySession(1, "alice"))
		writeLegacy(t, ss, legacySession(2, "alice"))
		require.NoError(t, ss.DeleteSession(ctx, a.ID))
		n, err := ss.DeleteUserSessions(ctx, "alice", "")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Empty(t, keysUnder(t, c, ss.prefix), "with both token keys of each")
	})
}

// A session stored before assurance levels, in the layout of families and
// ms times but without the aal and auth_at fields, loads with AAL "" and a
// zero AuthAt, everywhere, and takes SetSessionAuth.
func TestSessionStoredBeforeAssuranceLevels(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	want := session(1, "alice")
	want.AAL, want.AuthAt = store.AAL2, baseTime // dropped below
	require.NoError(t, ss.CreateSession(ctx, want))
	require.NoError(t, c.HDel(ctx, ss.sessionKey(want.ID), "aal", "auth_at").Err())
	want.AAL, want.AuthAt = "", time.Time{}

	got, err := ss.SessionByFamily(ctx, want.Family)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = ss.SessionByID(ctx, want.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{want}, list)
	r := store.Rotation{Family: want.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime.Add(time.Second)}
	got, err = ss.RotateToken(ctx, want.ID, want.TokenHash, r)
	require.NoError(t, err)
	want.TokenHash, want.RotatedAt = r.TokenHash, r.RotatedAt
	assert.Equal(t, want, got)

	got, err = ss.SetSessionAuth(ctx, want.ID, store.AALPending, baseTime.Add(time.Second))
	require.NoError(t, err)
	want.AAL, want.AuthAt = store.AALPending, baseTime.Add(time.Second)
	assert.Equal(t, want, got)
	got, err = ss.SessionByID(ctx, want.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// Times are written in ms; values in ns, as stored before, still read,
// kept to the millisecond (the scripts' ms reads them alike).
func TestTimeFormats(t *testing.T) {
	at := time.Date(2024, 5, 17, 12, 30, 45, 123456789, time.UTC)
	assert.Equal(t, "1715949045123", timeText(at))
	assert.Empty(t, timeText(time.Time{}))
	for _, c := range []struct {
		text string
		want time.Time
	}{
		{"1715949045123", at.Truncate(time.Millisecond)},
		{"1715949045123456789", at.Truncate(time.Millisecond)},
		{"1715949045000000000", at.Truncate(time.Second)},
		{"", time.Time{}},
		// The oldest ns value with 16 digits and the newest ms value with
		// 15: 1970-01-12 and the year 33658.
		{"1000000000000000", time.Date(1970, 1, 12, 13, 46, 40, 0, time.UTC)},
		{"999999999999999", time.UnixMilli(999999999999999).UTC()},
	} {
		var got time.Time
		require.True(t, parseTime(c.text, &got), c.text)
		assert.Equal(t, c.want, got, c.text)
	}
	var got time.Time
	assert.False(t, parseTime("12:30", &got))
}
