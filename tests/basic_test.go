package tests

import (
	"encoding/base64"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	s := newServer(t)
	s.createUser("bob@example.com")
	rec := s.do("POST", "/api/v1/users", `{"email":"colon@example.com","password":"pa:ss:word"}`, asAdmin())
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	cases := []struct {
		name   string
		header string
		status int
		msg    string
	}{
		{"valid", "Basic " + b64("bob@example.com:"+userPassword), 200, ""},
		{"email case-insensitive", "Basic " + b64("BOB@example.com:"+userPassword), 200, ""},
		{"password containing colons", "Basic " + b64("colon@example.com:pa:ss:word"), 200, ""},
		{"wrong password", "Basic " + b64("bob@example.com:wrong-password"), 403, "Forbidden"},
		{"unknown email", "Basic " + b64("nobody@example.com:"+userPassword), 403, "Forbidden"},
		{"bad base64", "Basic !!!not-base64", 403, "Forbidden"},
		{"no colon", "Basic " + b64("bob@example.com"), 403, "Forbidden"},
		{"lower-case scheme", "basic " + b64("bob@example.com:"+userPassword), 403, "Forbidden"},
		{"bearer", "Bearer abc.def.ghi", 403, "Forbidden"},
		{"scheme only", "Basic", 403, "Forbidden"},
		{"empty header", "", 403, "Forbidden"},
		{"empty password", "Basic " + b64("bob@example.com:"), 403, "Forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.do("GET", "/api/v1/users/me", "", header("Authorization", tc.header))
			if tc.status == 200 {
				if rec.Code != 200 {
					t.Fatalf("got %d %s", rec.Code, rec.Body.String())
				}
				return
			}
			assertError(t, rec, tc.status, tc.msg)
		})
	}

	t.Run("no credentials", func(t *testing.T) {
		assertError(t, s.do("GET", "/api/v1/users/me", ""), 401, "Unauthorized")
	})
	t.Run("session cookie in basic mode is the wrong scheme", func(t *testing.T) {
		assertError(t, s.do("GET", "/api/v1/users/me", "", header("Cookie", "_my_session_id=abc")), 403, "Forbidden")
		assertError(t, s.do("GET", "/api/v1/users/me", "", header("Cookie", "_my_session_id=")), 403, "Forbidden")
	})
	t.Run("login and logout are 404 in basic mode", func(t *testing.T) {
		assertError(t, s.do("POST", "/api/v1/auth_session/login", "email=bob@example.com&password="+userPassword,
			header("Content-Type", "application/x-www-form-urlencoded")), 404, "Not found")
		assertError(t, s.do("DELETE", "/api/v1/auth_session/logout", "", basicAuth("bob@example.com", userPassword)), 404, "Not found")
	})
}
