package middleware

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// requestClientIP must name the same client as gin's ClientIP, whatever
// the peer, the forwarding headers and the trusted proxies.
func TestRequestClientIPMatchesGin(t *testing.T) {
	gin.SetMode(gin.TestMode)
	remotes := []string{
		"127.0.0.1:5000", "10.1.2.3:1", "192.0.2.7:", "[::1]:5000", "[::ffff:10.0.0.1]:80",
		"[fe80::1%eth0]:80", " 10.0.0.1:80", "10.0.0.1:80 ", "10.0.0.1", "", "@", "not-an-ip:80",
		"010.0.0.1:80", "1.2.3.4:80:90",
	}
	headers := []http.Header{
		{},
		{"X-Forwarded-For": {"203.0.113.9"}},
		{"X-Forwarded-For": {"203.0.113.9, 10.0.0.2"}},
		{"X-Real-Ip": {"198.51.100.4"}},
		{"X-Forwarded-For": {""}},
		{"X-Forwarded-For": {"junk"}, "X-Real-Ip": {"198.51.100.4"}},
	}
	for _, trusted := range [][]string{nil, {"127.0.0.1"}, {"10.0.0.0/8", "::1"}} {
		engine := gin.New()
		if err := engine.SetTrustedProxies(trusted); err != nil {
			t.Fatal(err)
		}
		for _, remote := range remotes {
			for _, h := range headers {
				for _, unix := range []bool{false, true} {
					r := httptest.NewRequest("GET", "/", nil)
					r.RemoteAddr = remote
					r.Header = h.Clone()
					if unix {
						r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey,
							&net.UnixAddr{Name: "/tmp/s", Net: "unix"}))
					}
					c := gin.CreateTestContextOnly(httptest.NewRecorder(), engine)
					c.Request = r
					if got, want := requestClientIP(c), c.ClientIP(); got != want {
						t.Errorf("trusted %v, peer %q, headers %v, unix %v: %q, gin says %q",
							trusted, remote, h, unix, got, want)
					}
				}
			}
		}
	}
}
