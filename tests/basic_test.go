package tests

import (
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
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
		// A Bearer header is an access token, in every mode: this one is
		// malformed (docs/tokens.md).
		{"bearer", "Bearer abc.def.ghi", 401, "invalid or expired access token"},
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

func TestBasicCredentialsVerifiedOncePerTTL(t *testing.T) {
	s := newServer(t)
	s.createUser("bob@example.com")
	bob := basicAuth("bob@example.com", userPassword)
	hasher := s.app.Hasher()

	if rec := s.do("GET", "/api/v1/users/me", "", bob); rec.Code != 200 {
		t.Fatalf("first request: %d", rec.Code)
	}
	before := hasher.Verifications()
	for i := 0; i < 5; i++ {
		if rec := s.do("GET", "/api/v1/users/me", "", bob); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	if got := hasher.Verifications(); got != before {
		t.Fatalf("remembered credentials were verified again: %d verifications", got-before)
	}
	// A wrong password is never served from the cache.
	assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth("bob@example.com", userPassword+"x")), 403, "Forbidden")
	if got := hasher.Verifications(); got != before+1 {
		t.Fatalf("wrong password: %d verifications, want 1", got-before)
	}
	// After the TTL the password is verified again.
	s.clock.Advance(5*60 + 1)
	before = hasher.Verifications()
	if rec := s.do("GET", "/api/v1/users/me", "", bob); rec.Code != 200 {
		t.Fatalf("after TTL: %d", rec.Code)
	}
	if got := hasher.Verifications(); got != before+1 {
		t.Fatalf("after TTL: %d verifications, want 1", got-before)
	}
	// A role change applies at once: the user is read fresh.
	id := s.userByEmail("bob@example.com").ID
	if rec := s.do("PUT", "/api/v1/users/"+id, `{"role":"admin"}`, asAdmin()); rec.Code != 200 {
		t.Fatalf("role change: %d", rec.Code)
	}
	if rec := s.do("GET", "/api/v1/users", "", bob); rec.Code != 200 {
		t.Fatalf("bob as admin: %d", rec.Code)
	}
}

func TestBasicAuthPerAddressLimit(t *testing.T) {
	s := newServer(t, "LOGIN_IP_BURST", "2", "LOGIN_IP_PER_MINUTE", "2")
	for i := 0; i < 2; i++ {
		assertError(t, s.do("GET", "/api/v1/users/me", "", basicAuth(fmt.Sprintf("spray%d@example.com", i), "guess-1")), 403, "Forbidden")
	}
	rec := s.do("GET", "/api/v1/users/me", "", basicAuth("spray9@example.com", "guess-1"))
	assertError(t, rec, 429, "Too many requests")
	assert.Equal(t, "30", rec.Header().Get("Retry-After"))
	// Once a token is back the admin verifies, and from then on the
	// remembered credentials are no attempts at all.
	s.clock.Advance(30)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin()).Code)
	for i := 0; i < 5; i++ {
		assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin()).Code, "remembered credentials cost no attempt")
	}
}

func TestBasicSuccessClearsFailures(t *testing.T) {
	s := newServer(t)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin()).Code) // verified, remembered
	wrong := basicAuth(adminEmail, "not-the-password")
	for i := 0; i < 5; i++ {
		assertError(t, s.do("GET", "/api/v1/users/me", "", wrong), 403, "Forbidden")
	}
	assertError(t, s.do("GET", "/api/v1/users/me", "", wrong), 429, "Too many requests")
	// The real client, whose credentials verified before, goes on working,
	// and its success clears the failures.
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin()).Code)
	assertError(t, s.do("GET", "/api/v1/users/me", "", wrong), 403, "Forbidden")
}
