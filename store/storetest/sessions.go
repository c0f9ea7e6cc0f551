// Package storetest holds the contract every store implementation must
// meet, as test suites that each implementation's tests run against a
// fresh instance. A new store passes these before it is wired in.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// Clock is a clock a test sets by hand, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// OpenSessionStore returns a fresh, empty session store whose clock is now
// and which the test cleans up.
type OpenSessionStore func(t *testing.T, now func() time.Time) store.SessionStore

// Session returns session i of userID at now: created i minutes before
// now, with a fresh random family and token hash, an idle deadline an hour
// after now and an absolute one a day after its creation. Times are in
// milliseconds in UTC, as stores keep them at least, when now is.
func Session(i int, userID string, now time.Time) store.Session {
	created := now.Add(-time.Duration(100-i) * time.Minute)
	return store.Session{
		ID:            fmt.Sprintf("5e550000-0000-4000-8000-%012d", i),
		Family:        NewTokenHash(),
		TokenHash:     NewTokenHash(),
		UserID:        userID,
		CreatedAt:     created,
		ExpiresAt:     created.Add(24 * time.Hour),
		IdleExpiresAt: now.Add(time.Hour),
		LastSeenAt:    created,
		IP:            "203.0.113.7",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		RotatedAt:     created,
	}
}

// NewTokenHash returns the hash of a fresh random token.
func NewTokenHash() store.TokenHash {
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	return sha256.Sum256(token)
}

// Start is where a contract clock starts: the current time, in
// milliseconds, and never on a whole second, so that a store which kept
// times to the second would fail the suite.
func Start() time.Time {
	return time.Now().UTC().Truncate(time.Second).Add(737 * time.Millisecond)
}

// SessionStore checks the store.SessionStore contract. Each part opens its
// own store with its own clock, starting at Start: a store whose keys
// expire on a server's clock (Redis TTLs) sees deadlines an hour or more
// away, while the suite moves the store's clock past them to check that
// expired sessions are never returned.
func SessionStore(t *testing.T, open OpenSessionStore) {
	setUp := func(t *testing.T) (store.SessionStore, *Clock) {
		clock := NewClock(Start())
		return open(t, clock.Now), clock
	}
	t.Run("CreateAndFind", func(t *testing.T) { ss, c := setUp(t); testCreateAndFind(t, ss, c) })
	t.Run("Touch", func(t *testing.T) { ss, c := setUp(t); testTouch(t, ss, c) })
	t.Run("Expiry", func(t *testing.T) { ss, c := setUp(t); testExpiry(t, ss, c) })
	t.Run("Rotate", func(t *testing.T) { ss, c := setUp(t); testRotate(t, ss, c) })
	t.Run("RotateRace", func(t *testing.T) { ss, c := setUp(t); testRotateRace(t, ss, c) })
	t.Run("Renew", func(t *testing.T) { ss, c := setUp(t); testRenew(t, ss, c) })
	t.Run("SubSecond", func(t *testing.T) { ss, c := setUp(t); testSubSecond(t, ss, c) })
	t.Run("Auth", func(t *testing.T) { ss, c := setUp(t); testSessionAuth(t, ss, c) })
	t.Run("Challenges", func(t *testing.T) { ss, c := setUp(t); testChallenges(t, ss, c) })
	t.Run("Delete", func(t *testing.T) { ss, c := setUp(t); testDelete(t, ss, c) })
}

// EqualSession asserts that got is want, comparing times as instants.
func EqualSession(t *testing.T, want, got store.Session, msgAndArgs ...any) bool {
	t.Helper()
	return assert.Equal(t, utc(want), utc(got), msgAndArgs...)
}

// EqualSessions asserts that got is want, in order, comparing times as
// instants.
func EqualSessions(t *testing.T, want, got []store.Session, msgAndArgs ...any) bool {
	t.Helper()
	w := make([]store.Session, len(want))
	for i, s := range want {
		w[i] = utc(s)
	}
	g := make([]store.Session, len(got))
	for i, s := range got {
		g[i] = utc(s)
	}
	return assert.Equal(t, w, g, msgAndArgs...)
}

func utc(s store.Session) store.Session {
	for _, p := range []*time.Time{&s.CreatedAt, &s.ExpiresAt, &s.IdleExpiresAt, &s.LastSeenAt, &s.RotatedAt, &s.PrevValidUntil, &s.AuthAt} {
		if !p.IsZero() {
			*p = p.UTC()
		}
	}
	return s
}

func notFound(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), msgAndArgs...)
}

func count(t *testing.T, ss store.SessionStore) int {
	t.Helper()
	n, err := ss.CountSessions(t.Context())
	require.NoError(t, err)
	return n
}

func list(t *testing.T, ss store.SessionStore, userID string) []store.Session {
	t.Helper()
	l, err := ss.ListSessions(t.Context(), userID)
	require.NoError(t, err)
	return l
}

func testCreateAndFind(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a1, a2, a3, b1 := Session(1, "alice", now), Session(2, "alice", now), Session(3, "alice", now), Session(4, "bob", now)
	b1.ExpiresAt, b1.IdleExpiresAt = time.Time{}, time.Time{} // no deadline at all

	// Created out of order: listing is still oldest first.
	for _, s := range []store.Session{a2, a1, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, Session(1, "carol", now))), "same id")
	dupFamily := Session(9, "carol", now)
	dupFamily.Family = a1.Family
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ss.CreateSession(ctx, dupFamily)), "same family")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{ID: "x", Family: NewTokenHash(), TokenHash: NewTokenHash()})), "no user")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{UserID: "x", Family: NewTokenHash(), TokenHash: NewTokenHash()})), "no id")
	assert.Equal(t, store.EINVALID, store.ErrorCode(ss.CreateSession(ctx, store.Session{ID: "y", UserID: "x", TokenHash: NewTokenHash()})), "no family")

	got, err := ss.SessionByFamily(ctx, a1.Family)
	require.NoError(t, err)
	EqualSession(t, a1, got)
	got, err = ss.SessionByID(ctx, b1.ID)
	require.NoError(t, err)
	EqualSession(t, b1, got)
	assert.True(t, got.ExpiresAt.IsZero() && got.IdleExpiresAt.IsZero() && got.Deadline().IsZero())
	_, err = ss.SessionByFamily(ctx, store.TokenHash{})
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)
	_, err = ss.SessionByFamily(ctx, NewTokenHash())
	notFound(t, err)
	_, err = ss.SessionByFamily(ctx, a1.TokenHash)
	notFound(t, err, "a token hash is no family")
	_, err = ss.SessionByID(ctx, "nope")
	notFound(t, err)

	EqualSessions(t, []store.Session{a1, a2, a3}, list(t, ss, "alice"))
	EqualSessions(t, []store.Session{b1}, list(t, ss, "bob"))
	assert.Empty(t, list(t, ss, "nobody"))
	assert.Equal(t, 4, count(t, ss))
}

func testTouch(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a := Session(1, "alice", now)
	require.NoError(t, ss.CreateSession(ctx, a))

	get := func() store.Session {
		t.Helper()
		got, err := ss.SessionByID(ctx, a.ID)
		require.NoError(t, err)
		return got
	}
	// Both move forward; the token lookup sees the change at once.
	require.NoError(t, ss.TouchSession(ctx, a.ID, now, now.Add(90*time.Minute)))
	a.LastSeenAt, a.IdleExpiresAt = now, now.Add(90*time.Minute)
	EqualSession(t, a, get())
	got, err := ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got)

	// A late call moves nothing back, each time on its own.
	require.NoError(t, ss.TouchSession(ctx, a.ID, now.Add(-time.Minute), now.Add(time.Hour)))
	EqualSession(t, a, get(), "both earlier")
	require.NoError(t, ss.TouchSession(ctx, a.ID, now.Add(time.Second), now.Add(80*time.Minute)))
	a.LastSeenAt = now.Add(time.Second)
	EqualSession(t, a, get(), "seen later, idle deadline earlier")
	require.NoError(t, ss.TouchSession(ctx, a.ID, now, now.Add(2*time.Hour)))
	a.IdleExpiresAt = now.Add(2 * time.Hour)
	EqualSession(t, a, get(), "seen earlier, idle deadline later")

	notFound(t, ss.TouchSession(ctx, "nope", now, now.Add(time.Hour)))

	// A touch keeps a session alive past its old idle deadline.
	clock.Add(100 * time.Minute)
	EqualSession(t, a, get(), "alive past the first idle deadline")
	clock.Add(20 * time.Minute)
	_, err = ss.SessionByID(ctx, a.ID)
	notFound(t, err, "past the moved idle deadline")
	notFound(t, ss.TouchSession(ctx, a.ID, clock.Now(), clock.Now().Add(time.Hour)), "an expired session cannot be revived")
}

func testExpiry(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	idle := Session(1, "alice", now) // idle deadline now+1h, absolute later
	abs := Session(2, "alice", now)  // absolute deadline now+2h, idle later
	abs.ExpiresAt, abs.IdleExpiresAt = now.Add(2*time.Hour), now.Add(3*time.Hour)
	onlyAbs := Session(3, "bob", now) // absolute now+3h, no idle deadline
	onlyAbs.ExpiresAt, onlyAbs.IdleExpiresAt = now.Add(3*time.Hour), time.Time{}
	never := Session(4, "bob", now)
	never.ExpiresAt, never.IdleExpiresAt = time.Time{}, time.Time{}
	for _, s := range []store.Session{idle, abs, onlyAbs, never} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	assert.Equal(t, 4, count(t, ss))

	gone := func(s store.Session, when string) {
		t.Helper()
		_, err := ss.SessionByID(ctx, s.ID)
		notFound(t, err, when)
		_, err = ss.SessionByFamily(ctx, s.Family)
		notFound(t, err, when)
		notFound(t, ss.TouchSession(ctx, s.ID, clock.Now(), clock.Now().Add(time.Hour)), when)
		_, err = ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now()})
		notFound(t, err, when)
	}
	live := func(s store.Session, when string) {
		t.Helper()
		got, err := ss.SessionByFamily(ctx, s.Family)
		if assert.NoError(t, err, when) {
			EqualSession(t, s, got, when)
		}
	}

	clock.Set(now.Add(time.Hour - time.Millisecond))
	live(idle, "a millisecond before its idle deadline")
	clock.Set(now.Add(time.Hour))
	gone(idle, "at its idle deadline")
	live(abs, "before its absolute deadline")
	EqualSessions(t, []store.Session{abs}, list(t, ss, "alice"))
	assert.Equal(t, 3, count(t, ss))

	clock.Set(now.Add(2 * time.Hour))
	gone(abs, "at its absolute deadline, its idle one later")
	assert.Empty(t, list(t, ss, "alice"))
	EqualSessions(t, []store.Session{onlyAbs, never}, list(t, ss, "bob"))
	assert.Equal(t, 2, count(t, ss))

	clock.Set(now.Add(3 * time.Hour))
	gone(onlyAbs, "at its absolute deadline, with no idle one")
	live(never, "no deadline")
	assert.Equal(t, 1, count(t, ss))

	// The expired sessions go; a store whose keys expire by themselves
	// has nothing to remove.
	n, err := ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Contains(t, []int{0, 3}, n)
	n, err = ss.DeleteExpired(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to remove")
	live(never, "after DeleteExpired")
	assert.Equal(t, 1, count(t, ss))

	// Revoking counts only what was live.
	late := Session(5, "bob", clock.Now())
	require.NoError(t, ss.CreateSession(ctx, late))
	n, err = ss.DeleteUserSessions(ctx, "bob", "")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Zero(t, count(t, ss))
}

func testRotate(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a, b := Session(1, "alice", now), Session(2, "alice", now)
	for _, s := range []store.Session{a, b} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	old := a.TokenHash

	// Rotation with a grace period: the family still finds the session,
	// which now knows the replaced token as its previous one.
	r1 := store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: now.Add(time.Minute + 3*time.Millisecond),
		PrevTokenHash: old, PrevValidUntil: now.Add(2*time.Minute + 5*time.Millisecond)}
	got, err := ss.RotateToken(ctx, a.ID, old, r1)
	require.NoError(t, err)
	a.TokenHash, a.RotatedAt, a.PrevTokenHash, a.PrevValidUntil = r1.TokenHash, r1.RotatedAt, old, r1.PrevValidUntil
	EqualSession(t, a, got, "the updated session is returned")
	got, err = ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got)
	got, err = ss.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	EqualSession(t, a, got)
	EqualSessions(t, []store.Session{a, b}, list(t, ss, "alice"))
	assert.Equal(t, 2, count(t, ss))

	// Conditional: rotating from a replaced token fails and changes nothing.
	_, err = ss.RotateToken(ctx, a.ID, old, store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now(), PrevTokenHash: old})
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err))
	_, err = ss.RotateToken(ctx, a.ID, b.TokenHash, store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now()})
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err), "another session's token")
	_, err = ss.RotateToken(ctx, a.ID, a.TokenHash, store.Rotation{Family: b.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now()})
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(err), "another session's family")
	got, err = ss.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	EqualSession(t, a, got, "unchanged by failed rotations")
	got, err = ss.SessionByFamily(ctx, b.Family)
	require.NoError(t, err)
	EqualSession(t, b, got, "the other session is untouched")
	_, err = ss.RotateToken(ctx, "nope", old, store.Rotation{Family: NewTokenHash(), TokenHash: NewTokenHash(), RotatedAt: clock.Now()})
	notFound(t, err)

	// Rotation without grace: no previous token is kept.
	clock.Add(10 * time.Minute)
	r2 := store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now()}
	got, err = ss.RotateToken(ctx, a.ID, r1.TokenHash, r2)
	require.NoError(t, err)
	a.TokenHash, a.RotatedAt, a.PrevTokenHash, a.PrevValidUntil = r2.TokenHash, r2.RotatedAt, store.TokenHash{}, time.Time{}
	EqualSession(t, a, got)
	got, err = ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got)

	// Deleting a rotated session frees its family.
	r3 := store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: clock.Now(), PrevTokenHash: r2.TokenHash, PrevValidUntil: clock.Now().Add(time.Minute)}
	_, err = ss.RotateToken(ctx, a.ID, r2.TokenHash, r3)
	require.NoError(t, err)
	require.NoError(t, ss.DeleteSession(ctx, a.ID))
	_, err = ss.SessionByFamily(ctx, a.Family)
	notFound(t, err, "family of a deleted session")
	EqualSessions(t, []store.Session{b}, list(t, ss, "alice"))
}

// testRenew: a rotation into a new family (a renewal) frees the old one.
func testRenew(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a, b := Session(1, "alice", now), Session(2, "bob", now)
	for _, s := range []store.Session{a, b} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}
	r := store.Rotation{Family: NewTokenHash(), TokenHash: NewTokenHash(), RotatedAt: now.Add(time.Second)}
	got, err := ss.RotateToken(ctx, a.ID, a.TokenHash, r)
	require.NoError(t, err)
	oldFamily := a.Family
	a.Family, a.TokenHash, a.RotatedAt = r.Family, r.TokenHash, r.RotatedAt
	EqualSession(t, a, got)
	_, err = ss.SessionByFamily(ctx, oldFamily)
	notFound(t, err, "the family it left")
	got, err = ss.SessionByFamily(ctx, r.Family)
	require.NoError(t, err)
	EqualSession(t, a, got)

	// The family it left is free for another session.
	c := Session(3, "carol", now)
	c.Family = oldFamily
	require.NoError(t, ss.CreateSession(ctx, c))
	got, err = ss.SessionByFamily(ctx, oldFamily)
	require.NoError(t, err)
	EqualSession(t, c, got)
}

// testSubSecond: deadlines and rotation times keep their milliseconds, and
// a deadline ends a session at its millisecond, not at a whole second.
func testSubSecond(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a := Session(1, "alice", now)
	a.IdleExpiresAt = now.Add(time.Hour + 250*time.Millisecond)
	a.ExpiresAt = now.Add(2*time.Hour + 999*time.Millisecond)
	a.LastSeenAt = now.Add(-1 * time.Millisecond)
	require.NoError(t, ss.CreateSession(ctx, a))
	got, err := ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got, "milliseconds survive a round trip")

	seen, idle := now.Add(400*time.Millisecond), now.Add(time.Hour+900*time.Millisecond)
	require.NoError(t, ss.TouchSession(ctx, a.ID, seen, idle))
	a.LastSeenAt, a.IdleExpiresAt = seen, idle
	r := store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: now.Add(450 * time.Millisecond),
		PrevTokenHash: a.TokenHash, PrevValidUntil: now.Add(1450 * time.Millisecond)}
	_, err = ss.RotateToken(ctx, a.ID, a.TokenHash, r)
	require.NoError(t, err)
	a.TokenHash, a.RotatedAt, a.PrevTokenHash, a.PrevValidUntil = r.TokenHash, r.RotatedAt, r.PrevTokenHash, r.PrevValidUntil
	got, err = ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err)
	EqualSession(t, a, got, "touch and rotation keep milliseconds")

	clock.Set(idle.Add(-time.Millisecond))
	_, err = ss.SessionByFamily(ctx, a.Family)
	require.NoError(t, err, "a millisecond before the idle deadline")
	clock.Set(idle)
	_, err = ss.SessionByFamily(ctx, a.Family)
	notFound(t, err, "at the idle deadline, to the millisecond")
}

// testRotateRace: of parallel rotations of one token exactly one wins, and
// the session ends up with the winner's token.
func testRotateRace(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a := Session(1, "alice", now)
	require.NoError(t, ss.CreateSession(ctx, a))

	const n = 16
	rotations := make([]store.Rotation, n)
	errs := make([]error, n)
	for i := range rotations {
		rotations[i] = store.Rotation{Family: a.Family, TokenHash: NewTokenHash(), RotatedAt: now,
			PrevTokenHash: a.TokenHash, PrevValidUntil: now.Add(time.Minute)}
	}
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			_, errs[i] = ss.RotateToken(ctx, a.ID, a.TokenHash, rotations[i])
		})
	}
	start.Done()
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			assert.Equal(t, -1, winner, "two rotations succeeded")
			winner = i
		} else {
			assert.Equal(t, store.ECONFLICT, store.ErrorCode(err))
		}
	}
	require.NotEqual(t, -1, winner, "no rotation succeeded")
	got, err := ss.SessionByID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, rotations[winner].TokenHash, got.TokenHash)
	assert.Equal(t, a.TokenHash, got.PrevTokenHash)
}

// RotateMany rotates s n times, each with a grace period, and returns it
// as it then is: a store's footprint for one session must not grow with
// the number of rotations.
func RotateMany(t *testing.T, ss store.SessionStore, s store.Session, n int) store.Session {
	t.Helper()
	for range n {
		r := store.Rotation{Family: s.Family, TokenHash: NewTokenHash(), RotatedAt: s.RotatedAt.Add(time.Millisecond),
			PrevTokenHash: s.TokenHash, PrevValidUntil: s.RotatedAt.Add(time.Second)}
		var err error
		s, err = ss.RotateToken(t.Context(), s.ID, s.TokenHash, r)
		require.NoError(t, err)
	}
	return s
}

func testDelete(t *testing.T, ss store.SessionStore, clock *Clock) {
	ctx := t.Context()
	now := clock.Now()
	a1, a2, a3, b1 := Session(1, "alice", now), Session(2, "alice", now), Session(3, "alice", now), Session(4, "bob", now)
	for _, s := range []store.Session{a1, a2, a3, b1} {
		require.NoError(t, ss.CreateSession(ctx, s))
	}

	require.NoError(t, ss.DeleteSession(ctx, a3.ID))
	notFound(t, ss.DeleteSession(ctx, a3.ID), "deleted twice")
	notFound(t, ss.DeleteSession(ctx, "nope"))
	_, err := ss.SessionByFamily(ctx, a3.Family)
	notFound(t, err)
	assert.Equal(t, 3, count(t, ss))

	a4 := Session(5, "alice", now)
	require.NoError(t, ss.CreateSession(ctx, a4))
	n, err := ss.DeleteUserSessions(ctx, "alice", a1.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "all of alice's but a1")
	EqualSessions(t, []store.Session{a1}, list(t, ss, "alice"))
	for _, s := range []store.Session{a2, a4} {
		_, err := ss.SessionByFamily(ctx, s.Family)
		notFound(t, err)
	}
	EqualSessions(t, []store.Session{b1}, list(t, ss, "bob"), "other users keep theirs")

	n, err = ss.DeleteUserSessions(ctx, "nobody", "")
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = ss.DeleteUserSessions(ctx, "alice", "")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Empty(t, list(t, ss, "alice"))
	assert.Equal(t, 1, count(t, ss))
}
