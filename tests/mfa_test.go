package tests

// Second factors end to end: TOTP enrolment and sign-in on the service's
// own clock, recovery codes, throttling of codes, pending sessions, Basic
// refusal, admin removal and MFA_REQUIRED_ROLES, on the JSON files and on
// PostgreSQL + Redis.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/postgres/pgtest"
)

// mfaBackends are the stores the second-factor flows run on, each as the
// settings that pick it.
func mfaBackends(t *testing.T) map[string][]string {
	return map[string][]string{
		"jsonfile": {"AUTH_TYPE", "session_db_auth"},
		"postgres+redis": {"AUTH_TYPE", "session_db_auth", "USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(t),
			"SESSION_STORE", "redis", "REDIS_URL", testkit.RedisPrefixURL(t, "simpleapi-mfa"), "SESSION_SECRET", sharedSecret},
	}
}

// code is what an authenticator app shows for secret at the server's
// current time: an implementation of RFC 6238 independent of the
// service's.
func (s *server) code(secret string) string {
	s.t.Helper()
	c, err := totp.GenerateCode(secret, s.clock.Now())
	require.NoError(s.t, err)
	return c
}

// enrolment is what starting and confirming TOTP answered.
type enrolment struct {
	Secret        string
	URI           string
	RecoveryCodes []string
}

// enrolTOTP enrols TOTP for the owner of cookie, as the account page
// does, and moves the clock to the next time step (the code used to
// confirm is spent).
func (s *server) enrolTOTP(cookie *http.Cookie) enrolment {
	s.t.Helper()
	rec := s.do("POST", "/api/v1/users/me/totp", "", withCookie(cookie))
	require.Equal(s.t, http.StatusCreated, rec.Code, rec.Body.String())
	var started struct {
		OtpauthURI string `json:"otpauth_uri"`
		Secret     string `json:"secret"`
	}
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &started))
	rec = s.do("PUT", "/api/v1/users/me/totp", `{"code":"`+s.code(started.Secret)+`"}`, withCookie(cookie))
	require.Equal(s.t, http.StatusOK, rec.Code, rec.Body.String())
	var confirmed struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &confirmed))
	s.clock.Advance(30)
	return enrolment{Secret: started.Secret, URI: started.OtpauthURI, RecoveryCodes: confirmed.RecoveryCodes}
}

// pendingLogin signs in with a password where a second factor is due and
// returns the pending session's cookie.
func (s *server) pendingLogin(email, password string) *http.Cookie {
	s.t.Helper()
	rec := s.login(email, password)
	assertBody(s.t.(*testing.T), rec, 200, `{"methods":["totp","recovery_code"],"second_factor_required":true}`)
	c := cookieOf(s.t, rec)
	require.NotNil(s.t, c)
	return c
}

// secondFactor posts body to the second-factor route with cookie.
func (s *server) secondFactor(cookie *http.Cookie, body string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.do("POST", "/api/v1/auth_session/second_factor", body, withCookie(cookie))
}

// signInWithTOTP signs in with password and the current code, and returns
// the new session's cookie.
func (s *server) signInWithTOTP(email, password, secret string) *http.Cookie {
	s.t.Helper()
	pending := s.pendingLogin(email, password)
	rec := s.secondFactor(pending, `{"code":"`+s.code(secret)+`"}`)
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	c := cookieOf(s.t, rec)
	require.NotNil(s.t, c)
	return c
}

// aals lists the assurance levels of the sessions the cookie's owner sees.
func (s *server) aals(cookie *http.Cookie) map[bool]string {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(cookie))
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	var list []struct {
		AAL     string `json:"aal"`
		Current bool   `json:"current"`
	}
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &list))
	out := map[bool]string{}
	for _, x := range list {
		if x.Current || out[false] == "" {
			out[x.Current] = x.AAL
		}
	}
	return out
}

func TestTOTPEnrolmentAndSignIn(t *testing.T) {
	for name, env := range mfaBackends(t) {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, env...)
			s.createUserAsCookieAdmin("bob@example.com")
			bob := s.sessionCookie("bob@example.com", userPassword)
			assert.Equal(t, "aal1", s.aals(bob)[true])

			// Starting gives a secret and its URI; nothing is active yet.
			rec := s.do("POST", "/api/v1/users/me/totp", "", withCookie(bob))
			require.Equal(t, 201, rec.Code, rec.Body.String())
			var first struct {
				OtpauthURI string `json:"otpauth_uri"`
				Secret     string `json:"secret"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &first))
			assert.Regexp(t, `^[A-Z2-7]{32}$`, first.Secret)
			assert.Regexp(t, `^otpauth://totp/Simple%20API:bob%40example\.com\?`, first.OtpauthURI)
			assert.Contains(t, first.OtpauthURI, "issuer=Simple%20API")
			assert.Contains(t, first.OtpauthURI, "secret="+first.Secret)
			assert.Equal(t, 200, s.login("bob@example.com", userPassword).Code, "no second factor until confirmed")
			// ... and the body of that login is the user, as before.
			assert.Contains(t, s.login("bob@example.com", userPassword).Body.String(), `"email":"bob@example.com"`)

			// Starting again replaces the unconfirmed secret.
			rec = s.do("POST", "/api/v1/users/me/totp", "", withCookie(bob))
			require.Equal(t, 201, rec.Code)
			var second struct {
				Secret string `json:"secret"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &second))
			assert.NotEqual(t, first.Secret, second.Secret)
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":"`+s.code(first.Secret)+`"}`, withCookie(bob)),
				400, "wrong code")

			// Bad inputs, each with its own message.
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{}`, withCookie(bob)), 400, "code missing")
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":"12345x"}`, withCookie(bob)), 400,
				"code must be 6 digits")
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":123456}`, withCookie(bob)), 400, "Wrong format")
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `[]`, withCookie(bob)), 400, "Wrong format")

			// Confirmed: ten recovery codes, once.
			rec = s.do("PUT", "/api/v1/users/me/totp", `{"code":"`+s.code(second.Secret)+`"}`, withCookie(bob))
			require.Equal(t, 200, rec.Code, rec.Body.String())
			var confirmed struct {
				RecoveryCodes []string `json:"recovery_codes"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &confirmed))
			require.Len(t, confirmed.RecoveryCodes, 10)
			for _, c := range confirmed.RecoveryCodes {
				assert.Regexp(t, `^[a-z2-7]{5}-[a-z2-7]{5}$`, c)
			}
			assertError(t, s.do("POST", "/api/v1/users/me/totp", "", withCookie(bob)), 409, "totp already enrolled")
			assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":"123456"}`, withCookie(bob)), 409,
				"totp already enrolled")

			// Signing in now takes a second factor. The pending session
			// signs nobody in and lives five minutes.
			pending := s.pendingLogin("bob@example.com", userPassword)
			assert.Equal(t, "300", cookieAttributes(t, s.login("bob@example.com", userPassword))["max-age"])
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(pending)), 401, "Unauthorized")
			// The code that confirmed the enrolment is spent.
			assertError(t, s.secondFactor(pending, `{"code":"`+s.code(second.Secret)+`"}`), 401, "code already used")
			assertError(t, s.secondFactor(pending, `{"code":"000000","recovery_code":"x"}`), 400,
				"send code or recovery_code, not both")
			assertError(t, s.secondFactor(pending, `{}`), 400, "code missing")
			assertError(t, s.secondFactor(pending, `{"recovery_code":"nope"}`), 400,
				"recovery code must be 10 letters and digits, as xxxxx-xxxxx")

			s.clock.Advance(30)
			code := s.code(second.Secret)
			rec = s.secondFactor(pending, `{"code":"`+code+`"}`)
			require.Equal(t, 200, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), `"email":"bob@example.com"`)
			full := cookieOf(t, rec)
			require.NotNil(t, full)
			assert.NotEqual(t, pending.Value, full.Value, "a new session, not the pending one")
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(pending)), 403, "Forbidden")
			assertError(t, s.secondFactor(pending, `{"code":"`+code+`"}`), 403, "Forbidden")
			assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(full)).Code)
			assert.Equal(t, "aal2", s.aals(full)[true])

			// The same code again, inside its window: refused.
			again := s.pendingLogin("bob@example.com", userPassword)
			assertError(t, s.secondFactor(again, `{"code":"`+code+`"}`), 401, "code already used")

			// A recovery code works once, typed any way.
			rc := confirmed.RecoveryCodes[3]
			rec = s.secondFactor(again, `{"recovery_code":" `+strings.ToUpper(rc)+` "}`)
			require.Equal(t, 200, rec.Code, rec.Body.String())
			third := s.pendingLogin("bob@example.com", userPassword)
			assertError(t, s.secondFactor(third, `{"recovery_code":"`+rc+`"}`), 401, "wrong recovery code")
			assert.Equal(t, 200, s.secondFactor(third, `{"recovery_code":"`+confirmed.RecoveryCodes[4]+`"}`).Code)

			// New recovery codes replace the old ones.
			rec = s.do("POST", "/api/v1/users/me/recovery_codes", "", withCookie(full))
			require.Equal(t, 200, rec.Code, rec.Body.String())
			fourth := s.pendingLogin("bob@example.com", userPassword)
			assertError(t, s.secondFactor(fourth, `{"recovery_code":"`+confirmed.RecoveryCodes[5]+`"}`), 401,
				"wrong recovery code")

			// Later, removing it takes a re-authentication with a code,
			// recorded in the session store.
			s.clock.Advance(301)
			assertError(t, s.do("DELETE", "/api/v1/users/me/totp", "", withCookie(full)), 403, "reauthentication required")
			rec = s.do("POST", "/api/v1/auth_session/reauth", `{"password":"`+userPassword+`","code":"`+s.code(second.Secret)+`"}`,
				withCookie(full))
			require.Equal(t, 200, rec.Code, rec.Body.String())
			stored, err := s.app.SessionStore().ListSessions(t.Context(), s.userIDOf(full))
			require.NoError(t, err)
			reauthenticated := 0
			for _, x := range stored {
				if x.AuthAt.Equal(s.clock.Now().UTC().Truncate(time.Millisecond)) && x.AAL == "aal2" {
					reauthenticated++
				}
			}
			assert.Equal(t, 1, reauthenticated, "the store keeps the new authentication time")

			// Removing TOTP: the password alone signs in again.
			assert.Equal(t, 200, s.do("DELETE", "/api/v1/users/me/totp", "", withCookie(full)).Code)
			assertError(t, s.do("DELETE", "/api/v1/users/me/totp", "", withCookie(full)), 404, "totp not enrolled")
			assertError(t, s.do("POST", "/api/v1/users/me/recovery_codes", "", withCookie(full)), 409,
				"no second factor enrolled")
			rec = s.login("bob@example.com", userPassword)
			require.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), `"email":"bob@example.com"`)

			// No secret, code or recovery code in any log line.
			logs := s.logs.String()
			for _, secret := range append([]string{first.Secret, second.Secret, code, `"code"`}, confirmed.RecoveryCodes...) {
				assert.NotContains(t, logs, secret)
			}
			for _, event := range []string{"totp_enrolment_started", "totp_enrolled", "recovery_codes_created",
				"second_factor_succeeded", "second_factor_failed", "recovery_code_used", "totp_removed"} {
				assert.Contains(t, logs, `"event":"`+event+`"`)
			}
		})
	}
}

// The TOTP secret is kept sealed: neither the base32 secret nor its bytes
// appear in the users file.
func TestTOTPSecretSealedAtRest(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	bob := s.sessionCookie("bob@example.com", userPassword)
	e := s.enrolTOTP(bob)
	s.stop() // flushes the journal into the file

	data := readDataFiles(t, s.dataDir)
	assert.Contains(t, data, `"confirmed":true`)
	assert.NotContains(t, data, e.Secret)
	assert.NotContains(t, data, strings.ToLower(e.Secret))
	for _, c := range e.RecoveryCodes {
		assert.NotContains(t, data, c)
		assert.NotContains(t, data, strings.ReplaceAll(c, "-", ""))
	}
}

// readDataFiles is every file of dataDir, one string.
func readDataFiles(t *testing.T, dataDir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dataDir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	})
	require.NoError(t, err)
	return b.String()
}

func TestTOTPClockSkew(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	codeAt := func(d time.Duration) string {
		c, err := totp.GenerateCode(e.Secret, s.clock.Now().Add(d))
		require.NoError(t, err)
		return c
	}
	// Beyond one step either way: refused.
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		pending := s.pendingLogin("bob@example.com", userPassword)
		assertError(t, s.secondFactor(pending, `{"code":"`+codeAt(d)+`"}`), 401, "wrong code")
	}
	// A phone one step behind, then one step ahead: accepted.
	s.clock.Advance(60)
	pending := s.pendingLogin("bob@example.com", userPassword)
	assert.Equal(t, 200, s.secondFactor(pending, `{"code":"`+codeAt(-30*time.Second)+`"}`).Code)
	pending = s.pendingLogin("bob@example.com", userPassword)
	assert.Equal(t, 200, s.secondFactor(pending, `{"code":"`+codeAt(30*time.Second)+`"}`).Code)
	// Having used the next step, the current step's code is spent too.
	pending = s.pendingLogin("bob@example.com", userPassword)
	assertError(t, s.secondFactor(pending, `{"code":"`+codeAt(0)+`"}`), 401, "code already used")
}

// Wrong codes count as failed logins of the account: after
// LOGIN_MAX_FAILURES, codes and passwords alike wait, and a right
// password does not clear the failures (only a right code does).
func TestSecondFactorThrottling(t *testing.T) {
	s := newSessionServer(t, "LOGIN_MAX_FAILURES", "3", "LOGIN_BASE_DELAY", "10")
	s.createUserAsCookieAdmin("bob@example.com")
	e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	before := scrape(t, s.app.Metrics())

	pending := s.pendingLogin("bob@example.com", userPassword)
	for range 2 {
		assertError(t, s.secondFactor(pending, `{"code":"000000"}`), 401, "wrong code")
		// A right password in between does not wipe the slate.
		pending = s.pendingLogin("bob@example.com", userPassword)
	}
	assertError(t, s.secondFactor(pending, `{"code":"000000"}`), 401, "wrong code")
	// Three failures: even the right code waits now.
	rec := s.secondFactor(pending, `{"code":"`+s.code(e.Secret)+`"}`)
	assertError(t, rec, 429, "Too many requests")
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	rec = s.login("bob@example.com", userPassword)
	assertError(t, rec, 429, "Too many requests")

	s.clock.Advance(3600)
	pending = s.pendingLogin("bob@example.com", userPassword)
	require.Equal(t, 200, s.secondFactor(pending, `{"code":"`+s.code(e.Secret)+`"}`).Code)
	// The right code cleared the failures: one wrong code is one failure.
	s.clock.Advance(30)
	pending = s.pendingLogin("bob@example.com", userPassword)
	assertError(t, s.secondFactor(pending, `{"code":"000000"}`), 401, "wrong code")
	assert.Equal(t, 200, s.secondFactor(pending, `{"code":"`+s.code(e.Secret)+`"}`).Code)

	// Wrong confirmation codes count too.
	alice := s.createUserAsCookieAdmin("alice@example.com")
	_ = alice
	ac := s.sessionCookie("alice@example.com", userPassword)
	require.Equal(t, 201, s.do("POST", "/api/v1/users/me/totp", "", withCookie(ac)).Code)
	for range 3 {
		assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":"000000"}`, withCookie(ac)), 400, "wrong code")
	}
	assertError(t, s.do("PUT", "/api/v1/users/me/totp", `{"code":"000000"}`, withCookie(ac)), 429, "Too many requests")

	after := scrape(t, s.app.Metrics())
	delta := func(result string) float64 {
		return after.value("simpleapi_second_factor_attempts_total", "method", "totp", "result", result) -
			before.value("simpleapi_second_factor_attempts_total", "method", "totp", "result", result)
	}
	assert.Equal(t, 2.0, delta("success"))
	assert.Equal(t, 7.0, delta("failure"))
	assert.Equal(t, 2.0, delta("throttled"))
}

// challengeless is a passkey ceremony's options without their challenge.
func challengeless(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var v struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	require.NotEmpty(t, v.PublicKey["challenge"], "%s", body)
	delete(v.PublicKey, "challenge")
	return v.PublicKey
}

// A pending session is no session: on every route of the API it gets
// exactly the answer of a request without a cookie.
func TestPendingSessionIsAnonymousOnEveryRoute(t *testing.T) {
	s := newSessionServer(t)
	id := s.createUserAsCookieAdmin("bob@example.com").ID
	s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	pending := s.pendingLogin("bob@example.com", userPassword)

	checked := 0
	for _, route := range s.app.Routes() {
		method, path, _ := strings.Cut(route, " ")
		switch path {
		case "/api/v1/auth_session/second_factor", "/api/v1/auth_session/second_factor/passkey/begin",
			"/api/v1/auth_session/second_factor/passkey/finish", "/api/v1/auth_session/login":
			continue // the routes that read the cookie themselves
		}
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		path = strings.NewReplacer(":id", id).Replace(path)
		body := ""
		if method == "POST" || method == "PUT" {
			body = `{}`
		}
		anonymous := s.do(method, path, body)
		withPending := s.do(method, path, body, withCookie(pending))
		assert.Equal(t, anonymous.Code, withPending.Code, route)
		if path == "/api/v1/auth_session/login/passkey/begin" {
			// Each answer is a fresh challenge: the same options but for it.
			assert.Equal(t, challengeless(t, anonymous.Body.Bytes()), challengeless(t, withPending.Body.Bytes()), route)
		} else {
			assert.Equal(t, anonymous.Body.String(), withPending.Body.String(), route)
		}
		if anonymous.Code == 401 {
			checked++
		}
	}
	assert.Greater(t, checked, 20, "the protected routes were covered")
	// Still pending afterwards, and it ends five minutes after the password.
	s.clock.Advance(299)
	assert.Equal(t, 401, s.secondFactor(pending, `{"code":"000000"}`).Code, "still pending")
	s.clock.Advance(1)
	assertError(t, s.secondFactor(pending, `{"code":"000000"}`), 403, "Forbidden")
}

// Basic authentication cannot carry a second factor, so an account with
// one cannot use its password alone there.
func TestBasicRefusedForEnrolledAccount(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "AUTH_TYPE", "session_db_auth")
	s.createUserAsCookieAdmin("bob@example.com")
	s.createUserAsCookieAdmin("carol@example.com")
	s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	s.stop()

	s = startServer(t, dir, "AUTH_TYPE", "basic_auth")
	rec := s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword))
	assertError(t, rec, 401, "second factor enrolled: Basic authentication is not allowed for this account")
	assert.Equal(t, `Basic realm="simpleapi", charset="UTF-8"`, rec.Header().Get("WWW-Authenticate"))
	// A wrong password is still just wrong; others are unaffected.
	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", "wrong-password-1")), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("carol@example.com", userPassword)).Code)
	// The enrolment routes do not exist without sessions; an admin can
	// still remove the factor.
	assertError(t, s.do("POST", "/api/v1/users/me/totp", "", basicAuth("carol@example.com", userPassword)), 404, "Not found")
	bob := s.userByEmail("bob@example.com")
	assertBody(t, s.do("DELETE", "/api/v1/users/"+bob.ID+"/second_factors", "", asAdmin()), 200, `{}`)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword)).Code)
}

func TestAdminRemovesSecondFactors(t *testing.T) {
	for name, env := range mfaBackends(t) {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, env...)
			admin := s.adminCookie()
			bob := s.createUserAsCookieAdmin("bob@example.com")
			e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
			bob1 := s.signInWithTOTP("bob@example.com", userPassword, e.Secret)
			s.clock.Advance(30)
			bob2 := s.signInWithTOTP("bob@example.com", userPassword, e.Secret)
			carol := s.createUserAsCookieAdmin("carol@example.com")
			carol1 := s.sessionCookie("carol@example.com", userPassword)

			assertError(t, s.do("DELETE", "/api/v1/users/"+bob.ID+"/second_factors", "", withCookie(carol1)), 403, "Forbidden")
			assertError(t, s.do("DELETE", "/api/v1/users/"+unknownID+"/second_factors", "", withCookie(admin)), 404, "Not found")
			s.logs.Reset()
			assertBody(t, s.do("DELETE", "/api/v1/users/"+bob.ID+"/second_factors", "", withCookie(admin)), 200, `{}`)
			for _, c := range []*http.Cookie{bob1, bob2} {
				assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(c)), 403, "Forbidden")
			}
			sessions, err := s.app.SessionStore().ListSessions(t.Context(), bob.ID)
			require.NoError(t, err)
			assert.Empty(t, sessions)
			assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(carol1)).Code, "others keep theirs")
			_ = carol
			// The password alone signs bob in again.
			rec := s.login("bob@example.com", userPassword)
			require.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), `"email":"bob@example.com"`)

			line := auditLine(t, s.logs.String(), "second_factors_removed")
			assert.Equal(t, bob.ID, line["user_id"])
			assert.Equal(t, float64(3), line["sessions_ended"], "the two and the one that enrolled")
			assert.Equal(t, []any{"totp", "recovery_code"}, line["factors"])
			assert.NotEmpty(t, line["actor_id"])
		})
	}
}

// unknownID is a well-formed id no user has.
const unknownID = "00000000-0000-4000-8000-000000000000"

// auditLine is the one audit log line of event in logs.
func auditLine(t *testing.T, logs, event string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["audit"] == true && m["event"] == event {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "audit lines of %s in:\n%s", event, logs)
	return found[0]
}

func TestMFARequiredRoles(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "AUTH_TYPE", "session_db_auth")
	s.createUserAsCookieAdmin("bob@example.com")
	s.stop()
	s = startServer(t, dir, "AUTH_TYPE", "session_db_auth", "MFA_REQUIRED_ROLES", "admin")
	admin := s.adminCookie()
	id := s.userByEmailAsCookie(admin, adminEmail)

	// Until the admin enrols, only what enrolment needs works.
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/users"}, {"GET", "/api/v1/stats"}, {"GET", "/api/v1/auth_session/sessions"},
		{"POST", "/api/v1/users"}, {"GET", "/api/v1/users/" + unknownID},
		{"POST", "/api/v1/users/me/recovery_codes"}, {"PUT", "/api/v1/users/me/password"},
	} {
		assertError(t, s.do(tc.method, tc.path, "", withCookie(admin)), 403, "second factor required")
	}
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(admin)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/"+id, "", withCookie(admin)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/status", "", withCookie(admin)).Code)
	// A role not listed is not affected.
	bob := s.sessionCookie("bob@example.com", userPassword)
	assert.Equal(t, 200, s.do("GET", "/api/v1/stats", "", withCookie(bob)).Code)

	e := s.enrolTOTP(admin)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users", "", withCookie(admin)).Code)
	full := s.signInWithTOTP(adminEmail, adminPassword, e.Secret)
	assert.Equal(t, 200, s.do("GET", "/api/v1/stats", "", withCookie(full)).Code)
	assertBody(t, s.do("DELETE", "/api/v1/auth_session/logout", "", withCookie(full)), 200, `{}`)
}

// userByEmailAsCookie is the id of the user email, read as the admin
// whose session cookie is given.
func (s *server) userByEmailAsCookie(admin *http.Cookie, email string) string {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users/me", "", withCookie(admin))
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	var u userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &u))
	require.Equal(s.t, email, *u.Email)
	return u.ID
}

// userIDOf is the id of the user whose session cookie c is.
func (s *server) userIDOf(c *http.Cookie) string {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users/me", "", withCookie(c))
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	var u userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &u))
	return u.ID
}

// Parallel sign-ins with one code: the store's compare-and-set lets
// exactly one through, on every backend.
func TestTOTPCodeAcceptedOnceUnderParallelRequests(t *testing.T) {
	for name, env := range mfaBackends(t) {
		t.Run(name, func(t *testing.T) {
			// Attempts in flight count against the account: a higher
			// limit lets all of them reach the code check.
			s := newServer(t, append(env, "LOGIN_MAX_FAILURES", "100")...)
			s.createUserAsCookieAdmin("bob@example.com")
			e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
			const n = 8
			pending := make([]*http.Cookie, n)
			for i := range pending {
				pending[i] = s.pendingLogin("bob@example.com", userPassword)
			}
			body := `{"code":"` + s.code(e.Secret) + `"}`
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { codes[i] = s.secondFactor(pending[i], body).Code })
			}
			wg.Wait()
			ok := 0
			for _, c := range codes {
				if c == 200 {
					ok++
				} else {
					assert.Equal(t, 401, c)
				}
			}
			assert.Equal(t, 1, ok, "statuses %v", codes)
		})
	}
}
