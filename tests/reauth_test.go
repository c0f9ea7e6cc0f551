package tests

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The routes that change how an account is protected need an
// authentication no older than REAUTH_MAX_AGE (300 s by default): just
// inside it they work, one second later they answer 403 until
// POST /api/v1/auth_session/reauth renews it.
func TestReauthenticationWindow(t *testing.T) {
	s := newSessionServer(t)
	bob := s.createUserAsCookieAdmin("bob@example.com")
	admin := s.adminCookie()
	bobCookie := s.sessionCookie("bob@example.com", userPassword)
	body := `{"current_password":"` + userPassword + `","new_password":"` + userPassword + `"}`

	s.clock.Advance(300) // just inside
	rec := s.do("PUT", "/api/v1/users/me/password", body, withCookie(bobCookie))
	require.Equal(t, 200, rec.Code, rec.Body.String())
	bobCookie = cookieOf(t, rec) // renewed by the password change

	s.clock.Advance(1) // just outside, for both sessions
	for _, tc := range []struct {
		method, path, body string
		cookie             *http.Cookie
	}{
		{"PUT", "/api/v1/users/me/password", body, bobCookie},
		{"POST", "/api/v1/users/me/totp", "", bobCookie},
		{"PUT", "/api/v1/users/me/totp", `{"code":"123456"}`, bobCookie},
		{"DELETE", "/api/v1/users/me/totp", "", bobCookie},
		{"POST", "/api/v1/users/me/recovery_codes", "", bobCookie},
		{"DELETE", "/api/v1/users/me", "", bobCookie},
		{"PUT", "/api/v1/users/" + bob.ID, `{"role":"admin"}`, admin},
		{"DELETE", "/api/v1/users/" + bob.ID, "", admin},
		{"DELETE", "/api/v1/users/" + bob.ID + "/sessions", "", admin},
		{"DELETE", "/api/v1/users/" + bob.ID + "/second_factors", "", admin},
	} {
		assertError(t, s.do(tc.method, tc.path, tc.body, withCookie(tc.cookie)), 403, "reauthentication required")
	}
	// What does not change the account's protection is unaffected.
	assert.Equal(t, 200, s.do("PUT", "/api/v1/users/me", `{"first_name":"Bob"}`, withCookie(bobCookie)).Code)
	assert.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"last_name":"B"}`, withCookie(admin)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/"+bob.ID+"/sessions", "", withCookie(admin)).Code)

	// Re-authentication: bad input and wrong passwords first.
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth", `{}`, withCookie(admin)), 400, "password missing")
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth", `{"password":1}`, withCookie(admin)), 400, "Wrong format")
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth", `{"password":"nope-nope-1"}`, withCookie(admin)), 401,
		"wrong password")
	assertError(t, s.do("POST", "/api/v1/auth_session/reauth", `{"password":"x"}`), 401, "Unauthorized")
	rec = s.do("POST", "/api/v1/auth_session/reauth", `{"password":"`+adminPassword+`"}`, withCookie(admin))
	assertBody(t, rec, 200, `{"aal":"aal1","authenticated_at":"`+s.clock.Now().UTC().Format("2006-01-02T15:04:05")+`"}`)
	assert.Nil(t, cookieOf(t, rec), "the token stays")

	assert.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, withCookie(admin)).Code)
	s.clock.Advance(300)
	assert.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"user"}`, withCookie(admin)).Code)
	s.clock.Advance(1)
	assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, withCookie(admin)), 403,
		"reauthentication required")
	logs := s.logs.String()
	assert.Contains(t, logs, `"event":"reauth_succeeded"`)
	assert.Contains(t, logs, `"event":"reauth_failed"`)
}

// A shorter REAUTH_MAX_AGE, and an account with a second factor: the
// code is part of the re-authentication, and the session is then aal2.
func TestReauthenticationWithSecondFactor(t *testing.T) {
	s := newSessionServer(t, "REAUTH_MAX_AGE", "60")
	s.createUserAsCookieAdmin("bob@example.com")
	e := s.enrolTOTP(s.sessionCookie("bob@example.com", userPassword))
	bob := s.sessionCookieAfterCode(e.Secret)
	assert.Equal(t, "aal2", s.aals(bob)[true])

	s.clock.Advance(61)
	assertError(t, s.do("POST", "/api/v1/users/me/recovery_codes", "", withCookie(bob)), 403, "reauthentication required")
	reauth := func(body string) *httptest.ResponseRecorder {
		return s.do("POST", "/api/v1/auth_session/reauth", body, withCookie(bob))
	}
	assertError(t, reauth(`{"password":"`+userPassword+`"}`), 400, "code missing")
	assertError(t, reauth(`{"password":"`+userPassword+`","code":"000000"}`), 401, "wrong code")
	assertError(t, reauth(`{"password":"wrong-password-1","code":"`+s.code(e.Secret)+`"}`), 401, "wrong password")
	code := s.code(e.Secret)
	rec := reauth(`{"password":"` + userPassword + `","code":"` + code + `"}`)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"aal":"aal2"`)
	rec = s.do("POST", "/api/v1/users/me/recovery_codes", "", withCookie(bob))
	require.Equal(t, 200, rec.Code)
	// The code is spent; a recovery code does as well.
	assertError(t, reauth(`{"password":"`+userPassword+`","code":"`+code+`"}`), 401, "code already used")
	var fresh struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &fresh))
	assert.Equal(t, 200, reauth(`{"password":"`+userPassword+`","recovery_code":"`+fresh.RecoveryCodes[0]+`"}`).Code)
	assertError(t, reauth(`{"password":"`+userPassword+`","recovery_code":"`+fresh.RecoveryCodes[0]+`"}`), 401,
		"wrong recovery code")
}

// sessionCookieAfterCode signs bob in with his password and code.
func (s *server) sessionCookieAfterCode(secret string) *http.Cookie {
	s.t.Helper()
	return s.signInWithTOTP("bob@example.com", userPassword, secret)
}
