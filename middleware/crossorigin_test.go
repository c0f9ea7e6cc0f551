package middleware

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crossOriginEngine answers 204 to every request CrossOrigin lets through.
func crossOriginEngine(t *testing.T, trusted []string, proxies []netip.Prefix) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	x, err := NewCrossOrigin(trusted, proxies)
	require.NoError(t, err)
	r := gin.New()
	r.Use(x.Middleware())
	r.Any("/api/v1/*path", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	return r
}

// An Origin of this host under the other scheme is another origin: with no
// Sec-Fetch-Site to go by, it is refused like any other cross-site request.
// The service's scheme is worked out as for cookies: TLS, or a trusted
// proxy's X-Forwarded-Proto.
func TestCrossOriginSchemeMatters(t *testing.T) {
	proxy := netip.MustParsePrefix("10.0.0.0/8")
	r := crossOriginEngine(t, []string{"https://app.example.com"}, []netip.Prefix{proxy})
	type opt func(*http.Request)
	hdr := func(k, v string) opt { return func(req *http.Request) { req.Header.Set(k, v) } }
	overTLS := func(req *http.Request) { req.TLS = &tls.ConnectionState{} }
	from := func(addr string) opt { return func(req *http.Request) { req.RemoteAddr = addr } }
	do := func(method string, opts ...opt) int {
		req := httptest.NewRequest(method, "http://api.example.com:5000/api/v1/users", nil)
		for _, o := range opts {
			o(req)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		name   string
		method string
		opts   []opt
		want   int
	}{
		{"https Origin to http", "POST", []opt{hdr("Origin", "https://api.example.com:5000")}, 403},
		{"https Origin to http, PUT", "PUT", []opt{hdr("Origin", "https://api.example.com:5000")}, 403},
		{"https Origin to http, DELETE", "DELETE", []opt{hdr("Origin", "https://api.example.com:5000")}, 403},
		{"upper-case https Origin to http", "PATCH", []opt{hdr("Origin", "HTTPS://api.example.com:5000")}, 403},
		{"http Origin to http", "POST", []opt{hdr("Origin", "http://api.example.com:5000")}, 204},
		{"http Origin to TLS", "POST", []opt{overTLS, hdr("Origin", "http://api.example.com:5000")}, 403},
		{"https Origin to TLS", "POST", []opt{overTLS, hdr("Origin", "https://api.example.com:5000")}, 204},
		{"https Origin through a trusted https proxy", "PUT", []opt{from("10.1.2.3:4000"),
			hdr("X-Forwarded-Proto", "https"), hdr("Origin", "https://api.example.com:5000")}, 204},
		{"http Origin through a trusted https proxy", "PUT", []opt{from("10.1.2.3:4000"),
			hdr("X-Forwarded-Proto", "https"), hdr("Origin", "http://api.example.com:5000")}, 403},
		{"https Origin, X-Forwarded-Proto from an untrusted peer", "PUT", []opt{from("203.0.113.5:4000"),
			hdr("X-Forwarded-Proto", "https"), hdr("Origin", "https://api.example.com:5000")}, 403},
		{"http Origin, X-Forwarded-Proto from an untrusted peer", "PUT", []opt{from("203.0.113.5:4000"),
			hdr("X-Forwarded-Proto", "https"), hdr("Origin", "http://api.example.com:5000")}, 204},
		{"another host", "POST", []opt{hdr("Origin", "http://evil.example.com:5000")}, 403},
		{"another port", "POST", []opt{hdr("Origin", "http://api.example.com:5001")}, 403},
		{"trusted origin", "POST", []opt{hdr("Origin", "https://app.example.com")}, 204},
		// The browser compared whole origins itself.
		{"same-origin says the browser", "POST", []opt{hdr("Sec-Fetch-Site", "same-origin"),
			hdr("Origin", "http://api.example.com:5000")}, 204},
		{"same-site says the browser", "POST", []opt{hdr("Sec-Fetch-Site", "same-site"),
			hdr("Origin", "https://api.example.com:5000")}, 403},
		{"no browser headers", "POST", nil, 204},
		{"safe method", "GET", []opt{hdr("Origin", "https://api.example.com:5000")}, 204},
		{"preflight", "OPTIONS", []opt{hdr("Origin", "https://api.example.com:5000")}, 204},
	} {
		assert.Equal(t, tc.want, do(tc.method, tc.opts...), tc.name)
	}
}
