package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
	"simpleapi/config"
	"simpleapi/metrics"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/memory"
)

// loginFixture is a login path over a real JSON-file store.
type loginFixture struct {
	users    store.UserStore
	hasher   *auth.Hasher
	login    *auth.Login
	mu       sync.Mutex
	outcomes []string
}

func newLoginFixture(t *testing.T, limits config.LoginLimits) *loginFixture {
	t.Helper()
	db, err := jsonfile.Open(t.TempDir(), jsonfile.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	f := &loginFixture{users: db.Users(), hasher: auth.NewHasher(config.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, auth.HasherOptions{})}
	accounts := &auth.Accounts{Users: f.users, Hasher: f.hasher, PasswordMinLength: 8}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.login = auth.NewLogin(accounts, memory.NewLimiter(limits, func() time.Time { return clock }), nil, func(o string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.outcomes = append(f.outcomes, o)
	})
	return f
}

var defaultLimits = config.LoginLimits{
	MaxFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute,
	MaxFailuresPerHour: 100, IPPerMinute: 30, IPBurst: 10,
}

func (f *loginFixture) addUser(t *testing.T, email, hash string) store.User {
	t.Helper()
	u := store.User{ID: fmt.Sprintf("id-%s", email), Email: email, PasswordHash: hash, Role: store.RoleUser,
		CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
	require.NoError(t, f.users.CreateUser(context.Background(), u))
	return u
}

func TestCheckReturnsTheHashNowStored(t *testing.T) {
	f := newLoginFixture(t, defaultLimits)
	sum := sha256.Sum256([]byte("old-password-1"))
	f.addUser(t, "bob@example.com", hex.EncodeToString(sum[:]))

	u, err := f.login.Check(t.Context(), "bob@example.com", "old-password-1", "192.0.2.1")
	require.NoError(t, err)
	stored, err := f.users.UserByID(t.Context(), u.ID)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(stored.PasswordHash, "$argon2id$"), "upgraded")
	assert.Equal(t, stored.PasswordHash, u.PasswordHash, "the hash the password matches now")
	assert.Equal(t, []string{metrics.LoginSuccess}, f.outcomes)
}

func TestCheckThrottlesBeforeVerifying(t *testing.T) {
	limits := defaultLimits
	limits.MaxFailures = 1
	f := newLoginFixture(t, limits)
	hash, err := f.hasher.Hash("right-password-1")
	require.NoError(t, err)
	bob := f.addUser(t, "bob@example.com", hash)

	_, err = f.login.Check(t.Context(), "bob@example.com", "wrong-password-1", "192.0.2.1")
	assert.Equal(t, store.EUNAUTHORIZED, store.ErrorCode(err))
	before := f.hasher.Verifications()
	_, err = f.login.Check(t.Context(), "BOB@example.com", "right-password-1", "192.0.2.1")
	wait, throttled := auth.RetryAfter(err)
	require.True(t, throttled, "%v", err)
	assert.Equal(t, time.Second, wait)
	assert.Equal(t, store.ETOOMANY, store.ErrorCode(err))
	assert.Equal(t, before, f.hasher.Verifications(), "no hash work while throttled")
	_, err = f.login.Check(t.Context(), "ghost@example.com", "any-password-1", "192.0.2.1")
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Equal(t, []string{metrics.LoginWrongPassword, metrics.LoginThrottled, metrics.LoginUnknownEmail}, f.outcomes)

	err = f.login.ChangePassword(t.Context(), bob, "right-password-1", "new-password-1", "192.0.2.1")
	_, throttled = auth.RetryAfter(err)
	assert.True(t, throttled, "a password change is throttled like a login")
}

func TestChangePasswordReplacesOnlyTheVerifiedHash(t *testing.T) {
	// Losers that verify after the change fail; no delay may hide them.
	limits := defaultLimits
	limits.MaxFailures = 100
	f := newLoginFixture(t, limits)
	hash, err := f.hasher.Hash("right-password-1")
	require.NoError(t, err)
	bob := f.addUser(t, "bob@example.com", hash)

	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = f.login.ChangePassword(t.Context(), bob, "right-password-1", fmt.Sprintf("new-password-%d", i), "")
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two changes succeeded")
			winner = i
			continue
		}
		assert.Equal(t, store.EUNAUTHORIZED, store.ErrorCode(err), "%v", err)
		assert.Equal(t, auth.MsgWrongPassword, store.ErrorMessage(err))
	}
	require.NotEqual(t, -1, winner)
	stored, err := f.users.UserByID(t.Context(), bob.ID)
	require.NoError(t, err)
	ok, _, _ := f.hasher.Verify(fmt.Sprintf("new-password-%d", winner), stored.PasswordHash)
	assert.True(t, ok, "the change that succeeded holds")

	require.NoError(t, f.users.DeleteUser(t.Context(), bob.ID))
	err = f.login.ChangePassword(t.Context(), bob, fmt.Sprintf("new-password-%d", winner), "other-password-1", "")
	assert.Equal(t, store.EFORBIDDEN, store.ErrorCode(err), "the account is gone")
}
