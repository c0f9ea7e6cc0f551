package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// OpenAccessTokenStore returns an empty user store and the access token
// store that keeps its users' tokens.
type OpenAccessTokenStore func(t *testing.T) (store.UserStore, store.AccessTokenStore)

// AccessToken returns token i of userID, created at now and expiring
// after ttl, with a fresh hash.
func AccessToken(i int, userID string, now time.Time, ttl time.Duration) store.AccessToken {
	return store.AccessToken{
		ID:        fmt.Sprintf("70c0e000-0000-4000-8000-%012d", i),
		UserID:    userID,
		Name:      fmt.Sprintf("token %d", i),
		Scope:     store.ScopeWrite,
		Hash:      NewTokenHash(),
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
	}
}

// AccessTokenStore checks the store.AccessTokenStore contract: lookups
// with the user, the per-user limit under concurrency, expiry, revocation,
// the conditional last-use write, and tokens going with their user.
func AccessTokenStore(t *testing.T, open OpenAccessTokenStore) {
	t.Run("CreateAndFind", func(t *testing.T) { tokensCreateAndFind(t, open) })
	t.Run("Limit", func(t *testing.T) { tokensLimit(t, open) })
	t.Run("ParallelCreatesStopAtTheLimit", func(t *testing.T) { tokensParallelLimit(t, open) })
	t.Run("Delete", func(t *testing.T) { tokensDelete(t, open) })
	t.Run("DeleteUserDeletesTokens", func(t *testing.T) { tokensDeleteUser(t, open) })
	t.Run("Touch", func(t *testing.T) { tokensTouch(t, open) })
}

const day = 24 * time.Hour

func tokenUsers(t *testing.T, us store.UserStore) (bob, ann store.User) {
	bob, ann = User(1, "bob@example.com", store.RoleUser), User(2, "ann@example.com", store.RoleAdmin)
	require.NoError(t, us.CreateUser(t.Context(), bob))
	require.NoError(t, us.CreateUser(t.Context(), ann))
	return bob, ann
}

func tokensCreateAndFind(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, ann := tokenUsers(t, us)
	now := UserTime
	a := AccessToken(1, bob.ID, now.Add(300*time.Millisecond), 90*day)
	b := AccessToken(2, bob.ID, now.Add(time.Second), day)
	b.Scope = store.ScopeRead
	c := AccessToken(3, ann.ID, now, day)
	for _, tok := range []store.AccessToken{a, b, c} {
		require.NoError(t, ts.CreateAccessToken(ctx, tok, 50, now))
	}
	a = a.Normalized() // kept to the second
	assert.Equal(t, UserTime, a.CreatedAt)

	got, u, err := ts.AccessTokenByHash(ctx, b.Hash)
	require.NoError(t, err)
	assert.Equal(t, b.Normalized(), got)
	assert.Equal(t, bob, u, "the token comes with its user")
	got, u, err = ts.AccessTokenByHash(ctx, c.Hash)
	require.NoError(t, err)
	assert.Equal(t, c.ID, got.ID)
	assert.Equal(t, store.RoleAdmin, u.Role)
	_, _, err = ts.AccessTokenByHash(ctx, NewTokenHash())
	assert.Equal(t, store.Errorf(store.ENOTFOUND, store.MsgNotFound), err)

	list, err := ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, []store.AccessToken{a, b.Normalized()}, list, "oldest first")
	list, err = ts.ListAccessTokens(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)

	// A user's role is read with the token: it acts with the current one.
	_, err = us.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Role = store.RoleAdmin; return nil })
	require.NoError(t, err)
	_, u, err = ts.AccessTokenByHash(ctx, a.Hash)
	require.NoError(t, err)
	assert.Equal(t, store.RoleAdmin, u.Role)

	sameHash := AccessToken(4, bob.ID, now, day)
	sameHash.Hash = a.Hash
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ts.CreateAccessToken(ctx, sameHash, 50, now)), "same hash")
	sameID := AccessToken(1, ann.ID, now, day)
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(ts.CreateAccessToken(ctx, sameID, 50, now)), "same id")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ts.CreateAccessToken(ctx, AccessToken(5, "nobody", now, day), 50, now)),
		"unknown user")
	badScope := AccessToken(6, bob.ID, now, day)
	badScope.Scope = "admin"
	for name, bad := range map[string]store.AccessToken{
		"no id":     {UserID: bob.ID, Hash: NewTokenHash(), Scope: store.ScopeRead, ExpiresAt: now},
		"no hash":   {ID: "x", UserID: bob.ID, Scope: store.ScopeRead, ExpiresAt: now},
		"no expiry": {ID: "x", UserID: bob.ID, Hash: NewTokenHash(), Scope: store.ScopeRead},
		"bad scope": badScope,
	} {
		assert.Equal(t, store.EINVALID, store.ErrorCode(ts.CreateAccessToken(ctx, bad, 50, now)), name)
	}
	list, err = ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Len(t, list, 2, "refused creations left nothing behind")
}

func tokensLimit(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, ann := tokenUsers(t, us)
	now := UserTime
	short := AccessToken(1, bob.ID, now, day)
	require.NoError(t, ts.CreateAccessToken(ctx, short, 3, now))
	require.NoError(t, ts.CreateAccessToken(ctx, AccessToken(2, bob.ID, now, 90*day), 3, now))
	require.NoError(t, ts.CreateAccessToken(ctx, AccessToken(3, bob.ID, now, 90*day), 3, now))
	assert.Equal(t, store.Errorf(store.ECONFLICT, store.MsgTooManyTokens),
		ts.CreateAccessToken(ctx, AccessToken(4, bob.ID, now, 90*day), 3, now))
	require.NoError(t, ts.CreateAccessToken(ctx, AccessToken(5, ann.ID, now, 90*day), 3, now), "the limit is per user")

	// An expired token is found (the caller tells expired from unknown)
	// until a creation removes it; it does not count.
	later := now.Add(day)
	got, _, err := ts.AccessTokenByHash(ctx, short.Hash)
	require.NoError(t, err)
	assert.False(t, got.Live(later))
	require.NoError(t, ts.CreateAccessToken(ctx, AccessToken(6, bob.ID, later, 90*day), 3, later))
	_, _, err = ts.AccessTokenByHash(ctx, short.Hash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "removed with the creation")
	list, err := ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Len(t, list, 3)
}

func tokensParallelLimit(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, _ := tokenUsers(t, us)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := ts.CreateAccessToken(ctx, AccessToken(i, bob.ID, UserTime, day), 5, UserTime)
			switch store.ErrorCode(err) {
			case "":
				ok.Add(1)
			case store.ECONFLICT:
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(5), ok.Load())
	assert.Equal(t, int32(15), refused.Load())
	list, err := ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Len(t, list, 5)
}

func tokensDelete(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, ann := tokenUsers(t, us)
	a, b := AccessToken(1, bob.ID, UserTime, day), AccessToken(2, bob.ID, UserTime, day)
	c := AccessToken(3, ann.ID, UserTime, day)
	for _, tok := range []store.AccessToken{a, b, c} {
		require.NoError(t, ts.CreateAccessToken(ctx, tok, 50, UserTime))
	}
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ts.DeleteAccessToken(ctx, ann.ID, a.ID)), "another user's token")
	require.NoError(t, ts.DeleteAccessToken(ctx, bob.ID, a.ID))
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(ts.DeleteAccessToken(ctx, bob.ID, a.ID)), "already revoked")
	_, _, err := ts.AccessTokenByHash(ctx, a.Hash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "revoked at once")

	n, err := ts.DeleteUserAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, _, err = ts.AccessTokenByHash(ctx, b.Hash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	_, _, err = ts.AccessTokenByHash(ctx, c.Hash)
	assert.NoError(t, err, "other users' tokens stay")
}

func tokensDeleteUser(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, ann := tokenUsers(t, us)
	a := AccessToken(1, bob.ID, UserTime, day)
	c := AccessToken(2, ann.ID, UserTime, day)
	require.NoError(t, ts.CreateAccessToken(ctx, a, 50, UserTime))
	require.NoError(t, ts.CreateAccessToken(ctx, c, 50, UserTime))
	require.NoError(t, us.DeleteUser(ctx, bob.ID))
	_, _, err := ts.AccessTokenByHash(ctx, a.Hash)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	list, err := ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Empty(t, list)
	_, _, err = ts.AccessTokenByHash(ctx, c.Hash)
	assert.NoError(t, err)
	// A user of the same id later has none of them.
	require.NoError(t, us.CreateUser(ctx, bob))
	list, err = ts.ListAccessTokens(ctx, bob.ID)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func tokensTouch(t *testing.T, open OpenAccessTokenStore) {
	ctx := t.Context()
	us, ts := open(t)
	bob, _ := tokenUsers(t, us)
	a := AccessToken(1, bob.ID, UserTime, day)
	require.NoError(t, ts.CreateAccessToken(ctx, a, 50, UserTime))

	// Of parallel uses that read the same token, one writes.
	at := UserTime.Add(time.Minute)
	var wrote atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			ok, err := ts.TouchAccessToken(ctx, a.ID, time.Time{}, at, fmt.Sprintf("192.0.2.%d", i))
			assert.NoError(t, err)
			if ok {
				wrote.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), wrote.Load())
	got, _, err := ts.AccessTokenByHash(ctx, a.Hash)
	require.NoError(t, err)
	assert.Equal(t, at, got.LastUsedAt)
	assert.Regexp(t, `^192\.0\.2\.\d$`, got.LastUsedIP)

	later := at.Add(time.Minute + 400*time.Millisecond)
	ok, err := ts.TouchAccessToken(ctx, a.ID, got.LastUsedAt, later, "2001:db8::1")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = ts.TouchAccessToken(ctx, a.ID, got.LastUsedAt, later.Add(time.Minute), "198.51.100.1")
	require.NoError(t, err)
	assert.False(t, ok, "stale: another use wrote since")
	got, _, err = ts.AccessTokenByHash(ctx, a.Hash)
	require.NoError(t, err)
	assert.Equal(t, later.Truncate(time.Second), got.LastUsedAt)
	assert.Equal(t, "2001:db8::1", got.LastUsedIP)

	require.NoError(t, ts.DeleteAccessToken(ctx, bob.ID, a.ID))
	_, err = ts.TouchAccessToken(ctx, a.ID, got.LastUsedAt, later.Add(time.Hour), "192.0.2.1")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
}
