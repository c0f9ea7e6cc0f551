package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/respond"
	"simpleapi/store"
)

// Caller is who made a request.
type Caller struct {
	User    store.User
	Session store.Session // zero unless a session authenticated the request
	// TokenID and TokenScope are "" unless a personal access token
	// authenticated the request (the token's id and scope only: a caller
	// is made for every request).
	TokenID, TokenScope string
	// Recent: the caller authenticated within REAUTH_MAX_AGE (always, for
	// Basic authentication; never, for a token), as the pipeline's policy
	// judged it.
	Recent bool
}

// Authenticator finds the caller of a request. It returns EUNAUTHORIZED
// when the request carries no credentials at all and EFORBIDDEN when the
// credentials it carries are not valid (see docs/api.md).
type Authenticator interface {
	Authenticate(c *gin.Context) (*Caller, error)
}

// callerOf is the caller Pipeline authenticated, kept in the request's
// context (see RequestID), or nil.
func callerOf(c *gin.Context) *Caller {
	if rc := requestContextOf(c); rc != nil {
		return rc.caller
	}
	return nil
}

// CurrentUser returns the authenticated user of the request. Handlers
// behind Pipeline may rely on it; on public routes ok is false.
func CurrentUser(c *gin.Context) (store.User, bool) {
	if who := callerOf(c); who != nil {
		return who.User, true
	}
	return store.User{}, false
}

// RecentlyAuthenticated reports whether the caller authenticated within
// REAUTH_MAX_AGE, for rules a route cannot express (a role change).
func RecentlyAuthenticated(c *gin.Context) bool {
	who := callerOf(c)
	return who != nil && who.Recent
}

// CurrentSession returns the session that authenticated the request, if
// a session did.
func CurrentSession(c *gin.Context) (store.Session, bool) {
	if who := callerOf(c); who != nil && who.Session.ID != "" {
		return who.Session, true
	}
	return store.Session{}, false
}

// Pipeline is the request pipeline for every /api/v1 request: public paths
// pass, everything else must authenticate, and a matched route must then
// allow the caller by the access it was registered with, and by policy
// the marks of that access (a recent authentication, an enrolled second
// factor). Because it runs for unmatched paths too, an unknown path or a
// wrong method answers 401/403 before 404/405.
//
// A request with a Bearer header is authenticated by tokens (nil: no
// access tokens), never by authn, and must carry no session cookie (400);
// a token may then use only the routes whose access allows tokens, and a
// read token only GET and HEAD (auth.TokenAllows). observe, when set, is
// told how each request to a protected path authenticated (see
// authMethod) and whether it passed.
func Pipeline(authn Authenticator, tokens *TokenAuth, routes *auth.Routes, policy auth.Policy,
	observe func(method string, ok bool)) gin.HandlerFunc {
	return func(c *gin.Context) {
		path := c.Request.URL.Path
		if path != "/api/v1" && !strings.HasPrefix(path, "/api/v1/") {
			c.Next()
			return
		}
		token, bearer := bearerToken(c.Request)
		if bearer && tokens != nil && hasCookie(c.Request, tokens.CookieName) {
			respond.Error(c, errTokenAndCookie)
			return
		}
		if routes.IsPublic(path) {
			// A public route ignores credentials, but those that sign in
			// or manage a session refuse a request carrying a token.
			if access, ok := routes.AccessFor(c.Request.Method, c.FullPath()); ok && bearer && !access.AllowsTokens() {
				respond.Fail(c, store.EFORBIDDEN, auth.MsgTokenNotAllowed)
				return
			}
			c.Next()
			return
		}
		var who *Caller
		var err error
		if bearer && tokens != nil {
			who, err = tokens.Authenticate(c, token)
		} else {
			who, err = authn.Authenticate(c)
		}
		if observe != nil {
			observe(authMethod(c.Request, who, bearer && tokens != nil), err == nil)
		}
		if err != nil {
			// Gin sets Allow before running the chain of a 405; an
			// unauthenticated caller must not learn the methods.
			c.Writer.Header().Del("Allow")
			respond.Error(c, err)
			return
		}
		rc := requestContextOf(c)
		if rc == nil { // RequestID must run first: no caller, no access
			respond.Fail(c, store.EINTERNAL, respond.MsgInternal)
			return
		}
		byToken := who.TokenID != ""
		who.Recent = !byToken && policy.Recent(who.Session)
		rc.caller = who
		rc.info.UserID = who.User.ID
		rc.info.SessionID = who.Session.ID
		route := c.FullPath()
		if route == "" {
			c.Next() // 404 or 405 follows
			return
		}
		access, ok := routes.AccessFor(c.Request.Method, route)
		if !ok || !auth.Allowed(access, who.User.Role == store.RoleAdmin, who.User.ID, c.Param("id")) {
			respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
			return
		}
		if byToken {
			if err := auth.TokenAllows(access, who.TokenScope, c.Request.Method); err != nil {
				respond.Error(c, err)
				return
			}
		}
		if err := policy.Check(access, who.User, who.Session, c.Param("id")); err != nil {
			respond.Error(c, err)
			return
		}
		c.Next()
	}
}

// Authentication methods, as Pipeline reports them.
const (
	AuthToken   = "token"
	AuthSession = "session"
	AuthBasic   = "basic"
	AuthNone    = "none" // no credentials
)

// authMethod names the credentials a request to a protected path
// presented: who, when they passed, tells; otherwise the request's
// headers do.
func authMethod(r *http.Request, who *Caller, byToken bool) string {
	switch {
	case byToken:
		return AuthToken
	case who != nil && who.Session.ID != "":
		return AuthSession
	case who != nil, hasAuthorization(r):
		return AuthBasic
	case len(r.Header["Cookie"]) > 0:
		return AuthSession
	default:
		return AuthNone
	}
}

// Unauthorized and Forbidden are the errors an Authenticator returns.
var (
	Unauthorized = store.Errorf(store.EUNAUTHORIZED, respond.MsgUnauthorized)
	Forbidden    = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
)

// hasAuthorization reports whether the request has an Authorization header,
// even an empty one.
func hasAuthorization(r *http.Request) bool {
	_, ok := r.Header["Authorization"]
	return ok
}

// hasCookie reports whether the request has a cookie called name, even an
// empty one.
func hasCookie(r *http.Request, name string) bool {
	_, ok := cookieValue(r, name)
	return ok
}

// BasicAuth authenticates requests by HTTP Basic credentials (basic_auth
// mode) through the one login path, auth.Login. A session cookie alone is
// the wrong scheme for this mode: 403.
type BasicAuth struct {
	Login      *auth.Login
	CookieName string
}

// BasicChallenge is the WWW-Authenticate value of every 401 in basic_auth
// mode (RFC 7617), which tells clients to send Basic credentials in UTF-8.
const BasicChallenge = `Basic realm="simpleapi", charset="UTF-8"`

func (b BasicAuth) Authenticate(c *gin.Context) (*Caller, error) {
	if !hasAuthorization(c.Request) {
		if hasCookie(c.Request, b.CookieName) {
			return nil, Forbidden
		}
		return nil, Unauthorized
	}
	email, password, err := auth.ParseBasic(c.GetHeader("Authorization"))
	if err != nil {
		return nil, Forbidden
	}
	user, err := b.Login.Check(c.Request.Context(), email, password, c.ClientIP())
	if err != nil {
		return nil, basicRefusal(c, err)
	}
	if user.Factors.Enrolled() {
		// The password is right, but alone it does not open an account
		// with a second factor, and Basic has no way to send one.
		return nil, store.Errorf(store.EUNAUTHORIZED, auth.MsgSecondFactorEnrolled)
	}
	return &Caller{User: user}, nil
}

// basicRefusal is the pipeline's error for credentials that did not pass:
// 429 with Retry-After when throttled, 403 when wrong.
func basicRefusal(c *gin.Context, err error) error {
	if wait, throttled := auth.RetryAfter(err); throttled {
		respond.SetRetryAfter(c, wait) // the pipeline writes the 429
		return store.Errorf(store.ETOOMANY, respond.MsgTooManyRequests)
	}
	switch store.ErrorCode(err) {
	case store.ENOTFOUND, store.EUNAUTHORIZED:
		return Forbidden
	default:
		return err
	}
}

// ChallengeBasic adds BasicChallenge to every 401 answer, whichever code
// wrote it.
func ChallengeBasic() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer = &challengeWriter{ResponseWriter: c.Writer}
		c.Next()
	}
}

type challengeWriter struct {
	gin.ResponseWriter
}

func (w *challengeWriter) WriteHeader(code int) {
	// A refused access token has its own challenge (BearerChallenge).
	if code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", BasicChallenge)
	}
	w.ResponseWriter.WriteHeader(code)
}

// SessionAuth authenticates requests by session cookie (the session
// modes). A Basic header alone is the wrong scheme for these modes: 403.
type SessionAuth struct {
	Cookies  *SessionCookies
	Sessions *auth.SessionManager
	Users    store.UserStore
}

func (a SessionAuth) Authenticate(c *gin.Context) (*Caller, error) {
	token, present, ok := a.Cookies.Token(c.Request)
	switch {
	case !present && hasAuthorization(c.Request):
		return nil, Forbidden
	case !present:
		return nil, Unauthorized
	case !ok:
		return nil, Forbidden // bad signature: the store is not asked
	}
	ctx := c.Request.Context()
	s, newToken, err := a.Sessions.Use(ctx, token)
	if err != nil {
		return nil, err
	}
	if newToken != "" {
		// The token was rotated: the successor goes out with this answer,
		// whatever the route, or the client would be left with the old
		// token past its grace period.
		if err := a.Cookies.Refresh(c, newToken, a.Sessions.MaxAge(s)); err != nil {
			return nil, err
		}
	}
	if s.AAL == store.AALPending {
		// A password checked, a second factor still due: this session
		// signs nobody in. Only the second-factor route (public, which
		// reads the cookie itself) takes it further.
		return nil, Unauthorized
	}
	user, err := a.Users.UserByID(ctx, s.UserID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return nil, Forbidden
	}
	if err != nil {
		return nil, err
	}
	return &Caller{User: user, Session: s}, nil
}
