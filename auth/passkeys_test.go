package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
	"simpleapi/internal/testkit"
	"simpleapi/metrics"
	"simpleapi/store"
	"simpleapi/store/jsonfile"
	"simpleapi/store/memory"
)

const (
	rpID   = "localhost"
	origin = "http://localhost:5000"
)

// passkeyFixture is the passkey service over a real JSON-file user store
// and the in-memory session store's challenges, with a software
// authenticator.
type passkeyFixture struct {
	users    store.UserStore
	passkeys *auth.Passkeys
	authn    *testkit.Authenticator
	logs     *testkit.LockedBuffer
	clock    time.Time

	mu      sync.Mutex
	results []string // method/result of each check
}

func newPasskeyFixture(t *testing.T, limits store.LoginLimits) *passkeyFixture {
	t.Helper()
	db, err := jsonfile.Open(t.TempDir(), jsonfile.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	f := &passkeyFixture{users: db.Users(), authn: &testkit.Authenticator{Origin: origin}, logs: &testkit.LockedBuffer{},
		clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	now := func() time.Time { return f.clock }
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	hasher := auth.NewHasher(auth.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, auth.HasherOptions{})
	accounts := &auth.Accounts{Users: f.users, Hasher: hasher, PasswordMinLength: 8, Log: log}
	login := auth.NewLogin(accounts, memory.NewLimiter(limits, now), nil, nil, auth.LoginOptions{})
	factors := &auth.SecondFactors{Users: f.users, Login: login, Now: now, Log: log, Observe: func(method, result string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.results = append(f.results, method+"/"+result)
	}}
	f.passkeys, err = auth.NewPasskeys(auth.PasskeyConfig{
		RPID: rpID, Origins: []string{origin}, Users: f.users, Challenges: memory.NewSessions(now),
		Factors: factors, Login: login, Now: now, Log: log,
	})
	require.NoError(t, err)
	return f
}

func (f *passkeyFixture) addUser(t *testing.T, email string) store.User {
	t.Helper()
	u := store.User{ID: "id-" + email, Email: email, Role: store.RoleUser, CreatedAt: f.clock, UpdatedAt: f.clock}
	require.NoError(t, f.users.CreateUser(context.Background(), u))
	return u
}

func (f *passkeyFixture) user(t *testing.T, id string) store.User {
	t.Helper()
	u, err := f.users.UserByID(context.Background(), id)
	require.NoError(t, err)
	return u
}

func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// register runs a whole registration of a passkey for u from sessionID.
func (f *passkeyFixture) register(t *testing.T, u store.User, sessionID, name string) (store.Passkey, *testkit.SoftCredential) {
	t.Helper()
	ctx := context.Background()
	options, err := f.passkeys.BeginRegistration(ctx, u, sessionID)
	require.NoError(t, err)
	credential, soft, err := f.authn.Create(toJSON(t, options))
	require.NoError(t, err)
	key, err := f.passkeys.FinishRegistration(ctx, u, sessionID, name, credential)
	require.NoError(t, err)
	return key, soft
}

func (f *passkeyFixture) signIn(t *testing.T, addr string) (store.User, error) {
	t.Helper()
	ctx := context.Background()
	options, err := f.passkeys.BeginSignIn(ctx, addr)
	require.NoError(t, err)
	credential, err := f.authn.Get(toJSON(t, options))
	require.NoError(t, err)
	return f.passkeys.FinishSignIn(ctx, credential, addr)
}

// events returns the audit events logged, in order.
func (f *passkeyFixture) events() []string {
	var out []string
	for _, line := range strings.Split(f.logs.String(), "\n") {
		var rec struct {
			Event string `json:"event"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Event != "" {
			out = append(out, rec.Event)
		}
	}
	return out
}

func TestPasskeyRegistrationOptions(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	u := f.addUser(t, "ada@example.com")
	options, err := f.passkeys.BeginRegistration(context.Background(), u, "session-1")
	require.NoError(t, err)
	var o struct {
		PublicKey struct {
			RP struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"rp"`
			User struct {
				ID          string `json:"id"`
				Name        string `json:"name"`
				DisplayName string `json:"displayName"`
			} `json:"user"`
			Selection struct {
				ResidentKey        string `json:"residentKey"`
				RequireResidentKey bool   `json:"requireResidentKey"`
				UserVerification   string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string `json:"attestation"`
			Timeout     int    `json:"timeout"`
		} `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(toJSON(t, options), &o))
	pk := o.PublicKey
	assert.Equal(t, "localhost", pk.RP.ID)
	assert.Equal(t, "Simple API", pk.RP.Name)
	assert.Equal(t, base64.RawURLEncoding.EncodeToString([]byte(u.ID)), pk.User.ID, "the user handle is the user id")
	assert.Equal(t, "ada@example.com", pk.User.Name)
	assert.Equal(t, "required", pk.Selection.ResidentKey)
	assert.True(t, pk.Selection.RequireResidentKey)
	assert.Equal(t, "required", pk.Selection.UserVerification)
	assert.Equal(t, "none", pk.Attestation)
	assert.Equal(t, 300000, pk.Timeout)
}

func TestPasskeyRegisterThenSignIn(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	u := f.addUser(t, "ada@example.com")
	key, soft := f.register(t, u, "session-1", "  Laptop  ")
	assert.Equal(t, "Laptop", key.Name, "trimmed")
	assert.Equal(t, soft.ID, key.ID)
	assert.Equal(t, []string{"internal"}, key.Transports)
	assert.Equal(t, f.clock, key.CreatedAt)
	assert.Nil(t, key.LastUsedAt)
	stored := f.user(t, u.ID).Factors
	require.Len(t, stored.Passkeys, 1)
	assert.True(t, stored.Enrolled(), "a passkey is a factor")
	assert.Equal(t, []string{auth.MethodPasskey}, auth.Methods(stored))

	f.clock = f.clock.Add(time.Hour)
	signedIn, err := f.signIn(t, "192.0.2.1")
	require.NoError(t, err)
	assert.Equal(t, u.ID, signedIn.ID)
	k := f.user(t, u.ID).Factors.Passkeys[0]
	assert.Equal(t, uint32(1), k.SignCount)
	require.NotNil(t, k.LastUsedAt)
	assert.Equal(t, f.clock, *k.LastUsedAt)
	assert.Equal(t, []string{"passkey/success"}, f.results)
	assert.Equal(t, []string{auth.EventPasskeyRegistered}, f.events())
}

// A ceremony is answered once, by the session that began it, for the
// purpose it was begun for.
func TestPasskeyCeremonyIsTakenOnce(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")

	options, err := f.passkeys.BeginRegistration(ctx, u, "session-1")
	require.NoError(t, err)
	credential, _, err := f.authn.Create(toJSON(t, options))
	require.NoError(t, err)
	_, err = f.passkeys.FinishRegistration(ctx, u, "session-2", "Laptop", credential)
	assertCode(t, err, store.EINVALID, auth.MsgNoCeremony)
	_, err = f.passkeys.FinishRegistration(ctx, u, "session-1", "Laptop", credential)
	assertCode(t, err, store.EINVALID, auth.MsgNoCeremony, "taken by the other session's attempt")

	f.register(t, u, "session-1", "Laptop")
	options2, err := f.passkeys.BeginSignIn(ctx, "192.0.2.1")
	require.NoError(t, err)
	assertion, err := f.authn.Get(toJSON(t, options2))
	require.NoError(t, err)
	err = f.passkeys.FinishSecondFactor(ctx, u, "", assertion, "192.0.2.1")
	assertCode(t, err, store.EINVALID, auth.MsgNoCeremony, "a sign-in's challenge is no second factor's")
	_, err = f.passkeys.FinishSignIn(ctx, assertion, "192.0.2.1")
	require.NoError(t, err, "kept for its own purpose")
}

func TestPasskeyReplayedAssertionRefused(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")
	f.register(t, u, "session-1", "Laptop")
	options, err := f.passkeys.BeginSignIn(ctx, "192.0.2.1")
	require.NoError(t, err)
	assertion, err := f.authn.Get(toJSON(t, options))
	require.NoError(t, err)
	_, err = f.passkeys.FinishSignIn(ctx, assertion, "192.0.2.1")
	require.NoError(t, err)
	_, err = f.passkeys.FinishSignIn(ctx, assertion, "192.0.2.1")
	assertCode(t, err, store.EINVALID, auth.MsgNoCeremony)
}

// A counter that does not increase is refused and audited, the stored
// counter kept; an authenticator that keeps no counter (always 0) is fine.
func TestPasskeySignCountRegression(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")
	f.register(t, u, "session-1", "Laptop")
	_, err := f.signIn(t, "192.0.2.1")
	require.NoError(t, err)

	_, err = f.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Factors.Passkeys[0].SignCount = 1000
		return nil
	})
	require.NoError(t, err)
	_, err = f.signIn(t, "192.0.2.1")
	assertCode(t, err, store.EUNAUTHORIZED, auth.MsgPasskeyRejected)
	assert.Equal(t, uint32(1000), f.user(t, u.ID).Factors.Passkeys[0].SignCount)
	assert.Contains(t, f.events(), auth.EventPasskeySignCountRegressed)
	assert.Contains(t, f.logs.String(), `"reason":"failure: passkey not accepted (sign count did not increase)"`)

	// Zero when the stored counter is not: a counter that went away.
	f.authn = &testkit.Authenticator{Origin: origin}
	_, soft := f.register(t, u, "session-1", "Phone")
	soft.Counterless = true
	_, err = f.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Factors.Passkeys[1].SignCount = 3
		return nil
	})
	require.NoError(t, err)
	_, err = f.signIn(t, "192.0.2.1")
	assertCode(t, err, store.EUNAUTHORIZED, auth.MsgPasskeyRejected)

	_, err = f.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Factors.Passkeys[1].SignCount = 0
		return nil
	})
	require.NoError(t, err)
	for range 2 {
		_, err = f.signIn(t, "192.0.2.1")
		require.NoError(t, err, "no counter on either side")
	}
}

func TestPasskeyNeedsUserVerificationAndTheOrigin(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")
	for name, authn := range map[string]*testkit.Authenticator{
		"no user verification": {Origin: origin, SkipUserVerification: true},
		"another origin":       {Origin: "http://localhost:5001"},
		"a phishing origin":    {Origin: "https://evil.example"},
	} {
		options, err := f.passkeys.BeginRegistration(ctx, u, "session-1")
		require.NoError(t, err)
		credential, _, err := authn.Create(toJSON(t, options))
		require.NoError(t, err)
		_, err = f.passkeys.FinishRegistration(ctx, u, "session-1", "Laptop", credential)
		assertCode(t, err, store.EINVALID, auth.MsgPasskeyRejected, name)
	}
	assert.Empty(t, f.user(t, u.ID).Factors.Passkeys)
	assert.Equal(t, []string{auth.EventPasskeyRegistrationFailed, auth.EventPasskeyRegistrationFailed,
		auth.EventPasskeyRegistrationFailed}, f.events())

	// A passkey that verified its user at registration must do so again.
	f.register(t, u, "session-1", "Laptop")
	f.authn.SkipUserVerification = true
	_, err := f.signIn(t, "192.0.2.1")
	assertCode(t, err, store.EUNAUTHORIZED, auth.MsgPasskeyRejected)
}

func TestPasskeyAsSecondFactor(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	ada := f.addUser(t, "ada@example.com")
	bob := f.addUser(t, "bob@example.com")

	_, err := f.passkeys.BeginSecondFactor(ctx, ada, "pending-1")
	assertCode(t, err, store.EINVALID, auth.MsgNoPasskey)

	f.register(t, ada, "session-1", "Laptop")
	ada = f.user(t, ada.ID)
	options, err := f.passkeys.BeginSecondFactor(ctx, ada, "pending-1")
	require.NoError(t, err)
	var o struct {
		PublicKey struct {
			Allow []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
			UserVerification string `json:"userVerification"`
		} `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(toJSON(t, options), &o))
	require.Len(t, o.PublicKey.Allow, 1)
	assert.Equal(t, auth.PasskeyID(ada.Factors.Passkeys[0]), o.PublicKey.Allow[0].ID)
	assert.Equal(t, "required", o.PublicKey.UserVerification)
	assertion, err := f.authn.Get(toJSON(t, options))
	require.NoError(t, err)
	require.NoError(t, f.passkeys.FinishSecondFactor(ctx, ada, "pending-1", assertion, "192.0.2.1"))
	assert.Contains(t, f.events(), auth.EventSecondFactorSucceeded)

	// Ada's passkey is no second factor of Bob's: his check, her passkey.
	f.register(t, bob, "session-2", "Bob's")
	bob = f.user(t, bob.ID)
	options, err = f.passkeys.BeginSecondFactor(ctx, bob, "pending-2")
	require.NoError(t, err)
	var opts map[string]map[string]any
	require.NoError(t, json.Unmarshal(toJSON(t, options), &opts))
	delete(opts["publicKey"], "allowCredentials") // the authenticator picks any: Ada's is older
	f.authn = &testkit.Authenticator{Origin: origin}
	f.register(t, ada, "session-1", "Ada's other")
	assertion, err = f.authn.Get(toJSON(t, opts))
	require.NoError(t, err)
	err = f.passkeys.FinishSecondFactor(ctx, bob, "pending-2", assertion, "192.0.2.1")
	assertCode(t, err, store.EUNAUTHORIZED, auth.MsgPasskeyRejected)
	assert.Equal(t, []string{"passkey/success", "passkey/failure"}, f.results)
}

func TestPasskeyNames(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	u := f.addUser(t, "ada@example.com")
	for name, want := range map[string]string{
		"":                       auth.MsgPasskeyNameMissing,
		"   ":                    auth.MsgPasskeyNameMissing,
		strings.Repeat("é", 65):  auth.MsgPasskeyNameTooLong,
		"Lap\x00top":             auth.MsgPasskeyNameInvalid,
		"Lap\u0085top":           auth.MsgPasskeyNameInvalid,
		"Laptop\n":               "", // trimmed
		strings.Repeat("é", 64):  "",
		"Téléphone de travail 🔑": "",
	} {
		_, err := f.passkeys.FinishRegistration(context.Background(), u, "session-1", name, nil)
		if want == "" {
			assertCode(t, err, store.EINVALID, auth.MsgCredentialMissing, "%q is a good name", name)
			continue
		}
		assertCode(t, err, store.EINVALID, want, "%q", name)
	}
	_, err := f.passkeys.FinishRegistration(context.Background(), u, "session-1", "Laptop", json.RawMessage(`{"id":"x"}`))
	assertCode(t, err, store.EINVALID, auth.MsgCredentialInvalid)
}

func TestPasskeyRemove(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")
	key, _ := f.register(t, u, "session-1", "Laptop")
	_, err := f.users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		cur.Factors.RecoveryCodes = []store.RecoveryCode{{Hash: "00"}}
		return nil
	})
	require.NoError(t, err)

	for _, id := range []string{"", "not base64!", base64.RawURLEncoding.EncodeToString([]byte("other"))} {
		assertCode(t, f.passkeys.Remove(ctx, u, id), store.ENOTFOUND, auth.MsgPasskeyNotFound, "%q", id)
	}
	require.NoError(t, f.passkeys.Remove(ctx, u, auth.PasskeyID(key)))
	factors := f.user(t, u.ID).Factors
	assert.True(t, factors.IsZero(), "the recovery codes go with the last factor")
	assert.Equal(t, []string{auth.EventPasskeyRegistered, auth.EventPasskeyRemoved}, f.events())
	assertCode(t, f.passkeys.Remove(ctx, u, auth.PasskeyID(key)), store.ENOTFOUND, auth.MsgPasskeyNotFound)
}

func TestPasskeyLimitAndExclusions(t *testing.T) {
	f := newPasskeyFixture(t, defaultLimits)
	ctx := context.Background()
	u := f.addUser(t, "ada@example.com")
	f.register(t, u, "session-1", "First")

	// The same authenticator is told not to register a second one.
	options, err := f.passkeys.BeginRegistration(ctx, f.user(t, u.ID), "session-1")
	require.NoError(t, err)
	_, _, err = f.authn.Create(toJSON(t, options))
	assert.ErrorIs(t, err, testkit.ErrExcluded)

	for i := 1; i < auth.MaxPasskeys; i++ {
		f.authn = &testkit.Authenticator{Origin: origin}
		f.register(t, f.user(t, u.ID), "session-1", "Another")
	}
	_, err = f.passkeys.BeginRegistration(ctx, f.user(t, u.ID), "session-1")
	assertCode(t, err, store.ECONFLICT, auth.MsgTooManyPasskeys)
}

// Sign-ins by passkey alone are throttled per client address: one that
// keeps failing waits, others do not, and no account is touched.
func TestPasskeySignInThrottledPerAddress(t *testing.T) {
	f := newPasskeyFixture(t, store.LoginLimits{MaxFailures: 2, BaseDelay: time.Minute, MaxDelay: time.Hour,
		MaxFailuresPerHour: 100, IPPerMinute: 100, IPBurst: 100})
	u := f.addUser(t, "ada@example.com")
	f.register(t, u, "session-1", "Laptop")
	f.authn.SkipUserVerification = true // every answer fails
	for range 2 {
		_, err := f.signIn(t, "192.0.2.1")
		assertCode(t, err, store.EUNAUTHORIZED, auth.MsgPasskeyRejected)
	}
	_, err := f.passkeys.BeginSignIn(context.Background(), "192.0.2.1")
	_, throttled := auth.RetryAfter(err)
	assert.True(t, throttled, "even a begin waits: %v", err)

	f.authn.SkipUserVerification = false
	_, err = f.signIn(t, "192.0.2.99")
	require.NoError(t, err, "another address")
	assert.Equal(t, []string{"passkey/failure", "passkey/failure", "passkey/success"}, f.results)
	assert.Equal(t, 2, strings.Count(f.logs.String(), `"event":"login_failed"`))
}

// Beginning a sign-in costs the address an attempt, finishing one that
// verifies gives one back.
func TestPasskeySignInBeginSpendsTheAddressBudget(t *testing.T) {
	f := newPasskeyFixture(t, store.LoginLimits{MaxFailures: 5, BaseDelay: time.Minute, MaxDelay: time.Hour,
		MaxFailuresPerHour: 100, IPPerMinute: 1, IPBurst: 3})
	ctx := context.Background()
	for range 3 {
		_, err := f.passkeys.BeginSignIn(ctx, "192.0.2.1")
		require.NoError(t, err)
	}
	_, err := f.passkeys.BeginSignIn(ctx, "192.0.2.1")
	_, throttled := auth.RetryAfter(err)
	assert.True(t, throttled, "%v", err)
	_, err = f.passkeys.BeginSignIn(ctx, "192.0.2.2")
	require.NoError(t, err, "another address")
}

func TestMethodsListPasskeysFirst(t *testing.T) {
	f := store.Factors{
		TOTP:          &store.TOTP{Confirmed: true},
		RecoveryCodes: []store.RecoveryCode{{Hash: "00"}},
		Passkeys:      []store.Passkey{{ID: []byte{1}}},
	}
	assert.Equal(t, []string{auth.MethodPasskey, auth.MethodTOTP, auth.MethodRecoveryCode}, auth.Methods(f))
	assert.Equal(t, []string{metrics.FactorPasskey}, auth.Methods(store.Factors{Passkeys: f.Passkeys}))
}

func assertCode(t *testing.T, err error, code, msg string, args ...any) {
	t.Helper()
	require.Error(t, err, args...)
	assert.Equal(t, code, store.ErrorCode(err), args...)
	assert.Equal(t, msg, store.ErrorMessage(err), args...)
}
