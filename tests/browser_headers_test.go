package tests

import (
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; " +
		"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
	apiCSP = "default-src 'none'; frame-ancestors 'none'"
)

// The page and its files carry the page's policy; every other response,
// errors included, the API's.
func TestContentSecurityPolicy(t *testing.T) {
	s := newSessionServer(t)
	for path, want := range map[string]string{
		"/":                  pageCSP,
		"/account":           pageCSP,
		"/account/":          pageCSP,
		"/assets/app.js":     pageCSP,
		"/assets/app.css":    pageCSP,
		"/api/v1/status":     apiCSP,
		"/api/v1/users":      apiCSP, // 401
		"/api/v1/nope":       apiCSP,
		"/healthz":           apiCSP,
		"/nope":              apiCSP, // 404
		"/api/v1/openapi.ya": apiCSP,
	} {
		for _, method := range []string{"GET", "HEAD"} {
			rec := s.raw(method, path)
			assert.Equal(t, want, rec.Header().Get("Content-Security-Policy"), "%s %s", method, path)
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), "%s %s", method, path)
		}
	}

	rec := s.raw("GET", "/")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, "text/javascript; charset=utf-8", s.raw("GET", "/assets/app.js").Header().Get("Content-Type"))
	assert.Equal(t, "text/css; charset=utf-8", s.raw("GET", "/assets/app.css").Header().Get("Content-Type"))
}

// The page has no inline script or style for the policy to refuse, and
// loads nothing from elsewhere.
func TestPageHasNoInlineCode(t *testing.T) {
	s := newSessionServer(t)
	html := s.raw("GET", "/").Body.String()
	for _, tag := range regexp.MustCompile(`(?is)<script[^>]*>`).FindAllString(html, -1) {
		assert.Contains(t, tag, `src="/assets/`, "scripts come from the service's files")
	}
	assert.NotRegexp(t, `(?is)<script[^>]*>\s*[^<\s]`, html, "no inline script")
	assert.NotRegexp(t, `(?i)<style|\sstyle=|\son[a-z]+=|javascript:`, html, "no inline style or handler")
	assert.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, html, "nothing from another origin")
	js := s.raw("GET", "/assets/app.js").Body.String()
	assert.NotContains(t, js, "innerHTML", "user data goes in as text")
	assert.NotContains(t, js, "insertAdjacentHTML")
	assert.NotContains(t, js, ".style.")
}

// In basic_auth mode the page says that sessions are off and offers no
// sign-in form.
func TestPageBasicAuthMode(t *testing.T) {
	s := newServer(t)
	rec := s.raw("GET", "/")
	assert.Equal(t, 200, rec.Code)
	assert.Contains(t, rec.Body.String(), "Sessions are off")
	assert.NotContains(t, rec.Body.String(), "signin-form")
	assert.Contains(t, newSessionServer(t).raw("GET", "/").Body.String(), "signin-form")
}

// Strict-Transport-Security goes on responses to https requests, direct
// or through a trusted proxy that says https, never on plain http, and
// not at all with HSTS_MAX_AGE=0.
func TestStrictTransportSecurity(t *testing.T) {
	s := newSessionServer(t, "TRUSTED_PROXIES", "10.0.0.1")
	get := func(opts ...option) string {
		return s.do("GET", "/api/v1/status", "", opts...).Header().Get("Strict-Transport-Security")
	}
	assert.Equal(t, "max-age=31536000", get(overTLS()))
	assert.Equal(t, "max-age=31536000", s.raw("GET", "/", overTLS()).Header().Get("Strict-Transport-Security"))
	assert.Equal(t, "max-age=31536000", get(remoteAddr("10.0.0.1:5555"), header("X-Forwarded-Proto", "https")))
	assert.Empty(t, get(), "plain http")
	assert.Empty(t, get(remoteAddr("10.0.0.2:5555"), header("X-Forwarded-Proto", "https")), "untrusted proxy")
	assert.Empty(t, get(remoteAddr("10.0.0.1:5555"), header("X-Forwarded-Proto", "http")))

	longer := newSessionServer(t, "HSTS_MAX_AGE", "63072000")
	assert.Equal(t, "max-age=63072000",
		longer.do("GET", "/api/v1/status", "", overTLS()).Header().Get("Strict-Transport-Security"))
	off := newSessionServer(t, "HSTS_MAX_AGE", "0")
	_, present := off.do("GET", "/api/v1/status", "", overTLS()).Header()["Strict-Transport-Security"]
	assert.False(t, present, "HSTS_MAX_AGE=0 turns it off")
}

// raw sends one request through the router without checking the answer
// against the OpenAPI document (the page is not part of the API).
func (s *server) raw(method, path string, opts ...option) *httptest.ResponseRecorder {
	s.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}
