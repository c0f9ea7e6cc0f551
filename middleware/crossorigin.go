package middleware

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"simpleapi/respond"
	"simpleapi/store"
)

// CrossOrigin refuses unsafe cross-site browser requests with
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

// Middleware refuses every unsafe cross-site request, before anything
// looks at its credentials: browsers attach cookies and cached Basic
// credentials alike to cross-site requests, and a forged login would sign
// the victim in as the attacker. Safe methods always pass.
func (x *CrossOrigin) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if x.protection.Check(c.Request) != nil {
			respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
			return
		}
		c.Next()
	}
}
