package middleware

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"

	"github.com/gin-gonic/gin"

	"simpleapi/respond"
	"simpleapi/store"
)

// CrossOrigin refuses unsafe cross-site browser requests with
// net/http.CrossOriginProtection: it reads Sec-Fetch-Site and Origin, so
// clients that send neither (curl, Postman, scripts) pass. Origins listed
// in CORS_ORIGINS are trusted.
//
// Without Sec-Fetch-Site, CrossOriginProtection takes an Origin whose host
// is the request's Host as same-origin whatever its scheme, since Host
// names no scheme. An origin is scheme, host and port, so such a request
// is also refused when the Origin's scheme is not the one the service
// answered on: https when the request came over TLS or from a trusted
// proxy saying X-Forwarded-Proto: https (OverHTTPS, as for cookies), http
// otherwise.
type CrossOrigin struct {
	protection     *http.CrossOriginProtection
	trusted        map[string]bool // CORS_ORIGINS, as CrossOriginProtection compares them
	trustedProxies []netip.Prefix
}

// errOtherScheme is a request from this host under the other scheme.
var errOtherScheme = errors.New("cross-origin request: the Origin's scheme is not this service's")

// NewCrossOrigin trusts the given origins; trustedProxies are the proxies
// whose X-Forwarded-Proto is believed.
func NewCrossOrigin(trusted []string, trustedProxies []netip.Prefix) (*CrossOrigin, error) {
	p := http.NewCrossOriginProtection()
	x := &CrossOrigin{protection: p, trusted: make(map[string]bool, len(trusted)), trustedProxies: trustedProxies}
	for _, o := range trusted {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
		x.trusted[o] = true
	}
	return x, nil
}

// Check returns an error when r is an unsafe cross-origin browser request
// that is not from a trusted origin.
func (x *CrossOrigin) Check(r *http.Request) error {
	if err := x.protection.Check(r); err != nil {
		return err
	}
	if x.otherScheme(r) {
		return errOtherScheme
	}
	return nil
}

// otherScheme reports whether r is an unsafe request without
// Sec-Fetch-Site whose Origin names the request's host under a scheme the
// service did not answer on, and is not a trusted origin. With
// Sec-Fetch-Site the browser has compared whole origins itself, and
// CrossOriginProtection followed it.
func (x *CrossOrigin) otherScheme(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if headerValue(r.Header, "Sec-Fetch-Site") != "" {
		return false
	}
	origin := headerValue(r.Header, "Origin")
	if origin == "" || x.trusted[origin] {
		return false
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host != r.Host {
		return false // another host: CrossOriginProtection has refused it already
	}
	scheme := "http"
	if OverHTTPS(r, x.trustedProxies) {
		scheme = "https"
	}
	return o.Scheme != scheme
}

// Middleware refuses every unsafe cross-site request, before anything
// looks at its credentials: browsers attach cookies and cached Basic
// credentials alike to cross-site requests, and a forged login would sign
// the victim in as the attacker. Safe methods always pass, and so do
// requests carrying an access token (Authorization: Bearer).
func (x *CrossOrigin) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		// A browser never attaches an access token by itself, so a
		// request with one is no forgery; with a cookie as well, the
		// pipeline refuses it.
		if !HasBearer(c.Request) && x.Check(c.Request) != nil {
			respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
			return
		}
		c.Next()
	}
}
