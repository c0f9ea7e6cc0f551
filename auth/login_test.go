package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
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

func newLoginFixture(t *testing.T, limits store.LoginLimits) *loginFixture {
	t.Helper()
	return newLoginFixtureWith(t, limits, auth.LoginOptions{})
}

func newLoginFixtureWith(t *testing.T, limits store.LoginLimits, opts auth.LoginOptions) *loginFixture {
	t.Helper()
	db, err := jsonfile.Open(t.TempDir(), jsonfile.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	f := &loginFixture{users: db.Users(), hasher: auth.NewHasher(auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, auth.HasherOptions{})}
	accounts := &auth.Accounts{Users: f.users, Hasher: f.hasher, PasswordMinLength: 8}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.login = auth.NewLogin(accounts, memory.NewLimiter(limits, func() time.Time { return clock }), nil, func(o string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.outcomes = append(f.outcomes, o)
	}, opts)
	return f
}

var defaultLimits = store.LoginLimits{
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

func TestThrottleKey(t *testing.T) {
	for _, tc := range []struct {
		addr string
		bits int
		want string
	}{
		{"192.0.2.1", 64, "192.0.2.1"},
		{"::ffff:192.0.2.1", 64, "192.0.2.1"},
		{"::ffff:192.0.2.1", 128, "192.0.2.1"},
		{"::ffff:c000:201", 48, "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:DB8:1:2::ff", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2ff:3:4:5:6", 56, "2001:db8:1:200::/56"},
		{"2001:db8:1:2:3:4:5:6", 1, "::/1"},
		{"2001:db8:1:2:3:4:5:6", 127, "2001:db8:1:2:3:4:5:6/127"},
		{"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
		{"2001:db8::0001", 128, "2001:db8::1"},
		{"fe80::1:2:3:4%eth0", 64, "fe80::/64"},
		{"::1", 64, "::/64"},
		{"", 64, ""},
		{"not an address", 64, "not an address"},
	} {
		assert.Equal(t, tc.want, auth.ThrottleKey(tc.addr, tc.bits), "%q /%d", tc.addr, tc.bits)
	}
}

// wrongPasswords tries a wrong password (or an unknown email) once from
// each address, and reports for each attempt whether it was throttled.
func (f *loginFixture) wrongPasswords(t *testing.T, email string, addrs ...string) []bool {
	t.Helper()
	throttled := make([]bool, len(addrs))
	for i, addr := range addrs {
		_, err := f.login.Check(t.Context(), email, "wrong-password-1", addr)
		_, throttled[i] = auth.RetryAfter(err)
		if !throttled[i] {
			require.Contains(t, []string{store.EUNAUTHORIZED, store.ENOTFOUND}, store.ErrorCode(err), "%s: %v", addr, err)
		}
	}
	return throttled
}

// IPv6 clients are limited per /64 (LOGIN_IPV6_PREFIX): thirty addresses
// of one /64 get the budget of one address; another /64 has its own; an
// IPv4-mapped address shares its IPv4 address's budget.
func TestLoginThrottlesIPv6ByPrefix(t *testing.T) {
	limits := defaultLimits
	limits.MaxFailures = 1000 // only the address budget throttles here
	limits.MaxFailuresPerHour = 1000
	const burst = 10 // defaultLimits.IPBurst; the clock stands still, so nothing refills

	spread := make([]string, 30)
	for i := range spread {
		spread[i] = fmt.Sprintf("2001:db8:1:2:%x:%x::%x", i+1, i*7+3, i*13+1)
	}
	one := slices.Repeat([]string{"2001:db8:1:2::1"}, 30)
	want := make([]bool, 30)
	for i := burst; i < len(want); i++ {
		want[i] = true
	}

	lone := newLoginFixtureWith(t, limits, auth.LoginOptions{IPv6PrefixBits: 64})
	hash, err := lone.hasher.Hash("right-password-1")
	require.NoError(t, err)
	lone.addUser(t, "bob@example.com", hash)
	assert.Equal(t, want, lone.wrongPasswords(t, "bob@example.com", one...), "one address")

	f := newLoginFixtureWith(t, limits, auth.LoginOptions{IPv6PrefixBits: 64})
	f.addUser(t, "bob@example.com", hash)
	assert.Equal(t, want, f.wrongPasswords(t, "bob@example.com", spread...), "thirty addresses of one /64, alike")
	assert.Equal(t, []bool{true}, f.wrongPasswords(t, "bob@example.com", "2001:db8:1:2:ffff:ffff:ffff:ffff"),
		"the last address of the /64")
	_, err = f.login.Check(t.Context(), "bob@example.com", "right-password-1", "2001:db8:1:2::abcd")
	_, throttled := auth.RetryAfter(err)
	assert.True(t, throttled, "the right password too, from that /64: %v", err)

	// The next /64, and one in another /48, each have a budget of their own.
	for _, other := range []string{"2001:db8:1:3::1", "2001:db8:2:2::1"} {
		assert.Equal(t, []bool{false}, f.wrongPasswords(t, "bob@example.com", other), other)
		_, err = f.login.Check(t.Context(), "bob@example.com", "right-password-1", other)
		assert.NoError(t, err, other)
	}

	// IPv4: each address is a client, and its IPv4-mapped form is the same one.
	v4 := append(slices.Repeat([]string{"192.0.2.1"}, burst/2), slices.Repeat([]string{"::ffff:192.0.2.1"}, burst/2)...)
	assert.Equal(t, make([]bool, burst), f.wrongPasswords(t, "bob@example.com", v4...))
	assert.Equal(t, []bool{true, true}, f.wrongPasswords(t, "bob@example.com", "192.0.2.1", "::ffff:192.0.2.1"),
		"one budget for both spellings")
	assert.Equal(t, []bool{false}, f.wrongPasswords(t, "bob@example.com", "192.0.2.2"), "the next IPv4 address")
}

// With LOGIN_IPV6_PREFIX=128 each IPv6 address is a client of its own;
// the option's zero value is the /64 default.
func TestLoginIPv6PrefixOption(t *testing.T) {
	limits := defaultLimits
	limits.MaxFailures = 1000
	limits.MaxFailuresPerHour = 1000
	addrs := make([]string, 30)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("2001:db8:1:2::%x", i+1)
	}

	f := newLoginFixtureWith(t, limits, auth.LoginOptions{IPv6PrefixBits: 128})
	assert.Equal(t, make([]bool, 30), f.wrongPasswords(t, "bob@example.com", addrs...))

	f = newLoginFixtureWith(t, limits, auth.LoginOptions{})
	got := f.wrongPasswords(t, "bob@example.com", addrs...)
	assert.Equal(t, 10, slices.Index(got, true), "the eleventh attempt from the /64 is throttled: %v", got)

	f = newLoginFixtureWith(t, limits, auth.LoginOptions{IPv6PrefixBits: 48})
	got = f.wrongPasswords(t, "bob@example.com", "2001:db8:1:2::1", "2001:db8:1:ffff::1", "2001:db8:2::1")
	assert.Equal(t, []bool{false, false, false}, got)
	for range 8 {
		f.wrongPasswords(t, "bob@example.com", "2001:db8:1:abcd::1")
	}
	assert.Equal(t, []bool{true, false}, f.wrongPasswords(t, "bob@example.com", "2001:db8:1:1234::1", "2001:db8:2::1"),
		"a /48 is one client")
}
