package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/middleware"
)

type sessionObj struct {
	CreatedAt  *string `json:"created_at"`
	Current    bool    `json:"current"`
	ExpiresAt  *string `json:"expires_at"`
	ID         string  `json:"id"`
	IP         string  `json:"ip"`
	LastSeenAt *string `json:"last_seen_at"`
	RotatedAt  *string `json:"rotated_at"`
	UserAgent  string  `json:"user_agent"`
}

func decodeSessions(t *testing.T, body []byte) []sessionObj {
	t.Helper()
	var list []sessionObj
	require.NoError(t, json.Unmarshal(body, &list))
	return list
}

func TestSessionsAPI(t *testing.T) {
	s := newSessionServer(t)
	admin := s.adminCookie()
	bob := s.createUserAsCookieAdmin("bob@example.com")
	carol := s.createUserAsCookieAdmin("carol@example.com")
	bob1 := s.sessionCookie("bob@example.com", userPassword)
	bob2 := s.sessionCookie("bob@example.com", userPassword)
	bob3 := s.sessionCookie("bob@example.com", userPassword)
	carol1 := s.sessionCookie("carol@example.com", userPassword)

	// Anonymous: 401 everywhere.
	for _, r := range [][2]string{
		{"GET", "/api/v1/auth_session/sessions"}, {"DELETE", "/api/v1/auth_session/sessions"},
		{"DELETE", "/api/v1/auth_session/sessions/x"}, {"GET", "/api/v1/users/" + bob.ID + "/sessions"},
		{"DELETE", "/api/v1/users/" + bob.ID + "/sessions"}, {"PUT", "/api/v1/users/me/password"},
	} {
		assertError(t, s.do(r[0], r[1], ""), 401, "Unauthorized")
	}

	// A user lists their own sessions, the current one marked.
	rec := s.do("GET", "/api/v1/auth_session/sessions/", "", withCookie(bob2), header("User-Agent", "test-agent/1"))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	list := decodeSessions(t, rec.Body.Bytes())
	require.Len(t, list, 3)
	currents := 0
	for _, x := range list {
		if x.Current {
			currents++
		}
		assert.Regexp(t, wireTime, *x.CreatedAt)
		assert.Regexp(t, wireTime, *x.ExpiresAt)
		assert.Equal(t, "192.0.2.1", x.IP)
		assert.NotContains(t, rec.Body.String(), bob1.Value)
	}
	assert.Equal(t, 1, currents)
	assert.True(t, list[1].Current, "oldest first; bob2 is the second")

	// Another user's session id is 404, like one that does not exist.
	rec = s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(carol1))
	carolSessions := decodeSessions(t, rec.Body.Bytes())
	require.Len(t, carolSessions, 1)
	assertError(t, s.do("DELETE", "/api/v1/auth_session/sessions/"+carolSessions[0].ID, "", withCookie(bob1)), 404, "Not found")
	assertError(t, s.do("DELETE", "/api/v1/auth_session/sessions/no-such-id", "", withCookie(bob1)), 404, "Not found")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(carol1)).Code)

	// Revoke one of mine.
	assertBody(t, s.do("DELETE", "/api/v1/auth_session/sessions/"+list[0].ID, "", withCookie(bob2)), 200, `{}`)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob1)), 403, "Forbidden")

	// Revoke all my others: the current one lives on.
	assertBody(t, s.do("DELETE", "/api/v1/auth_session/sessions", "", withCookie(bob2)), 200, `{"revoked":1}`)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob3)), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(bob2)).Code)
	assertBody(t, s.do("DELETE", "/api/v1/auth_session/sessions", "", withCookie(bob2)), 200, `{"revoked":0}`)

	// Admin routes: users are refused, admins see and end anyone's.
	assertError(t, s.do("GET", "/api/v1/users/"+bob.ID+"/sessions", "", withCookie(carol1)), 403, "Forbidden")
	assertError(t, s.do("DELETE", "/api/v1/users/"+bob.ID+"/sessions", "", withCookie(carol1)), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/me/sessions", "", withCookie(carol1)), 403, "Forbidden")
	rec = s.do("GET", "/api/v1/users/"+bob.ID+"/sessions", "", withCookie(admin))
	require.Equal(t, 200, rec.Code)
	require.Len(t, decodeSessions(t, rec.Body.Bytes()), 1)
	assert.False(t, decodeSessions(t, rec.Body.Bytes())[0].Current)
	assertError(t, s.do("GET", "/api/v1/users/00000000-0000-4000-8000-000000000000/sessions", "", withCookie(admin)), 404, "Not found")
	assertError(t, s.do("DELETE", "/api/v1/users/00000000-0000-4000-8000-000000000000/sessions", "", withCookie(admin)), 404, "Not found")
	assertBody(t, s.do("DELETE", "/api/v1/users/"+bob.ID+"/sessions/", "", withCookie(admin)), 200, `{"revoked":1}`)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob2)), 403, "Forbidden")
	rec = s.do("GET", "/api/v1/users/me/sessions", "", withCookie(admin))
	require.Equal(t, 200, rec.Code)
	assert.True(t, decodeSessions(t, rec.Body.Bytes())[0].Current)

	// An admin's own sessions through the user routes; an admin cannot
	// revoke another user's session through them either.
	rec = s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(admin))
	require.Equal(t, 200, rec.Code)
	adminSessions := decodeSessions(t, rec.Body.Bytes())
	require.Len(t, adminSessions, 3, "one per admin login of this test")
	assertError(t, s.do("DELETE", "/api/v1/auth_session/sessions/"+carolSessions[0].ID, "", withCookie(admin)), 404, "Not found")
	assertBody(t, s.do("DELETE", "/api/v1/auth_session/sessions", "", withCookie(admin)), 200, `{"revoked":2}`)
	rec = s.do("GET", "/api/v1/users/"+carol.ID+"/sessions", "", withCookie(admin))
	require.Equal(t, 200, rec.Code)
	assert.Len(t, decodeSessions(t, rec.Body.Bytes()), 1, "carol's session untouched")
}

func TestSessionsRoutesAbsentInBasicMode(t *testing.T) {
	s := newServer(t)
	assertError(t, s.do("GET", "/api/v1/auth_session/sessions", "", asAdmin()), 404, "Not found")
	assertError(t, s.do("GET", "/api/v1/users/me/sessions", "", asAdmin()), 404, "Not found")
	// Password change works in basic_auth mode too.
	s.createUser("bob@example.com")
	assertBody(t, s.do("PUT", "/api/v1/users/me/password",
		`{"current_password":"`+userPassword+`","new_password":"brand-new-pass"}`,
		basicAuth("bob@example.com", userPassword)), 200, `{}`)
	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword)), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", "brand-new-pass")).Code)
}

func TestPasswordChange(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	bob1 := s.sessionCookie("bob@example.com", userPassword)
	bob2 := s.sessionCookie("bob@example.com", userPassword)

	for _, tc := range []struct{ body, msg string }{
		{``, "Wrong format"},
		{`[]`, "Wrong format"},
		{`{}`, "current_password missing"},
		{`{"current_password":"x"}`, "new_password missing"},
		{`{"current_password":1,"new_password":"long-enough-1"}`, "Wrong format"},
		{`{"current_password":"` + userPassword + `","new_password":"short"}`, "password too short"},
		{`{"current_password":"` + userPassword + `","new_password":"` + strings.Repeat("x", 129) + `"}`, "password too long"},
	} {
		assertError(t, s.do("PUT", "/api/v1/users/me/password", tc.body, withCookie(bob1)), 400, tc.msg)
	}
	listed := decodeSessions(t, s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(bob1)).Body.Bytes())
	require.Len(t, listed, 2)
	bob1ID := listed[0].ID
	if listed[1].Current {
		bob1ID = listed[1].ID
	}
	before := s.app.Hasher().Verifications()
	assertError(t, s.do("PUT", "/api/v1/users/me/password",
		`{"current_password":"not-it","new_password":"long-enough-1"}`, withCookie(bob1)), 401, "wrong password")
	assert.Equal(t, before+1, s.app.Hasher().Verifications())

	rec := s.do("PUT", "/api/v1/users/me/password/",
		`{"current_password":"`+userPassword+`","new_password":"long-enough-1"}`, withCookie(bob1))
	assertBody(t, rec, 200, `{}`)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	fresh := cookieOf(t, rec)
	require.NotNil(t, fresh, "a new cookie")
	assert.NotEqual(t, bob1.Value, fresh.Value)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob1)), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob2)), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(fresh)).Code)
	// The session got a new token but is the same session: same public id.
	listed = decodeSessions(t, s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(fresh)).Body.Bytes())
	require.Len(t, listed, 1)
	assert.Equal(t, bob1ID, listed[0].ID)
	assert.True(t, listed[0].Current)
	assertError(t, s.login("bob@example.com", userPassword), 401, "wrong password")
	assert.Equal(t, 200, s.login("bob@example.com", "long-enough-1").Code)
}

func TestWrongCurrentPasswordCountsAsFailure(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	bob := s.sessionCookie("bob@example.com", userPassword)
	for i := 0; i < 5; i++ {
		assertError(t, s.do("PUT", "/api/v1/users/me/password",
			`{"current_password":"nope","new_password":"long-enough-1"}`, withCookie(bob)), 401, "wrong password")
	}
	rec := s.login("bob@example.com", userPassword)
	assertError(t, rec, 429, "Too many requests")
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
}

func TestLoginThrottling(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	hasher := s.app.Hasher()

	for i := 0; i < 5; i++ {
		assertError(t, s.login("bob@example.com", "wrong"), 401, "wrong password")
	}
	// Throttled: 429 with Retry-After, and no hash is computed.
	before := hasher.Verifications()
	rec := s.login("bob@example.com", userPassword)
	assertError(t, rec, 429, "Too many requests")
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assertError(t, s.login("BOB@example.com", "wrong"), 429, "Too many requests")
	assert.Equal(t, before, hasher.Verifications(), "no password hash while throttled")

	// The delay grows: 1 s, then 2 s, then 4 s.
	wait := 1
	for _, want := range []string{"2", "4", "8"} {
		s.clock.Advance(wait)
		assertError(t, s.login("bob@example.com", "wrong"), 401, "wrong password")
		rec := s.login("bob@example.com", "wrong")
		assertError(t, rec, 429, "Too many requests")
		assert.Equal(t, want, rec.Header().Get("Retry-After"))
		wait, _ = strconv.Atoi(want)
	}
	// Other accounts are not affected.
	assertError(t, s.login(adminEmail, "wrong"), 401, "wrong password")

	// A success resets the count.
	s.clock.Advance(wait)
	require.Equal(t, 200, s.login("bob@example.com", userPassword).Code)
	for i := 0; i < 4; i++ {
		assertError(t, s.login("bob@example.com", "wrong"), 401, "wrong password")
	}
	assert.Equal(t, 200, s.login("bob@example.com", userPassword).Code)
}

func TestLoginThrottlingCapsAt100FailuresAnHour(t *testing.T) {
	s := newSessionServer(t, "LOGIN_MAX_DELAY", "1")
	for i := 0; i < 100; i++ {
		s.clock.Advance(2) // past the (capped) delay each time
		assertError(t, s.login("target@example.com", "wrong"), 404, "no user found for this email")
	}
	s.clock.Advance(2)
	rec := s.login("target@example.com", "wrong")
	assertError(t, rec, 429, "Too many requests")
	retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	assert.Greater(t, retry, 3000, "until the oldest failure is an hour old")
	s.clock.Advance(retry)
	assertError(t, s.login("target@example.com", "wrong"), 404, "no user found for this email")
}

func TestLoginThrottlingPerAddress(t *testing.T) {
	s := newSessionServer(t, "LOGIN_IP_BURST", "3", "LOGIN_IP_PER_MINUTE", "3", "TRUSTED_PROXIES", "10.0.0.0/8")
	attempt := func(i int, opts ...option) int {
		return s.login(fmt.Sprintf("u%d@example.com", i), "whatever", opts...).Code
	}
	for i := 0; i < 3; i++ {
		assert.Equal(t, 404, attempt(i))
	}
	assert.Equal(t, 429, attempt(3))
	s.clock.Advance(20) // one attempt's worth of refill
	assert.Equal(t, 404, attempt(4))
	assert.Equal(t, 429, attempt(5))

	// Through a trusted proxy, X-Forwarded-For names the client.
	proxy := remoteAddr("10.0.0.1:4000")
	for i := 0; i < 3; i++ {
		assert.Equal(t, 404, attempt(10+i, proxy, header("X-Forwarded-For", "198.51.100.7")))
	}
	assert.Equal(t, 429, attempt(20, proxy, header("X-Forwarded-For", "198.51.100.7")))
	assert.Equal(t, 404, attempt(21, proxy, header("X-Forwarded-For", "198.51.100.8")), "another client behind the proxy")

	// From an untrusted peer, a spoofed X-Forwarded-For changes nothing.
	peer := remoteAddr("203.0.113.5:4000")
	for i := 0; i < 3; i++ {
		assert.Equal(t, 404, attempt(30+i, peer, header("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 50+i))))
	}
	assert.Equal(t, 429, attempt(40, peer, header("X-Forwarded-For", "198.51.100.99")))
}

// An IPv6 client is limited per /64 (LOGIN_IPV6_PREFIX): thirty addresses
// of one /64 share one address's budget, another /64 has its own, and an
// IPv4-mapped address is its IPv4 address. The audit log names each
// attempt's real address.
func TestLoginThrottlingPerIPv6Prefix(t *testing.T) {
	s := newSessionServer(t, "LOGIN_IP_BURST", "3", "LOGIN_IP_PER_MINUTE", "3", "TRUSTED_PROXIES", "10.0.0.0/8")
	s.logs.Reset()
	attempt := func(i int, opts ...option) int {
		return s.login(fmt.Sprintf("u%d@example.com", i), "whatever", opts...).Code
	}
	var codes []int
	for i := range 30 {
		codes = append(codes, attempt(i, remoteAddr(fmt.Sprintf("[2001:db8:1:2:%x::%x]:4000", i*11+1, i+1))))
	}
	assert.Equal(t, []int{404, 404, 404}, codes[:3])
	assert.Equal(t, slices.Repeat([]int{429}, 27), codes[3:], "one budget for the whole /64")
	assert.Equal(t, 404, attempt(30, remoteAddr("[2001:db8:1:3::1]:4000")), "the next /64 is another client")
	assert.Equal(t, 404, attempt(31, remoteAddr("[2001:db8:1:3::2]:4000")))

	var ips []any
	for _, e := range s.auditEvents("login_failed") {
		ips = append(ips, e["client_ip"])
	}
	require.Len(t, ips, 32)
	assert.Equal(t, "2001:db8:1:2:1::1", ips[0], "audit logs show the address, not the prefix")
	assert.Equal(t, "2001:db8:1:2:140::1e", ips[29])
	assert.Equal(t, "2001:db8:1:3::2", ips[31])
	assert.NotContains(t, s.logs.String(), "/64")

	// Through a trusted proxy, an IPv4-mapped address is its IPv4 address.
	proxy := remoteAddr("10.0.0.1:4000")
	assert.Equal(t, 404, attempt(40, proxy, header("X-Forwarded-For", "198.51.100.7")))
	assert.Equal(t, 404, attempt(41, proxy, header("X-Forwarded-For", "::ffff:198.51.100.7")))
	assert.Equal(t, 404, attempt(42, proxy, header("X-Forwarded-For", "198.51.100.7")))
	assert.Equal(t, 429, attempt(43, proxy, header("X-Forwarded-For", "::ffff:198.51.100.7")))
	assert.Equal(t, 429, attempt(44, proxy, header("X-Forwarded-For", "198.51.100.7")))
	assert.Equal(t, 404, attempt(45, proxy, header("X-Forwarded-For", "::ffff:198.51.100.8")), "another IPv4 client")

	// LOGIN_IPV6_PREFIX=128: every IPv6 address is a client of its own.
	each := newSessionServer(t, "LOGIN_IP_BURST", "3", "LOGIN_IP_PER_MINUTE", "3", "LOGIN_IPV6_PREFIX", "128")
	for i := range 30 {
		code := each.login(fmt.Sprintf("u%d@example.com", i), "whatever",
			remoteAddr(fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1))).Code
		assert.Equal(t, 404, code, i)
	}
}

func TestEnumerationResistance(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	hasher := s.app.Hasher()

	before := hasher.Verifications()
	assertError(t, s.login("nobody@example.com", "whatever"), 404, "no user found for this email")
	assert.Equal(t, before+1, hasher.Verifications(), "unknown email: one dummy verification")
	before = hasher.Verifications()
	assertError(t, s.login("bob@example.com", "whatever"), 401, "wrong password")
	assert.Equal(t, before+1, hasher.Verifications(), "wrong password: one verification")

	g := newSessionServer(t, "AUTH_GENERIC_ERRORS", "true")
	g.createUserAsCookieAdmin("bob@example.com")
	unknown := g.login("nobody@example.com", "whatever")
	wrong := g.login("bob@example.com", "whatever")
	assert.Equal(t, unknown.Code, wrong.Code)
	assert.Equal(t, unknown.Body.String(), wrong.Body.String())
	assert.Equal(t, unknown.Header().Get("Content-Type"), wrong.Header().Get("Content-Type"))
}

// createWithCookie creates the user x<n>@example.com with cookie c and
// opts, as a cross-site test's request, and returns the status.
func (s *server) createWithCookie(c *http.Cookie, n int, opts ...option) int {
	body := fmt.Sprintf(`{"email":"x%d@example.com","password":"%s"}`, n, userPassword)
	return s.do("POST", "/api/v1/users", body, append([]option{withCookie(c)}, opts...)...).Code
}

func TestCrossSiteRequests(t *testing.T) {
	s := newSessionServer(t, "CORS_ORIGINS", "https://app.example.com")
	admin := s.adminCookie()
	create := func(n int, opts ...option) int { return s.createWithCookie(admin, n, opts...) }
	assert.Equal(t, 403, create(1, header("Sec-Fetch-Site", "cross-site")))
	assert.Equal(t, 403, create(2, header("Origin", "https://evil.example.com")))
	assert.Equal(t, 201, create(3, header("Sec-Fetch-Site", "same-origin")))
	assert.Equal(t, 201, create(4, header("Sec-Fetch-Site", "cross-site"), header("Origin", "https://app.example.com")))
	assert.Equal(t, 201, create(5), "no browser headers: curl, Postman")
	// Safe methods are never refused.
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(admin), header("Sec-Fetch-Site", "cross-site")).Code)
	// A forged cross-site login is refused too.
	assertError(t, s.login(adminEmail, adminPassword, header("Sec-Fetch-Site", "cross-site")), 403, "Forbidden")

	// Preflight: 204 with the CORS headers, no authentication needed.
	rec := s.do("OPTIONS", "/api/v1/users", "", header("Origin", "https://app.example.com"),
		header("Access-Control-Request-Method", "POST"), header("Access-Control-Request-Headers", "content-type"))
	assert.Equal(t, 204, rec.Code)
	assert.Equal(t, "https://app.example.com", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "POST")
	assert.Contains(t, strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers")), "content-type")
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
}

// An Origin naming the service's host under the other scheme is another
// origin: without Sec-Fetch-Site, a create and a password change from it
// are refused like any cross-site request. The service's scheme is what it
// answered on: TLS, or a trusted proxy's X-Forwarded-Proto.
func TestCrossSiteRequestsFromTheOtherScheme(t *testing.T) {
	s := newSessionServer(t, "TRUSTED_PROXIES", "10.0.0.0/8")
	admin := s.adminCookie()
	create := func(n int, opts ...option) int { return s.createWithCookie(admin, n, opts...) }
	// httptest requests are to http://example.com.
	const httpsOrigin, httpOrigin = "https://example.com", "http://example.com"
	proxied := []option{remoteAddr("10.0.0.1:4000"), header("X-Forwarded-Proto", "https")}
	assert.Equal(t, 403, create(1, header("Origin", httpsOrigin)), "https origin, http service")
	assert.Equal(t, 201, create(2, header("Origin", httpOrigin)), "same origin")
	assert.Equal(t, 403, create(3, overTLS(), header("Origin", httpOrigin)), "http origin, https service")
	assert.Equal(t, 201, create(4, overTLS(), header("Origin", httpsOrigin)), "same origin over TLS")
	assert.Equal(t, 201, create(5, append(proxied, header("Origin", httpsOrigin))...), "same origin behind a TLS proxy")
	assert.Equal(t, 403, create(6, append(proxied, header("Origin", httpOrigin))...))
	assert.Equal(t, 403, create(7, remoteAddr("203.0.113.5:4000"), header("X-Forwarded-Proto", "https"),
		header("Origin", httpsOrigin)), "X-Forwarded-Proto from an untrusted peer is not believed")
	assert.Equal(t, 201, create(8, header("Sec-Fetch-Site", "same-origin"), header("Origin", httpOrigin)))
	assert.Equal(t, 201, create(9), "no browser headers")

	s.createUserAsCookieAdmin("bob@example.com")
	bob := s.sessionCookie("bob@example.com", userPassword)
	change := func(c *http.Cookie, current, next string, opts ...option) *httptest.ResponseRecorder {
		body := fmt.Sprintf(`{"current_password":%q,"new_password":%q}`, current, next)
		return s.do("PUT", "/api/v1/users/me/password", body, append([]option{withCookie(c)}, opts...)...)
	}
	assertError(t, change(bob, userPassword, "new-password-1", header("Origin", httpsOrigin)), 403, "Forbidden")
	assertError(t, change(bob, userPassword, "new-password-1", overTLS(), header("Origin", httpOrigin)), 403, "Forbidden")
	assertError(t, change(bob, userPassword, "new-password-1", append(proxied, header("Origin", httpOrigin))...),
		403, "Forbidden")

	// The current password is still the first: the refused changes changed nothing.
	rec := change(bob, userPassword, "new-password-1", header("Origin", httpOrigin))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	bob = cookieOf(t, rec)
	require.NotNil(t, bob)
	rec = change(bob, "new-password-1", "new-password-2", overTLS(), header("Origin", httpsOrigin))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	bob = cookieOf(t, rec)
	require.NotNil(t, bob)
	rec = change(bob, "new-password-2", "new-password-3", append(proxied, header("Origin", httpsOrigin))...)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.True(t, canSignIn(s, "bob@example.com", "new-password-3"))
}

func TestHeadersOnServerErrors(t *testing.T) {
	s := newSessionServer(t)
	admin := s.adminCookie()
	s.stop() // the store refuses writes from now on
	rec := s.do("POST", "/api/v1/users", `{"email":"late@example.com","password":"`+userPassword+`"}`, withCookie(admin))
	assert.GreaterOrEqual(t, rec.Code, 500)
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.NotContains(t, rec.Body.String(), "closed", "no internal detail")
	assert.Contains(t, []string{`{"error":"Internal server error"}`, `{"error":"Service unavailable"}`}, rec.Body.String())
}

// rawToken opens a session cookie with the server's secret and returns the
// token inside, so tests can look for the token itself.
func rawToken(t *testing.T, secret string, c *http.Cookie) string {
	t.Helper()
	codec := middleware.NewSessionCookies(middleware.CookieConfig{Name: c.Name, Secrets: [][]byte{[]byte(secret)}})
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	token, _, ok := codec.Token(req)
	require.True(t, ok)
	require.Len(t, token.Value, 45, "<16 bytes>.<16 bytes>, base64url")
	return token.Value
}

// tokenSecrets is what must never be found in a log or a file: the
// cookie, its token, and each part of the token on its own.
func tokenSecrets(t *testing.T, secret string, c *http.Cookie) []string {
	t.Helper()
	token := rawToken(t, secret, c)
	family, rest, _ := strings.Cut(token, ".")
	return []string{c.Value, token, family, rest}
}

func TestAuditLogHasEventsAndNoSecrets(t *testing.T) {
	s := newSessionServer(t, "SESSION_SECRET", secretA)
	admin := s.adminCookie()
	bob := s.createUserAsCookieAdmin("bob@example.com")
	assertError(t, s.login("bob@example.com", "wrong-secret-1"), 401, "wrong password")
	assertError(t, s.login("ghost@example.com", "wrong-secret-2"), 404, "no user found for this email")
	bobCookie := s.sessionCookie("bob@example.com", userPassword)
	other := s.sessionCookie("bob@example.com", userPassword)
	rec := s.do("PUT", "/api/v1/users/me/password", `{"current_password":"`+userPassword+`","new_password":"new-secret-3"}`,
		withCookie(bobCookie), header("X-Request-ID", "req-pw-1"))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "req-pw-1", rec.Header().Get("X-Request-ID"))
	fresh := cookieOf(t, rec)
	third := s.sessionCookie("bob@example.com", "new-secret-3")
	rec = s.do("GET", "/api/v1/auth_session/sessions", "", withCookie(third))
	require.Equal(t, 200, rec.Code)
	for _, x := range decodeSessions(t, rec.Body.Bytes()) {
		if !x.Current {
			require.Equal(t, 200, s.do("DELETE", "/api/v1/auth_session/sessions/"+x.ID, "", withCookie(third)).Code)
		}
	}
	require.Equal(t, 200, s.do("DELETE", "/api/v1/auth_session/logout", "", withCookie(third)).Code)
	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, withCookie(admin)).Code)
	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/"+bob.ID, "", withCookie(admin)).Code)

	logs := s.logs.String()
	secrets := []string{adminPassword, userPassword, "wrong-secret-1", "wrong-secret-2", "new-secret-3", secretA}
	for _, c := range []*http.Cookie{admin, bobCookie, other, fresh, third} {
		secrets = append(secrets, tokenSecrets(t, secretA, c)...)
	}
	for _, secret := range secrets {
		assert.NotContains(t, logs, secret)
	}
	events := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		if entry["audit"] == true {
			events[entry["event"].(string)] = append(events[entry["event"].(string)], entry)
		}
	}
	for _, e := range []string{"login_succeeded", "login_failed", "logout", "session_revoked", "password_changed",
		"user_created", "user_role_changed", "user_deleted"} {
		require.NotEmpty(t, events[e], "event %s", e)
		fromRequest := 0
		for _, entry := range events[e] {
			if entry["request_id"] != nil {
				fromRequest++
				assert.Equal(t, "192.0.2.1", entry["client_ip"], e)
			}
		}
		assert.NotZero(t, fromRequest, "event %s carries its request", e)
	}
	reasons := map[any]bool{}
	for _, entry := range events["login_failed"] {
		reasons[entry["reason"]] = true
	}
	assert.True(t, reasons["wrong_password"] && reasons["unknown_email"], "%v", reasons)
	pw := events["password_changed"][0]
	assert.Equal(t, "req-pw-1", pw["request_id"])
	assert.Equal(t, bob.ID, pw["user_id"])
	assert.NotEmpty(t, pw["session_id"])
	for _, entry := range events["login_succeeded"] {
		assert.NotEmpty(t, entry["session_id"])
		assert.NotEmpty(t, entry["user_id"])
	}
	assert.Equal(t, bob.ID, events["user_deleted"][0]["user_id"])
	assert.NotEmpty(t, events["user_deleted"][0]["actor_id"])
}
