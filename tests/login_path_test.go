package tests

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The one login path: every place that checks a password (Basic
// authentication, the login route, the password change) throttles, caches,
// audits and counts under the same key of an email, store.EmailKey.

const (
	longS = "bob.\u017fmith@example.com" // U+017F LATIN SMALL LETTER LONG S
	cafe  = "caf\u00e9@x.test"           // é precomposed (NFC)
	cafe2 = "cafe\u0301@x.test"          // e + combining acute accent (NFD)
)

// loginForm posts a urlencoded login form, escaping both fields.
func (s *server) loginForm(email, password string, opts ...option) *httptest.ResponseRecorder {
	s.t.Helper()
	body := url.Values{"email": {email}, "password": {password}}.Encode()
	return s.do("POST", "/api/v1/auth_session/login", body, append([]option{form()}, opts...)...)
}

// jsonString is a JSON string literal of s.
func jsonString(s string) string { return quote(s) }

func TestLoginThrottleKeyIsTheEmailKey(t *testing.T) {
	t.Run("session login", func(t *testing.T) {
		s := newSessionServer(t)
		s.createUserAsCookieAdmin("bob.smith@example.com")
		for i := 0; i < 5; i++ {
			assertError(t, s.loginForm("bob.smith@example.com", fmt.Sprintf("wrong-%d", i)), 401, "wrong password")
		}
		assertError(t, s.loginForm(longS, userPassword), 429, "Too many requests")
		assertError(t, s.loginForm("BOB.SMITH@EXAMPLE.COM", userPassword), 429, "Too many requests")
		s.clock.Advance(1)
		assert.Equal(t, 200, s.loginForm(longS, userPassword).Code, "the same account, once the delay is over")
	})
	t.Run("basic", func(t *testing.T) {
		s := newServer(t)
		s.createUser("bob.smith@example.com")
		for i := 0; i < 5; i++ {
			assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob.smith@example.com", fmt.Sprintf("wrong-%d", i))), 403, "Forbidden")
		}
		assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth(longS, userPassword)), 429, "Too many requests")
	})
}

func TestBasicCredentialCacheUsesTheEmailKey(t *testing.T) {
	s := newServer(t)
	s.createUser("bob.smith@example.com")
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("bob.smith@example.com", userPassword)).Code)
	before := s.app.Hasher().Verifications()
	rec := s.do("GET", "/api/v1/users/me", "", basicAuth(longS, userPassword))
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"email":"bob.smith@example.com"`)
	assert.Equal(t, before, s.app.Hasher().Verifications(), "the same credentials, remembered")
}

func TestLookAlikeEmailsAreOneAccount(t *testing.T) {
	s := newSessionServer(t)
	admin := withCookie(s.adminCookie())
	create := func(email string) *httptest.ResponseRecorder {
		return s.do("POST", "/api/v1/users", `{"email":`+jsonString(email)+`,"password":"`+userPassword+`"}`, admin)
	}
	rec := create(cafe)
	require.Equal(t, 201, rec.Code, rec.Body.String())
	u := decodeUser(t, rec.Body.Bytes())
	require.NotNil(t, u.Email)
	assert.Equal(t, cafe, *u.Email, "stored as given")
	assertError(t, create(cafe2), 409, "email already registered")
	assertError(t, create("CAF\u00c9@X.TEST"), 409, "email already registered")

	// Login under the other spelling finds the same account, which keeps
	// its own spelling.
	rec = s.loginForm(cafe2, userPassword)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, u.ID, decodeUser(t, rec.Body.Bytes()).ID)
	assert.Equal(t, cafe, *decodeUser(t, rec.Body.Bytes()).Email)

	// Failures under one spelling throttle the other.
	for i := 0; i < 5; i++ {
		assertError(t, s.loginForm(cafe, fmt.Sprintf("wrong-%d", i)), 401, "wrong password")
	}
	assertError(t, s.loginForm(cafe2, userPassword), 429, "Too many requests")
}

func TestLookAlikeEmailsBasic(t *testing.T) {
	s := newServer(t)
	s.createUser(cafe2)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth(cafe2, userPassword)).Code)
	before := s.app.Hasher().Verifications()
	rec := s.do("GET", "/api/v1/users/me", "", basicAuth(cafe, userPassword))
	require.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), `"email":`+jsonString(cafe2), "the spelling given at creation")
	assert.Equal(t, before, s.app.Hasher().Verifications(), "one credential cache entry for both spellings")
}

func TestFailedBasicAttemptsAreAuditedAndCounted(t *testing.T) {
	s := newServer(t)
	bob := s.createUser("bob@example.com")
	before := scrape(t, s.app.Metrics())
	s.logs.Reset()

	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", "wrong-secret-1")), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("ghost@example.com", "wrong-secret-2")), 403, "Forbidden")
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword)).Code)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword)).Code)

	after := scrape(t, s.app.Metrics())
	delta := func(outcome string) float64 {
		return after.value(mLogins, "outcome", outcome) - before.value(mLogins, "outcome", outcome)
	}
	assert.Equal(t, 1.0, delta("wrong_password"))
	assert.Equal(t, 1.0, delta("unknown_email"))
	assert.Equal(t, 1.0, delta("success"), "remembered credentials are no new attempt")

	var failed []map[string]any
	for _, e := range logEntries(t, s.logs.String()) {
		if e["audit"] == true && e["event"] == "login_failed" {
			failed = append(failed, e)
		}
	}
	require.Len(t, failed, 2)
	assert.Equal(t, "wrong_password", failed[0]["reason"])
	assert.Equal(t, bob.ID, failed[0]["user_id"], "the account attacked")
	assert.Equal(t, "192.0.2.1", failed[0]["client_ip"])
	assert.Equal(t, "unknown_email", failed[1]["reason"])
	assert.NotContains(t, failed[1], "user_id")
	assert.NotContains(t, s.logs.String(), "wrong-secret")
}

func TestFailedLoginNamesTheAccount(t *testing.T) {
	s := newSessionServer(t)
	bob := s.createUserAsCookieAdmin("bob@example.com")
	s.logs.Reset()
	assertError(t, s.loginForm("bob@example.com", "wrong-1"), 401, "wrong password")
	for _, e := range logEntries(t, s.logs.String()) {
		if e["event"] == "login_failed" {
			assert.Equal(t, bob.ID, e["user_id"])
			return
		}
	}
	t.Fatal("no login_failed event")
}

// parallel runs n copies of f at once and returns their answers.
func parallel(n int, f func(i int) *httptest.ResponseRecorder) []*httptest.ResponseRecorder {
	out := make([]*httptest.ResponseRecorder, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			out[i] = f(i)
		}()
	}
	start.Done()
	done.Wait()
	return out
}

func TestParallelBasicClientsShareOneVerification(t *testing.T) {
	// Default per-address limits and the production cost of argon2id,
	// so that the verifications of the old code overlap.
	s := newServer(t, "LOGIN_IP_BURST", "10", "LOGIN_IP_PER_MINUTE", "30",
		"ARGON2_MEMORY_KIB", "19456", "ARGON2_ITERATIONS", "2")
	before := s.app.Hasher().Verifications()
	for i, rec := range parallel(16, func(int) *httptest.ResponseRecorder {
		return s.do("GET", "/api/v1/users/me", "", asAdmin())
	}) {
		assert.Equal(t, 200, rec.Code, "request %d: %s", i, rec.Body.String())
	}
	assert.Equal(t, uint64(1), s.app.Hasher().Verifications()-before, "one argon2id run for all")
}

func TestSuccessGivesTheAddressBudgetBack(t *testing.T) {
	s := newSessionServer(t, "LOGIN_IP_BURST", "3", "LOGIN_IP_PER_MINUTE", "3")
	for i := 0; i < 6; i++ {
		assert.Equal(t, 200, s.loginForm(adminEmail, adminPassword).Code, "login %d", i)
	}
	// Failures still spend the budget exactly as before.
	for i := 0; i < 3; i++ {
		assertError(t, s.loginForm(fmt.Sprintf("u%d@example.com", i), "guess-1"), 404, "no user found for this email")
	}
	rec := s.loginForm("u9@example.com", "guess-1")
	assertError(t, rec, 429, "Too many requests")
	assert.Equal(t, "20", rec.Header().Get("Retry-After"))
	assertError(t, s.loginForm(adminEmail, adminPassword), 429, "Too many requests")
}

func TestParallelGuessesKeepTheAddressBound(t *testing.T) {
	s := newServer(t, "LOGIN_IP_BURST", "10", "LOGIN_IP_PER_MINUTE", "30")
	s.createUser("bob@example.com")
	codes := map[int]int{}
	for _, rec := range parallel(20, func(i int) *httptest.ResponseRecorder {
		return s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", fmt.Sprintf("guess-%d", i)))
	}) {
		codes[rec.Code]++
	}
	assert.Equal(t, 20, codes[403]+codes[429], "%v", codes)
	assert.LessOrEqual(t, codes[403], 10, "no more guesses than the address burst: %v", codes)
	assert.GreaterOrEqual(t, codes[403], 5, "refused only once the account's limit is reached: %v", codes)
	// Identical wrong guesses share an attempt but each is answered.
	s.clock.Advance(3600)
	for i, rec := range parallel(8, func(int) *httptest.ResponseRecorder {
		return s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", "same-guess"))
	}) {
		assert.Contains(t, []int{403, 429}, rec.Code, "request %d", i)
	}
}

func TestLoginFormRefusesTextThatIsNotUTF8(t *testing.T) {
	s := newSessionServer(t)
	assertError(t, s.do("POST", "/api/v1/auth_session/login", "email=%FF%FE@example.com&password=whatever-1", form()), 400, "Wrong format")
	assertError(t, s.do("POST", "/api/v1/auth_session/login", "email=bob@example.com&password=%C3%28", form()), 400, "Wrong format")
	assertError(t, s.do("POST", "/api/v1/auth_session/login", "{\"email\":\"\xff\xfe@example.com\",\"password\":\"whatever-1\"}"), 400, "Wrong format")
}

func TestBasicChallengeOnEvery401(t *testing.T) {
	s := newServer(t)
	s.createUser("bob@example.com")
	const want = `Basic realm="simpleapi", charset="UTF-8"`
	for _, rec := range []*httptest.ResponseRecorder{
		s.do("GET", "/api/v1/users/me", ""),
		s.do("GET", "/api/v1/unauthorized", ""),
		s.do("PUT", "/api/v1/users/me/password", `{"current_password":"nope-1","new_password":"long-enough-1"}`,
			basicAuth("bob@example.com", userPassword)),
	} {
		assert.Equal(t, 401, rec.Code)
		assert.Equal(t, want, rec.Header().Get("WWW-Authenticate"))
	}
	assert.Empty(t, s.do("GET", "/api/v1/users/me", "", asAdmin()).Header().Get("WWW-Authenticate"))
	assert.Empty(t, s.do("GET", "/api/v1/forbidden", "").Header().Get("WWW-Authenticate"))

	sess := newSessionServer(t)
	rec := sess.do("GET", "/api/v1/users/me", "")
	assert.Equal(t, 401, rec.Code)
	assert.Empty(t, rec.Header().Get("WWW-Authenticate"), "no Basic challenge in the session modes")
}

func TestLegacyHashUpgradedThenChanged(t *testing.T) {
	const oldPassword = "H0lberton School 98!"
	for _, mode := range raceModes {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, ".db_User.json"), []byte(oldServiceFile(oldPassword)), 0o600))
			s := startServer(t, dir, "AUTH_TYPE", mode)
			// The first check upgrades the SHA-256 hash; the change then
			// replaces the upgraded hash, which the current password matches.
			bob := signIn(s, "bob@hbtn.io", oldPassword)
			rec := s.do("PUT", "/api/v1/users/me/password",
				`{"current_password":"`+oldPassword+`","new_password":"new-password-1"}`, bob)
			assertBody(t, rec, 200, `{}`)
			assert.True(t, canSignIn(s, "bob@hbtn.io", "new-password-1"))
			assert.False(t, canSignIn(s, "bob@hbtn.io", oldPassword))
		})
	}
}
