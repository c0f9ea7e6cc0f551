package middleware

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"simpleapi/respond"
	"simpleapi/store"
)

// CrossOrigin refuses unsafe cross-site browser requests (SPEC 4.6) with
// net/http.CrossOriginProtection: it reads Sec-Fetch-Site and Origin, so
// clients that send neither (curl, Postman, scripts) pass. Origins listed
// in CORS_ORIGINS are trusted.
type CrossOrigin struct {
	protection *http.CrossOriginProtection
}

// NewCrossOrigin trusts the given origins.
func NewCrossOrigin(trusted []string) (*CrossOrigin, error) {
	p := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := p.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	return &CrossOrigin{protection: p}, nil
}

// Allowed reports whether r may go on; safe methods always may.
func (x *CrossOrigin) Allowed(r *http.Request) bool {
	return x.protection.Check(r) == nil
}

// Middleware refuses every unsafe cross-site request to the route it
// guards, authenticated or not (used on login, where a forged login would
// sign the victim in as the attacker).
func (x *CrossOrigin) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !x.Allowed(c.Request) {
			respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
			return
		}
		c.Next()
	}
}
