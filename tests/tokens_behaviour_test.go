package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
	"simpleapi/internal/testkit"
	"simpleapi/middleware"
	"simpleapi/store/postgres/pgtest"
)

// userIDAs finds the id of email through the API as the admin as.
func userIDAs(t *testing.T, s *server, as option, email string) string {
	t.Helper()
	rec := s.do("GET", "/api/v1/users", "", as)
	require.Equal(t, 200, rec.Code)
	var users []userJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &users))
	for _, u := range users {
		if u.Email != nil && *u.Email == email {
			return u.ID
		}
	}
	t.Fatalf("no user %s", email)
	return ""
}

var tokenPattern = regexp.MustCompile(`^sapi_[0-9A-Za-z]{49}$`)

// auditLines are the audit log lines of event in logs.
func auditLines(logs, event string) []map[string]any {
	var found []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["audit"] == true && m["event"] == event {
			found = append(found, m)
		}
	}
	return found
}

func TestTokenLifecycle(t *testing.T) {
	for _, mode := range tokenModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			admin := signIn(s, adminEmail, adminPassword)
			require.Equal(t, 201, s.do("POST", "/api/v1/users",
				`{"email":"bob@example.com","password":"`+userPassword+`"}`, admin).Code)
			bob := signIn(s, "bob@example.com", userPassword)

			rec := s.do("POST", "/api/v1/users/me/tokens", `{"name":" ci ","scope":"write"}`, bob)
			require.Equal(t, 201, rec.Code, rec.Body.String())
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			var tok createdToken
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &tok))
			assert.Regexp(t, tokenPattern, tok.Token)
			assert.True(t, auth.WellFormedToken(tok.Token))
			assert.Equal(t, "ci", tok.Name, "trimmed")
			assert.Equal(t, "write", tok.Scope)
			assert.Equal(t, "2026-01-02T03:04:05", tok.CreatedAt)
			assert.Equal(t, "2026-04-02T03:04:05", tok.ExpiresAt, "90 days by default")
			created := auditLines(s.logs.String(), auth.EventTokenCreated)
			require.Len(t, created, 1)
			assert.Equal(t, tok.ID, created[0]["token_id"])
			assert.NotContains(t, s.logs.String(), tok.Token, "the secret is never logged")

			list := s.listTokens(bob)
			require.Len(t, list, 1)
			assert.Equal(t, listedToken{CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt, ID: tok.ID, Name: "ci",
				Scope: "write"}, list[0], "no use yet")
			assert.NotContains(t, s.do("GET", "/api/v1/users/me/tokens", "", bob).Body.String(), tok.Token)

			// The token acts as bob.
			rec = s.do("GET", "/api/v1/users/me", "", bearer(tok.Token), fromAddr("192.0.2.1"))
			require.Equal(t, 200, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), `"email":"bob@example.com"`)
			list = s.listTokens(bob)
			require.NotNil(t, list[0].LastUsedAt)
			assert.Equal(t, "2026-01-02T03:04:05", *list[0].LastUsedAt)
			assert.Equal(t, "192.0.2.1", *list[0].LastUsedIP)
			require.Len(t, auditLines(s.logs.String(), auth.EventTokenFirstUseFromAddress), 1)

			// Within the minute no use is written, whatever the address.
			s.clock.Advance(59)
			require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token), fromAddr("192.0.2.2")).Code)
			list = s.listTokens(bob)
			assert.Equal(t, "2026-01-02T03:04:05", *list[0].LastUsedAt)
			assert.Equal(t, "192.0.2.1", *list[0].LastUsedIP)
			// After it, the next use is, and a new address is audited once.
			s.clock.Advance(1)
			require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token), fromAddr("192.0.2.2")).Code)
			list = s.listTokens(bob)
			assert.Equal(t, "2026-01-02T03:05:05", *list[0].LastUsedAt)
			assert.Equal(t, "192.0.2.2", *list[0].LastUsedIP)
			firstUses := auditLines(s.logs.String(), auth.EventTokenFirstUseFromAddress)
			require.Len(t, firstUses, 2)
			assert.Equal(t, "192.0.2.2", firstUses[1]["client_ip"])
			assert.Equal(t, "192.0.2.1", firstUses[1]["previous_ip"])
			s.clock.Advance(60)
			require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token), fromAddr("192.0.2.2")).Code)
			assert.Len(t, auditLines(s.logs.String(), auth.EventTokenFirstUseFromAddress), 2, "the same address")

			// The admin sees bob's tokens; bob cannot see the admin's.
			bobID, adminID := userIDAs(t, s, admin, "bob@example.com"), userIDAs(t, s, admin, adminEmail)
			rec = s.do("GET", "/api/v1/users/"+bobID+"/tokens", "", admin)
			require.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), tok.ID)
			assertError(t, s.do("GET", "/api/v1/users/"+adminID+"/tokens", "", bob), 403, "Forbidden")

			// Revoked: refused at once, audited; a second revocation is 404.
			assertError(t, s.do("DELETE", "/api/v1/users/me/tokens/"+tok.ID, "", admin), 404, "Not found")
			assertBody(t, s.do("DELETE", "/api/v1/users/me/tokens/"+tok.ID, "", bob), 200, `{}`)
			revoked := auditLines(s.logs.String(), auth.EventTokenRevoked)
			require.Len(t, revoked, 1)
			assert.Equal(t, tok.ID, revoked[0]["token_id"])
			rec = s.do("GET", "/api/v1/users/me", "", bearer(tok.Token))
			assertError(t, rec, 401, auth.MsgInvalidToken)
			assert.Equal(t, middleware.BearerChallenge, rec.Header().Get("WWW-Authenticate"))
			refused := auditLines(s.logs.String(), auth.EventTokenRefused)
			require.Len(t, refused, 1)
			assert.Equal(t, "unknown", refused[0]["reason"])
			assertError(t, s.do("DELETE", "/api/v1/users/me/tokens/"+tok.ID, "", bob), 404, "Not found")
			assert.Empty(t, s.listTokens(bob))

			// An admin revokes all of a user's tokens.
			s.createToken(bob, "a", "read", 1)
			s.createToken(bob, "b", "write", 1)
			assertBody(t, s.do("DELETE", "/api/v1/users/"+bobID+"/tokens", "", admin), 200, `{"revoked":2}`)
			assert.Empty(t, s.listTokens(bob))
			assertError(t, s.do("DELETE", "/api/v1/users/"+bobID+"/tokens", "", bob), 403, "Forbidden")
		})
	}
}

func TestTokenCreationChecksItsInput(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	admin := asAdmin()
	for _, c := range []struct{ body, msg string }{
		{`{"scope":"read"}`, auth.MsgTokenName},
		{`{"name":"","scope":"read"}`, auth.MsgTokenName},
		{`{"name":"   ","scope":"read"}`, auth.MsgTokenName},
		{`{"name":7,"scope":"read"}`, auth.MsgTokenName},
		{`{"name":"a\u0007b","scope":"read"}`, auth.MsgTokenName},
		{`{"name":"` + strings.Repeat("é", 101) + `","scope":"read"}`, auth.MsgTokenName},
		{`{"name":"ci"}`, auth.MsgTokenScope},
		{`{"name":"ci","scope":"admin"}`, auth.MsgTokenScope},
		{`{"name":"ci","scope":"read","expires_in_days":0}`, auth.MsgTokenDays},
		{`{"name":"ci","scope":"read","expires_in_days":366}`, auth.MsgTokenDays},
		{`{"name":"ci","scope":"read","expires_in_days":1.5}`, auth.MsgTokenDays},
		{`{"name":"ci","scope":"read","expires_in_days":"30"}`, auth.MsgTokenDays},
		{`{"name":"ci","scope":"read","expires_in_days":1e400}`, auth.MsgTokenDays},
		{`[]`, "Wrong format"},
	} {
		assertError(t, s.do("POST", "/api/v1/users/me/tokens", c.body, admin), 400, c.msg)
	}
	assert.Empty(t, s.listTokens(admin), "nothing was created")

	tok := s.createToken(admin, strings.Repeat("é", 100), "read", 365)
	assert.Equal(t, "2027-01-02T03:04:05", tok.ExpiresAt)
	rec := s.do("POST", "/api/v1/users/me/tokens", `{"name":"n","scope":"read","expires_in_days":null}`, admin)
	require.Equal(t, 201, rec.Code)
	assert.Contains(t, rec.Body.String(), `"expires_at":"2026-04-02T03:04:05"`)

	// At most 50 live tokens: the 51st is 409 until one is revoked or
	// expires.
	for i := 2; i < auth.MaxTokensPerUser; i++ {
		s.createToken(admin, fmt.Sprintf("t%d", i), "read", 1)
	}
	assertError(t, s.do("POST", "/api/v1/users/me/tokens", `{"name":"one more","scope":"read"}`, admin), 409,
		"too many access tokens: revoke one first")
	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/me/tokens/"+tok.ID, "", admin).Code)
	s.createToken(admin, "now it fits", "read", 90)
	assertError(t, s.do("POST", "/api/v1/users/me/tokens", `{"name":"one more","scope":"read"}`, admin), 409,
		"too many access tokens: revoke one first")
	s.clock.AdvanceBy(24 * time.Hour) // the 48 one-day tokens end
	list := s.listTokens(admin)
	require.Len(t, list, 50)
	assert.True(t, list[2].Expired)
	s.createToken(admin, "after expiry", "read", 90)
	assert.Len(t, s.listTokens(admin), 3, "the expired ones were removed with the creation")
}

// Creating a token needs a recent authentication in the session modes.
func TestTokenCreationNeedsReauthentication(t *testing.T) {
	s := newSessionServer(t)
	cookie := withCookie(s.adminCookie())
	s.clock.AdvanceBy(6 * time.Minute)
	assertError(t, s.do("POST", "/api/v1/users/me/tokens", `{"name":"ci","scope":"read"}`, cookie), 403,
		auth.MsgReauthRequired)
	rec := s.do("POST", "/api/v1/auth_session/reauth", `{"password":"`+adminPassword+`"}`, cookie)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	s.createToken(cookie, "ci", "read", 1)
}

func TestTokenAndCookieTogetherAre400(t *testing.T) {
	s := newSessionServer(t)
	cookie := s.adminCookie()
	tok := s.createToken(withCookie(cookie), "ci", "write", 1)
	for _, path := range []string{"/api/v1/users/me/tokens", "/api/v1/users/me/tokens/x"} {
		method := map[bool]string{true: "GET", false: "DELETE"}[strings.HasSuffix(path, "tokens")]
		assertError(t, s.do(method, path, "", withCookie(cookie), bearer(tok.Token)), 400, auth.MsgTokenAndCookie)
	}
	assertError(t, s.do("POST", "/api/v1/auth_session/login", `{"email":"a@example.com","password":"p"}`,
		withCookie(cookie), bearer(tok.Token)), 400, auth.MsgTokenAndCookie)
	// Nothing was guessed: both still work alone.
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(cookie)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
}

// Cross-site checks guard cookies (and cached Basic credentials), which
// browsers attach by themselves; a token they never attach.
func TestCrossSiteChecksDoNotApplyToTokens(t *testing.T) {
	s := newSessionServer(t)
	cookie := s.adminCookie()
	tok := s.createToken(withCookie(cookie), "ci", "write", 1)
	crossSite := header("Sec-Fetch-Site", "cross-site")
	origin := header("Origin", "https://evil.example")
	body := `{"first_name":"Remote"}`
	assertError(t, s.do("PUT", "/api/v1/users/me", body, withCookie(cookie), crossSite, origin), 403, "Forbidden")
	rec := s.do("PUT", "/api/v1/users/me", body, bearer(tok.Token), crossSite, origin)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"first_name":"Remote"`)
}

// A token acts with its user's role as it is at each request.
func TestTokenActsWithTheCurrentRole(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	bob := s.createUser("bob@example.com")
	tok := s.createToken(basicAuth("bob@example.com", userPassword), "ci", "write", 1)
	assertError(t, s.do("GET", "/api/v1/users", "", bearer(tok.Token)), 403, "Forbidden")
	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, asAdmin()).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users", "", bearer(tok.Token)).Code)
	// A token is never a recent authentication: it cannot change a role.
	assertError(t, s.do("PUT", "/api/v1/users/"+s.userByEmail(adminEmail).ID, `{"role":"user"}`, bearer(tok.Token)),
		403, auth.MsgReauthRequired)
	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"user"}`, asAdmin()).Code)
	assertError(t, s.do("GET", "/api/v1/users", "", bearer(tok.Token)), 403, "Forbidden")
	// A read token reads; writing is refused with its own message.
	read := s.createToken(basicAuth("bob@example.com", userPassword), "ro", "read", 1)
	assert.Equal(t, 200, s.do("HEAD", "/api/v1/users/me", "", bearer(read.Token)).Code)
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"first_name":"X"}`, bearer(read.Token)), 403, auth.MsgReadOnlyToken)
	assertError(t, s.do("POST", "/api/v1/users/me/tokens", `{"name":"x","scope":"read"}`, bearer(tok.Token)), 403,
		auth.MsgTokenNotAllowed)
	// Deleting the user deletes the tokens.
	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/"+bob.ID, "", asAdmin()).Code)
	assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)), 401, auth.MsgInvalidToken)
}

func TestTokenExpiry(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	tok := s.createToken(asAdmin(), "ci", "read", 1)
	s.clock.AdvanceBy(24*time.Hour - time.Second)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
	assert.False(t, s.listTokens(asAdmin())[0].Expired)
	s.clock.Advance(1)
	rec := s.do("GET", "/api/v1/users/me", "", bearer(tok.Token))
	assertError(t, rec, 401, auth.MsgInvalidToken)
	assert.Equal(t, middleware.BearerChallenge, rec.Header().Get("WWW-Authenticate"))
	refused := auditLines(s.logs.String(), auth.EventTokenRefused)
	require.Len(t, refused, 1)
	assert.Equal(t, "expired", refused[0]["reason"])
	assert.Equal(t, tok.ID, refused[0]["token_id"])
	list := s.listTokens(asAdmin())
	require.Len(t, list, 1)
	assert.True(t, list[0].Expired, "listed as expired until the next creation")
}

// Refused tokens count against their client address: after the burst,
// the address is throttled for tokens and for logins alike. Malformed
// tokens cost nothing and count for nothing.
func TestRefusedTokensAreThrottledPerAddress(t *testing.T) {
	s := newSessionServer(t, "LOGIN_IP_BURST", "3", "LOGIN_IP_PER_MINUTE", "1")
	tok := s.createToken(withCookie(s.adminCookie()), "ci", "read", 1)
	unknown := auth.NewTokenSecret()
	attacker, other := fromAddr("203.0.113.9"), fromAddr("203.0.113.10")
	for range 3 {
		assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(unknown), attacker), 401, auth.MsgInvalidToken)
	}
	rec := s.do("GET", "/api/v1/users/me", "", bearer(unknown), attacker)
	assertError(t, rec, 429, "Too many requests")
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
	assert.Equal(t, 429, s.login(adminEmail, adminPassword, attacker).Code, "its logins too")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token), attacker).Code,
		"a valid token is no attempt")

	malformed := "sapi_" + strings.Repeat("A", 49)
	for range 10 {
		assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(malformed), other), 401, auth.MsgInvalidToken)
	}
	assert.Equal(t, 200, s.login(adminEmail, adminPassword, other).Code, "not counted")
	reasons := map[any]int{}
	for _, l := range auditLines(s.logs.String(), auth.EventTokenRefused) {
		reasons[l["reason"]]++
	}
	assert.Equal(t, map[any]int{"unknown": 4, "malformed": 10}, reasons)
}

// Basic cannot send a second factor, so an account with one is refused
// Basic; its tokens are how its scripts get in. An admin's removal of its
// factors revokes them; the user's own password change keeps them.
func TestTokensOfAnAccountWithASecondFactor(t *testing.T) {
	s := newSessionServer(t)
	admin := withCookie(s.adminCookie())
	s.createUserAsCookieAdmin("bob@example.com")
	e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	bob := withCookie(s.signInWithTOTP("bob@example.com", userPassword, e.Secret))
	tok := s.createToken(bob, "ci", "write", 30)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)

	rec := s.do("PUT", "/api/v1/users/me/password",
		`{"current_password":"`+userPassword+`","new_password":"new-password-22"}`, bob)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code, "kept after the user's own change")

	bobID := s.userByEmailAsCookieAdmin(t, "bob@example.com").ID
	s.logs.Reset()
	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/"+bobID+"/second_factors", "", admin).Code)
	assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)), 401, auth.MsgInvalidToken)
	line := auditLine(t, s.logs.String(), "second_factors_removed")
	assert.Equal(t, float64(1), line["tokens_revoked"])
	revoked := auditLine(t, s.logs.String(), auth.EventTokenRevoked)
	assert.Equal(t, "second_factors_removed", revoked["reason"])
}

// An operator's password reset (`simpleapi user passwd`) revokes the
// user's tokens, as it ends their sessions.
func TestPasswordResetRevokesTokens(t *testing.T) {
	databaseURL := pgtest.Schema(t)
	s := newServer(t, "AUTH_TYPE", "basic_auth", "USER_STORE", "postgres", "DATABASE_URL", databaseURL)
	s.createUser("dave@example.com")
	tok := s.createToken(basicAuth("dave@example.com", userPassword), "ci", "read", 30)
	keep := s.createToken(asAdmin(), "admin's", "read", 30)
	code, _, stderr := command(t, s.env, "new-password-1\n", "user", "passwd", "--email", "dave@example.com")
	require.Equal(t, 0, code, stderr)
	assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)), 401, auth.MsgInvalidToken)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(keep.Token)).Code)
}

// Two instances share PostgreSQL: a token made on one works on the other,
// and its revocation on one is refused on the other at the next request.
func TestTokenRevocationAcrossInstances(t *testing.T) {
	databaseURL := pgtest.Schema(t)
	env := []string{"AUTH_TYPE", "basic_auth", "USER_STORE", "postgres", "DATABASE_URL", databaseURL}
	var a, b *server
	var wg sync.WaitGroup
	wg.Go(func() { a = newServer(t, env...) })
	wg.Go(func() { b = newServer(t, env...) })
	wg.Wait()
	tok := a.createToken(asAdmin(), "ci", "write", 30)
	for range 3 {
		require.Equal(t, 200, b.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
		require.Equal(t, 200, a.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
	}
	require.Equal(t, 200, a.do("DELETE", "/api/v1/users/me/tokens/"+tok.ID, "", asAdmin()).Code)
	assertError(t, b.do("GET", "/api/v1/users/me", "", bearer(tok.Token)), 401, auth.MsgInvalidToken)

	// What PostgreSQL holds: the hash, never the token.
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer conn.Close(t.Context())
	other := b.createToken(asAdmin(), "kept", "read", 30)
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM access_tokens WHERE token_hash = sha256($1::bytea)`,
		[]byte(other.Token)).Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM access_tokens WHERE id = $1`, tok.ID).Scan(&n))
	assert.Zero(t, n)
}

func TestTokenRequestsAreCountedByMethod(t *testing.T) {
	s := newServer(t, "AUTH_TYPE", "basic_auth")
	tok := s.createToken(asAdmin(), "ci", "read", 1)
	before := scrape(t, s.app.Metrics())
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)
	require.Equal(t, 401, s.do("GET", "/api/v1/users/me", "", bearer("sapi_nope")).Code)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin()).Code)
	require.Equal(t, 401, s.do("GET", "/api/v1/users/me", "").Code)
	after := scrape(t, s.app.Metrics())
	delta := func(method, result string) float64 {
		const m = "simpleapi_auth_requests_total"
		return after.value(m, "method", method, "result", result) - before.value(m, "method", method, "result", result)
	}
	assert.Equal(t, 2.0, delta("token", "ok"))
	assert.Equal(t, 1.0, delta("token", "refused"))
	assert.Equal(t, 1.0, delta("basic", "ok"))
	assert.Equal(t, 1.0, delta("none", "refused"))
	_ = http.StatusOK
}

// With PostgreSQL away (connections refused, or frozen), a request by
// token, a creation and a revocation are 503, within the store's
// deadline, never 401 or 500; once it is back, the token works.
func TestTokensWhilePostgresIsAway(t *testing.T) {
	schemaURL, err := url.Parse(pgtest.Schema(t))
	require.NoError(t, err)
	pg := testkit.NewProxy(t, schemaURL.Host)
	schemaURL.Host = pg.Addr()
	s := newServer(t, "AUTH_TYPE", "basic_auth", "USER_STORE", "postgres", "DATABASE_URL", schemaURL.String())
	tok := s.createToken(asAdmin(), "ci", "read", 30)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code)

	for _, mode := range []testkit.Mode{testkit.Refuse, testkit.Freeze} {
		pg.Set(mode)
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/api/v1/users/me", ""},
			{"GET", "/api/v1/users/me/tokens", ""},
			{"DELETE", "/api/v1/users/me/tokens/" + tok.ID, ""},
		} {
			opts := []option{bearer(tok.Token)}
			if req.path != "/api/v1/users/me" {
				opts = []option{asAdmin()}
			}
			start := time.Now()
			rec := s.do(req.method, req.path, req.body, opts...)
			assert.Less(t, time.Since(start), 8*time.Second, "bounded")
			assertError(t, rec, 503, "Service unavailable")
		}
		pg.Set(testkit.Forward)
		assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(tok.Token)).Code, "back")
	}
}
