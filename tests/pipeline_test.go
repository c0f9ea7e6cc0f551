package tests

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPublicPathsExact(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{
		"/api/v1/status", "/api/v1/status/",
		"/api/v1/unauthorized", "/api/v1/unauthorized/",
		"/api/v1/forbidden", "/api/v1/forbidden/",
	} {
		rec := s.do("GET", path, "")
		assert.NotEqual(t, http.StatusMovedPermanently, rec.Code, path)
		assert.Empty(t, rec.Header().Get("Location"), path)
	}
	// Only exact matches are public.
	for _, path := range []string{"/api/v1/statusx", "/api/v1/status/x", "/api/v1/statu", "/api/v1/STATUS", "/api/v1", "/api/v1/"} {
		assertError(t, s.do("GET", path, ""), 401, "Unauthorized")
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	s := newServer(t)
	s.createUser("bob@example.com")
	bob := basicAuth("bob@example.com", userPassword)

	// Unknown path: 401 without credentials, 403 with bad ones, 404 after authentication.
	assertError(t, s.do("GET", "/api/v1/nope", ""), 401, "Unauthorized")
	assertError(t, s.do("GET", "/api/v1/nope", "", basicAuth("bob@example.com", "wrong-password")), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/nope", "", bob), 404, "Not found")
	assertError(t, s.do("GET", "/api/v1/nope/", "", asAdmin()), 404, "Not found")

	// Wrong method on a protected path: 401/403 first, then 405 with Allow.
	rec := s.do("PATCH", "/api/v1/users", "")
	assertError(t, rec, 401, "Unauthorized")
	assert.Empty(t, rec.Header().Get("Allow"))
	rec = s.do("PATCH", "/api/v1/users", "", basicAuth("nobody@example.com", "whatever-pass"))
	assertError(t, rec, 403, "Forbidden")
	assert.Empty(t, rec.Header().Get("Allow"))
	rec = s.do("PATCH", "/api/v1/users/", "", bob)
	assertError(t, rec, 405, "Method not allowed")
	assert.ElementsMatch(t, []string{"GET", "HEAD", "POST"}, splitAllow(rec.Header().Get("Allow")))

	// A wrong method on a public path is 405 directly.
	rec = s.do("POST", "/api/v1/status", "")
	assertError(t, rec, 405, "Method not allowed")
	assert.ElementsMatch(t, []string{"GET", "HEAD"}, splitAllow(rec.Header().Get("Allow")))

	// Outside the API there is no authentication: plain JSON 404.
	assertError(t, s.do("GET", "/nope", ""), 404, "Not found")
}

func splitAllow(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(m))
	}
	return out
}

func TestHeadWorksWhereGetDoes(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{"/api/v1/status", "/api/v1/stats", "/api/v1/users", "/api/v1/users/me", "/healthz", "/readyz"} {
		get := s.do("GET", path, "", asAdmin())
		head := s.do("HEAD", path, "", asAdmin())
		assert.Equal(t, get.Code, head.Code, path)
		assert.Equal(t, http.StatusOK, head.Code, path)
	}
	assertError(t, s.do("HEAD", "/api/v1/users", ""), 401, "Unauthorized")
}

func TestNoRedirects(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{"/api/v1/users/", "/api/v1/users/me/", "/api/v1/stats/", "/api/v1/status/", "/healthz/"} {
		rec := s.do("GET", path, "", asAdmin())
		assert.Equal(t, http.StatusOK, rec.Code, path)
		assert.Empty(t, rec.Header().Get("Location"), path)
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	s := newServer(t)
	for _, rec := range []interface {
		Header() http.Header
	}{
		s.do("GET", "/api/v1/status", ""),
		s.do("GET", "/api/v1/users", ""),
		s.do("GET", "/api/v1/nope", "", asAdmin()),
		s.do("DELETE", "/api/v1/status", ""),
		s.do("POST", "/api/v1/users", "nope", asAdmin()),
		s.do("GET", "/healthz", ""),
	} {
		h := rec.Header()
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	}
}

func TestBodyLimit(t *testing.T) {
	s := newServer(t, "MAX_BODY_BYTES", "64")
	big := `{"email":"x@example.com","password":"secret-password","first_name":"` + strings.Repeat("a", 64) + `"}`
	assertError(t, s.do("POST", "/api/v1/users", big, asAdmin()), 413, "Request body too large")
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":1}`)

	// A body that lies about its length is cut off while being read.
	req := func(r *http.Request) { r.ContentLength = -1 }
	assertError(t, s.do("POST", "/api/v1/users", big, asAdmin(), req), 413, "Request body too large")
}

func TestCORSDefaultAllowsAnyOriginWithoutCredentials(t *testing.T) {
	s := newServer(t)
	// Like the old service, even without an Origin header.
	assert.Equal(t, "*", s.do("GET", "/api/v1/status", "").Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "*", s.do("GET", "/api/v1/users", "").Header().Get("Access-Control-Allow-Origin"))
	rec := s.do("GET", "/api/v1/status", "", header("Origin", "https://app.example.com"))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Credentials"))

	// Preflight needs no authentication.
	rec = s.do("OPTIONS", "/api/v1/users", "", header("Origin", "https://app.example.com"),
		header("Access-Control-Request-Method", "POST"))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Contains(t, rec.Header().Get("Access-Control-Allow-Methods"), "POST")
}

func TestCORSListedOrigins(t *testing.T) {
	s := newServer(t, "CORS_ORIGINS", "https://app.example.com,http://localhost:3000")
	rec := s.do("GET", "/api/v1/status", "", header("Origin", "https://app.example.com"))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "https://app.example.com", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
	assert.Contains(t, rec.Header().Values("Vary"), "Origin")

	// Other origins get no CORS headers, and no error either.
	rec = s.do("GET", "/api/v1/status", "", header("Origin", "https://evil.example.com"))
	assertBody(t, rec, 200, `{"status":"OK"}`)
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Empty(t, s.do("GET", "/api/v1/status", "").Header().Get("Access-Control-Allow-Origin"))
	// Their preflights are answered without authentication, and without
	// CORS headers, so the browser refuses.
	rec = s.do("OPTIONS", "/api/v1/users/me", "", header("Origin", "https://evil.example.com"),
		header("Access-Control-Request-Method", "PUT"))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Methods"))

	rec = s.do("OPTIONS", "/api/v1/users/me", "", header("Origin", "http://localhost:3000"),
		header("Access-Control-Request-Method", "PUT"))
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Equal(t, "http://localhost:3000", rec.Header().Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
}

// TestPublicRoutes: the routes registered for anyone are exactly these,
// in every mode (login stays public in basic_auth, where it is 404).
func TestPublicRoutes(t *testing.T) {
	for _, mode := range []string{"basic_auth", "session_db_auth"} {
		s := newServer(t, "AUTH_TYPE", mode)
		for _, path := range []string{"/api/v1/status", "/api/v1/forbidden", // unauthorized is always 401
			"/api/v1/openapi.yaml", "/api/v1/openapi.json"} {
			assert.NotEqual(t, http.StatusUnauthorized, s.do("GET", path, "").Code, "%s %s", mode, path)
		}
		rec := s.do("POST", "/api/v1/auth_session/login", `{"email":"","password":""}`)
		assert.NotEqual(t, http.StatusUnauthorized, rec.Code, "%s login", mode)
		for _, path := range []string{"/api/v1/stats", "/api/v1/users", "/api/v1/users/me", "/api/v1/auth_session/sessions"} {
			assertError(t, s.do("GET", path, ""), 401, "Unauthorized")
		}
	}
}
