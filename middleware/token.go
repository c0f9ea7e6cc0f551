package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/respond"
	"simpleapi/store"
)

// BearerChallenge is the WWW-Authenticate value of a 401 for an access
// token that authenticates nobody (RFC 6750, section 3.1).
const BearerChallenge = `Bearer realm="simpleapi", error="invalid_token"`

// TokenAuth authenticates requests that carry a personal access token,
// "Authorization: Bearer sapi_...", in every AUTH_TYPE. Pipeline sends
// it every request with a Bearer header, and the mode's Authenticator
// every other.
type TokenAuth struct {
	Tokens     *auth.Tokens
	CookieName string // the session cookie: with a token, the request is refused (400)
}

// errTokenAndCookie refuses a request that carries a token and a session
// cookie: which of the two it means is not guessed.
var errTokenAndCookie = store.Errorf(store.EINVALID, auth.MsgTokenAndCookie)

// bearerToken returns the credentials of a Bearer Authorization header
// (the scheme is case-insensitive, RFC 9110) and whether there is one.
func bearerToken(r *http.Request) (string, bool) {
	v := headerValue(r.Header, "Authorization")
	const scheme = "Bearer "
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme):]), true
}

// HasBearer reports whether r carries an access token (or what claims to
// be one). Browsers never add such a header by themselves, which is why
// cross-site checks leave these requests alone.
func HasBearer(r *http.Request) bool {
	_, ok := bearerToken(r)
	return ok
}

// Authenticate checks token, the request's Bearer credentials: 401 with
// BearerChallenge when it authenticates nobody, 429 with Retry-After once
// the client's address is throttled.
func (a *TokenAuth) Authenticate(c *gin.Context, token string) (*Caller, error) {
	tok, u, err := a.Tokens.Authenticate(c.Request.Context(), token, c.ClientIP)
	if err == nil {
		return &Caller{User: u, TokenID: tok.ID, TokenScope: tok.Scope}, nil
	}
	if wait, throttled := auth.RetryAfter(err); throttled {
		respond.SetRetryAfter(c, wait)
		return nil, store.Errorf(store.ETOOMANY, respond.MsgTooManyRequests)
	}
	if store.ErrorCode(err) == store.EUNAUTHORIZED {
		c.Header("WWW-Authenticate", BearerChallenge)
	}
	return nil, err
}
