package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
)

// The Go side of passkeys, end to end through the router with a software
// authenticator (real keys and signatures, no browser); the browser tests
// drive Chromium's own. The default origin of a test server is
// http://localhost:5000 (WEBAUTHN_ORIGINS unset, API_PORT 5000).
const testOrigin = "http://localhost:5000"

const mFactors = "simpleapi_second_factor_attempts_total"

type passkeyResponse struct {
	CreatedAt  string  `json:"created_at"`
	ID         string  `json:"id"`
	LastUsedAt *string `json:"last_used_at"`
	Name       string  `json:"name"`
}

// newUserCookie creates email as the admin and signs it in.
func (s *server) newUserCookie(email string) *http.Cookie {
	s.t.Helper()
	rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, withCookie(s.adminCookie()))
	require.Equal(s.t, http.StatusCreated, rec.Code, rec.Body.String())
	return s.sessionCookie(email, userPassword)
}

// finishBody is a finishing request's body: the credential, and more
// members ("name", value, ...).
func finishBody(t testing.TB, credential json.RawMessage, kv ...string) string {
	t.Helper()
	body := map[string]any{"credential": credential}
	for i := 0; i+1 < len(kv); i += 2 {
		body[kv[i]] = kv[i+1]
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return string(b)
}

// registerPasskey registers a passkey of authn under name for the holder
// of cookie: begin on s, finish on to (s when nil).
func registerPasskey(t testing.TB, s, to *server, cookie *http.Cookie, authn *testkit.Authenticator, name string) passkeyResponse {
	t.Helper()
	if to == nil {
		to = s
	}
	rec := s.do("POST", "/api/v1/users/me/passkeys/register/begin", "", withCookie(cookie))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	credential, _, err := authn.Create(rec.Body.Bytes())
	require.NoError(t, err)
	rec = to.do("POST", "/api/v1/users/me/passkeys/register/finish", finishBody(t, credential, "name", name), withCookie(cookie))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var k passkeyResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &k))
	return k
}

// passkeyCeremony begins a ceremony at begin on s with opts and answers
// it with authn: the finishing body.
func passkeyCeremony(t testing.TB, s *server, begin string, authn *testkit.Authenticator, opts ...option) string {
	t.Helper()
	rec := s.do("POST", begin, "", opts...)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	credential, err := authn.Get(rec.Body.Bytes())
	require.NoError(t, err)
	return finishBody(t, credential)
}

// signInWithPasskey signs in with a passkey of authn alone: begin on s,
// finish on to (s when nil).
func signInWithPasskey(t testing.TB, s, to *server, authn *testkit.Authenticator, opts ...option) *httptest.ResponseRecorder {
	t.Helper()
	if to == nil {
		to = s
	}
	body := passkeyCeremony(t, s, "/api/v1/auth_session/login/passkey/begin", authn, opts...)
	return to.do("POST", "/api/v1/auth_session/login/passkey/finish", body, opts...)
}

// sessionAAL is the assurance level of the session of cookie, as the
// sessions API shows it.
func (s *server) sessionAAL(cookie *http.Cookie) string {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(cookie))
	require.Equal(s.t, http.StatusOK, rec.Code, rec.Body.String())
	var list []struct {
		AAL     string `json:"aal"`
		Current bool   `json:"current"`
	}
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &list))
	for _, l := range list {
		if l.Current {
			return l.AAL
		}
	}
	s.t.Fatal("no current session")
	return ""
}

// A passkey from registration to removal: it is listed, completes a
// password sign-in as its second factor, signs in alone (ending a session
// the client brought), re-authenticates, and once removed the password
// alone signs in again.
func TestPasskeyLifecycle(t *testing.T) {
	s := newSessionServer(t)
	before := scrape(t, s.app.Metrics())
	ada := s.newUserCookie("ada@example.com")
	authn := &testkit.Authenticator{Origin: testOrigin}

	assertBody(t, s.do("GET", "/api/v1/users/me/passkeys", "", withCookie(ada)), http.StatusOK, `[]`)
	k := registerPasskey(t, s, nil, ada, authn, "Laptop")
	assert.Equal(t, "Laptop", k.Name)
	assert.Nil(t, k.LastUsedAt)
	assert.Equal(t, "2026-01-02T03:04:05", k.CreatedAt)
	list := s.do("GET", "/api/v1/users/me/passkeys", "", withCookie(ada))
	assertBody(t, list, http.StatusOK, `[{"created_at":"2026-01-02T03:04:05","id":"`+k.ID+`","last_used_at":null,"name":"Laptop"}]`)

	// The password alone is half a sign-in now.
	rec := s.login("ada@example.com", userPassword)
	assertBody(t, rec, http.StatusOK, `{"methods":["passkey"],"second_factor_required":true}`)
	pending := cookieOf(t, rec)
	require.NotNil(t, pending)
	body := passkeyCeremony(t, s, "/api/v1/auth_session/second_factor/passkey/begin", authn, withCookie(pending))
	rec = s.do("POST", "/api/v1/auth_session/second_factor/passkey/finish", body, withCookie(pending))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"email":"ada@example.com"`)
	second := cookieOf(t, rec)
	require.NotNil(t, second)
	assert.NotEqual(t, pending.Value, second.Value)
	assert.Equal(t, "aal2", s.sessionAAL(second))
	assert.Equal(t, http.StatusForbidden, s.do("GET", "/api/v1/users/me", "", withCookie(pending)).Code, "the pending session ended")

	// Alone; the session the client brought ends (fixation).
	s.clock.Advance(60)
	rec = signInWithPasskey(t, s, nil, authn, withCookie(second))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	third := cookieOf(t, rec)
	require.NotNil(t, third)
	assert.Equal(t, "aal2", s.sessionAAL(third))
	assert.Equal(t, http.StatusForbidden, s.do("GET", "/api/v1/users/me", "", withCookie(second)).Code)
	rec = s.do("GET", "/api/v1/users/me/passkeys", "", withCookie(third))
	assert.Contains(t, rec.Body.String(), `"last_used_at":"2026-01-02T03:05:05"`)

	// Re-authentication: the password alone cannot, the passkey can.
	s.clock.Advance(600)
	assertError(t, s.do("POST", "/api/v1/users/me/passkeys/register/begin", "", withCookie(third)),
		http.StatusForbidden, "reauthentication required")
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth", `{"password":"`+userPassword+`"}`, withCookie(third)),
		http.StatusBadRequest, "reauthenticate with a passkey")
	body = passkeyCeremony(t, s, "/api/v1/auth_session/reauth/passkey/begin", authn, withCookie(third))
	assertBody(t, s.do("POST", "/api/v1/auth_session/reauth/passkey/finish", body, withCookie(third)),
		http.StatusOK, `{"aal":"aal2","authenticated_at":"2026-01-02T03:15:05"}`)

	// Removed, the passkey is gone, and the password alone signs in.
	assertBody(t, s.do("DELETE", "/api/v1/users/me/passkeys/"+k.ID, "", withCookie(third)), http.StatusOK, `{}`)
	assertBody(t, s.do("GET", "/api/v1/users/me/passkeys/", "", withCookie(third)), http.StatusOK, `[]`)
	assertError(t, s.do("DELETE", "/api/v1/users/me/passkeys/"+k.ID, "", withCookie(third)), http.StatusNotFound, "passkey not found")
	rec = s.login("ada@example.com", userPassword)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `"email":"ada@example.com"`)
	assert.Equal(t, "aal1", s.sessionAAL(cookieOf(t, rec)))
	rec = signInWithPasskey(t, s, nil, authn)
	assertError(t, rec, http.StatusUnauthorized, "passkey not accepted")

	// Audited and counted.
	require.Len(t, s.auditEvents("passkey_registered"), 1)
	assert.Equal(t, "Laptop", s.auditEvents("passkey_registered")[0]["name"])
	assert.Equal(t, k.ID, s.auditEvents("passkey_removed")[0]["passkey_id"])
	methods := map[string]int{}
	for _, e := range s.auditEvents("login_succeeded") {
		if m, ok := e["method"].(string); ok {
			methods[m]++
		}
	}
	assert.Equal(t, map[string]int{"passkey": 2}, methods, "the second factor and the sign-in alone")
	failed := s.auditEvents("login_failed")
	require.Len(t, failed, 1)
	assert.Equal(t, "passkey", failed[0]["method"])
	assert.Contains(t, failed[0]["reason"], "failure: passkey not accepted (")
	after := scrape(t, s.app.Metrics())
	delta := func(result string) float64 {
		return after.value(mFactors, "method", "passkey", "result", result) -
			before.value(mFactors, "method", "passkey", "result", result)
	}
	assert.Equal(t, 3.0, delta("success"), "second factor, sign-in, re-authentication")
	assert.Equal(t, 1.0, delta("failure"))
}

// What the passkey routes refuse, with the API's messages.
func TestPasskeyRefusals(t *testing.T) {
	s := newSessionServer(t)
	ada := s.newUserCookie("ada@example.com")
	authn := &testkit.Authenticator{Origin: testOrigin}

	for _, path := range []string{"/api/v1/users/me/passkeys/register/begin", "/api/v1/users/me/passkeys/register/finish",
		"/api/v1/auth_session/reauth/passkey/begin", "/api/v1/auth_session/second_factor/passkey/begin"} {
		assertError(t, s.do("POST", path, ""), http.StatusUnauthorized, "Unauthorized")
	}
	assertError(t, s.do("GET", "/api/v1/users/me/passkeys", ""), http.StatusUnauthorized, "Unauthorized")

	// Finishing a registration: the body, then the name, then the
	// credential, then the ceremony.
	finish := func(body string) *httptest.ResponseRecorder {
		return s.do("POST", "/api/v1/users/me/passkeys/register/finish", body, withCookie(ada))
	}
	assertError(t, finish(`[]`), http.StatusBadRequest, "Wrong format")
	assertError(t, finish(`{}`), http.StatusBadRequest, "name missing")
	assertError(t, finish(`{"name":7}`), http.StatusBadRequest, "Wrong format")
	assertError(t, finish(`{"name":"`+strings.Repeat("x", 65)+`"}`), http.StatusBadRequest, "name too long")
	assertError(t, finish(`{"name":"a\u0007b"}`), http.StatusBadRequest, "name invalid")
	assertError(t, finish(`{"name":"Laptop"}`), http.StatusBadRequest, "credential missing")
	assertError(t, finish(`{"name":"Laptop","credential":"abc"}`), http.StatusBadRequest, "Wrong format")
	assertError(t, finish(`{"name":"Laptop","credential":{}}`), http.StatusBadRequest, "credential invalid")

	// A ceremony belongs to the session that began it.
	rec := s.do("POST", "/api/v1/users/me/passkeys/register/begin", "", withCookie(ada))
	require.Equal(t, http.StatusOK, rec.Code)
	credential, _, err := authn.Create(rec.Body.Bytes())
	require.NoError(t, err)
	other := s.sessionCookie("ada@example.com", userPassword)
	assertError(t, s.do("POST", "/api/v1/users/me/passkeys/register/finish", finishBody(t, credential, "name", "Laptop"),
		withCookie(other)), http.StatusBadRequest, "no passkey ceremony started, or it expired")

	// A registration signed for another origin does not verify.
	phished := &testkit.Authenticator{Origin: "https://evil.example"}
	rec = s.do("POST", "/api/v1/users/me/passkeys/register/begin", "", withCookie(ada))
	credential, _, err = phished.Create(rec.Body.Bytes())
	require.NoError(t, err)
	assertError(t, finish(finishBody(t, credential, "name", "Laptop")), http.StatusBadRequest, "passkey not accepted")
	require.Len(t, s.auditEvents("passkey_registration_failed"), 1)

	assertError(t, s.do("DELETE", "/api/v1/users/me/passkeys/bm9wZQ", "", withCookie(ada)), http.StatusNotFound, "passkey not found")
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth/passkey/begin", "", withCookie(ada)),
		http.StatusBadRequest, "no passkey registered")

	// Signing in: malformed answers cost nothing and say so.
	signIn := func(body string) *httptest.ResponseRecorder {
		return s.do("POST", "/api/v1/auth_session/login/passkey/finish", body)
	}
	assertError(t, signIn(`{}`), http.StatusBadRequest, "credential missing")
	assertError(t, signIn(`{"credential":{"id":"x"}}`), http.StatusBadRequest, "credential invalid")
	registerPasskey(t, s, nil, ada, authn, "Laptop")
	body := passkeyCeremony(t, s, "/api/v1/auth_session/login/passkey/begin", authn)
	require.Equal(t, http.StatusOK, signIn(body).Code)
	assertError(t, signIn(body), http.StatusBadRequest, "no passkey ceremony started, or it expired")

	// The second-factor routes want a pending session: not a full one.
	assertError(t, s.do("POST", "/api/v1/auth_session/second_factor/passkey/begin", "", withCookie(ada)),
		http.StatusForbidden, "Forbidden")
	// An account whose second factor is not a passkey.
	s.newUserCookie("bob@example.com")
	bob := s.userByEmailAsCookieAdmin(t, "bob@example.com")
	_, err = s.app.Users().UpdateUser(context.Background(), bob.ID, func(u *store.User) error {
		u.Factors.TOTP = &store.TOTP{Secret: []byte("sealed"), Confirmed: true}
		return nil
	})
	require.NoError(t, err)
	rec = s.login("bob@example.com", userPassword)
	assertBody(t, rec, http.StatusOK, `{"methods":["totp"],"second_factor_required":true}`)
	assertError(t, s.do("POST", "/api/v1/auth_session/second_factor/passkey/begin", "", withCookie(cookieOf(t, rec))),
		http.StatusBadRequest, "no passkey registered")
}

// An account with a passkey is enrolled: Basic authentication, which
// cannot carry a second factor, is refused for it.
func TestPasskeyEnrolledAccountRefusesBasic(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "AUTH_TYPE", "session_db_auth")
	ada := s.newUserCookie("ada@example.com")
	registerPasskey(t, s, nil, ada, &testkit.Authenticator{Origin: testOrigin}, "Laptop")
	s.stop()

	b := startServer(t, dir, "AUTH_TYPE", "basic_auth")
	assertError(t, b.do("GET", "/api/v1/users/me", "", basicAuth("ada@example.com", userPassword)),
		http.StatusUnauthorized, "second factor enrolled: Basic authentication is not allowed for this account")
	// The passkey routes need a session store: not served in basic_auth.
	assertError(t, b.do("POST", "/api/v1/auth_session/login/passkey/begin", ""), http.StatusNotFound, "Not found")
	assertError(t, b.do("GET", "/api/v1/users/me/passkeys", "", asAdmin()), http.StatusNotFound, "Not found")
}

// A role that must enrol a second factor may register a passkey, and then
// use the rest.
func TestPasskeySatisfiesMFARequiredRoles(t *testing.T) {
	s := newSessionServer(t, "MFA_REQUIRED_ROLES", "user")
	ada := s.newUserCookie("ada@example.com")
	assertError(t, s.do("GET", "/api/v1/stats", "", withCookie(ada)), http.StatusForbidden, "second factor required")
	registerPasskey(t, s, nil, ada, &testkit.Authenticator{Origin: testOrigin}, "Laptop")
	assert.Equal(t, http.StatusOK, s.do("GET", "/api/v1/stats", "", withCookie(ada)).Code)
}

// A passkey whose signature counter did not increase (a copy of it may be
// in use) is refused and audited.
func TestPasskeySignCountRegression(t *testing.T) {
	s := newSessionServer(t)
	ada := s.newUserCookie("ada@example.com")
	authn := &testkit.Authenticator{Origin: testOrigin}
	k := registerPasskey(t, s, nil, ada, authn, "Laptop")
	require.Equal(t, http.StatusOK, signInWithPasskey(t, s, nil, authn).Code)

	id := s.userByEmailAsCookieAdmin(t, "ada@example.com").ID
	_, err := s.app.Users().UpdateUser(context.Background(), id, func(u *store.User) error {
		u.Factors.Passkeys[0].SignCount = 1000
		return nil
	})
	require.NoError(t, err)
	assertError(t, signInWithPasskey(t, s, nil, authn), http.StatusUnauthorized, "passkey not accepted")

	regressed := s.auditEvents("passkey_sign_count_regressed")
	require.Len(t, regressed, 1)
	assert.Equal(t, k.ID, regressed[0]["passkey_id"])
	assert.Equal(t, id, regressed[0]["user_id"])
	assert.Equal(t, 1000.0, regressed[0]["stored_sign_count"])
	assert.Equal(t, 2.0, regressed[0]["sign_count"], "the authenticator's second signature")
	failed := s.auditEvents("login_failed")
	require.Len(t, failed, 1)
	assert.Equal(t, "failure: passkey not accepted (sign count did not increase)", failed[0]["reason"])
	u, err := s.app.Users().UserByID(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, uint32(1000), u.Factors.Passkeys[0].SignCount, "the stored counter stays")
}

// Failed sign-ins by passkey are throttled per client address, like
// logins.
func TestPasskeySignInThrottled(t *testing.T) {
	s := newSessionServer(t, "LOGIN_MAX_FAILURES", "2", "LOGIN_BASE_DELAY", "60")
	ada := s.newUserCookie("ada@example.com")
	authn := &testkit.Authenticator{Origin: testOrigin}
	registerPasskey(t, s, nil, ada, authn, "Laptop")
	authn.SkipUserVerification = true
	for range 2 {
		assertError(t, signInWithPasskey(t, s, nil, authn, remoteAddr("192.0.2.7:1000")), http.StatusUnauthorized,
			"passkey not accepted")
	}
	rec := s.do("POST", "/api/v1/auth_session/login/passkey/begin", "", remoteAddr("192.0.2.7:1000"))
	assertError(t, rec, http.StatusTooManyRequests, "Too many requests")
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	authn.SkipUserVerification = false
	assert.Equal(t, http.StatusOK, signInWithPasskey(t, s, nil, authn, remoteAddr("192.0.2.8:1000")).Code)
	// The account's password is not throttled by the address's failures.
	assert.Equal(t, http.StatusOK, s.login("ada@example.com", userPassword, remoteAddr("192.0.2.7:1000")).Code)
}

// Every ceremony begun on one instance finishes on another: both share
// PostgreSQL (users) and Redis (sessions, ceremonies, login limits). Of
// parallel finishes of one answer, across the instances, exactly one
// succeeds.
func TestPasskeyCeremoniesAcrossInstances(t *testing.T) {
	kv := []string{"AUTH_TYPE", "session_db_auth", "USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(t),
		"SESSION_STORE", "redis", "REDIS_URL", testkit.RedisPrefixURL(t, "simpleapi-e2e"), "SESSION_SECRET", sharedSecret}
	a := newServer(t, kv...)
	b := newServer(t, kv...)
	ada := a.newUserCookie("ada@example.com")
	authn := &testkit.Authenticator{Origin: testOrigin}

	k := registerPasskey(t, a, b, ada, authn, "Laptop")
	assert.Contains(t, a.do("GET", "/api/v1/users/me/passkeys", "", withCookie(ada)).Body.String(), k.ID)

	rec := signInWithPasskey(t, a, b, authn)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "aal2", a.sessionAAL(cookieOf(t, rec)))

	rec = b.login("ada@example.com", userPassword)
	pending := cookieOf(t, rec)
	body := passkeyCeremony(t, b, "/api/v1/auth_session/second_factor/passkey/begin", authn, withCookie(pending))
	rec = a.do("POST", "/api/v1/auth_session/second_factor/passkey/finish", body, withCookie(pending))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	full := cookieOf(t, rec)

	body = passkeyCeremony(t, a, "/api/v1/auth_session/reauth/passkey/begin", authn, withCookie(full))
	rec = b.do("POST", "/api/v1/auth_session/reauth/passkey/finish", body, withCookie(full))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

	// One answer, finished 16 times at once on both instances.
	body = passkeyCeremony(t, a, "/api/v1/auth_session/login/passkey/begin", authn)
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			to := a
			if i%2 == 1 {
				to = b
			}
			code := to.do("POST", "/api/v1/auth_session/login/passkey/finish", body).Code
			mu.Lock()
			defer mu.Unlock()
			statuses[code]++
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusOK: 1, http.StatusBadRequest: 15}, statuses)
}
