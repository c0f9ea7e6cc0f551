package middleware

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// requestClientIP is c.ClientIP() of the engine's settings (no trusted
// platform, X-Forwarded-For and X-Real-IP believed only from trusted
// proxies). A request that carries neither header, from a TCP peer at an
// IPv4 address, is answered without gin: its client address is the peer's,
// trusted proxy or not, exactly as net/http wrote it. gin would parse the
// address into a net.IP, look at both headers and format the address anew,
// on every request.
func requestClientIP(c *gin.Context) string {
	if ip, ok := peerIPv4(c.Request); ok {
		return ip
	}
	return c.ClientIP()
}

// peerIPv4 is the peer's IPv4 address of a request without forwarding
// headers; ok is false for anything else (gin then decides).
func peerIPv4(r *http.Request) (string, bool) {
	if len(r.Header["X-Forwarded-For"]) > 0 || len(r.Header["X-Real-Ip"]) > 0 {
		return "", false
	}
	i := strings.LastIndexByte(r.RemoteAddr, ':')
	if i < 0 {
		return "", false
	}
	host := r.RemoteAddr[:i]
	if ip, err := netip.ParseAddr(host); err != nil || !ip.Is4() {
		return "", false // IPv6 and zones are formatted anew by gin; spaces are trimmed
	}
	// gin trusts every peer of a Unix socket, and then names no address.
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok &&
		strings.HasPrefix(local.Network(), "unix") {
		return "", false
	}
	return host, true
}
