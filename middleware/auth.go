package middleware

import (
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/handlers/respond"
	"simpleapi/store"
)

// Authenticator finds the user of a request. It returns EUNAUTHORIZED when
// the request carries no credentials at all and EFORBIDDEN when the
// credentials it carries are not valid (SPEC 2 steps 3 and 4).
type Authenticator interface {
	Authenticate(c *gin.Context) (store.User, error)
}

// callerKey is the gin context key of the authenticated caller.
const callerKey = "simpleapi.caller"

// caller is who made a request: one value in the context rather than two
// saves an allocation per request.
type caller struct {
	user       store.User
	session    store.Session
	hasSession bool
}

func callerOf(c *gin.Context) *caller {
	v, ok := c.Get(callerKey)
	if !ok {
		return nil
	}
	return v.(*caller)
}

// CurrentUser returns the authenticated user of the request. Handlers
// behind Pipeline may rely on it; on public routes ok is false.
func CurrentUser(c *gin.Context) (store.User, bool) {
	if who := callerOf(c); who != nil {
		return who.user, true
	}
	return store.User{}, false
}

// CurrentSession returns the session that authenticated the request, if
// a session did.
func CurrentSession(c *gin.Context) (store.Session, bool) {
	if who := callerOf(c); who != nil && who.hasSession {
		return who.session, true
	}
	return store.Session{}, false
}

// setSession records the session of a request being authenticated; the
// Pipeline adds the user once the authenticator returns.
func setSession(c *gin.Context, s store.Session) {
	c.Set(callerKey, &caller{session: s, hasSession: true})
}

// Pipeline is the request pipeline of SPEC 2 for every /api/v1 request:
// public paths pass, everything else must authenticate, and a matched route
// must then allow the caller by auth.Policy. Because it runs for unmatched
// paths too, an unknown path or a wrong method answers 401/403 before
// 404/405.
func Pipeline(authn Authenticator, public []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		path := c.Request.URL.Path
		if path != "/api/v1" && !strings.HasPrefix(path, "/api/v1/") || auth.IsPublic(public, path) {
			c.Next()
			return
		}
		user, err := authn.Authenticate(c)
		if err != nil {
			// Gin sets Allow before running the chain of a 405; an
			// unauthenticated caller must not learn the methods.
			c.Writer.Header().Del("Allow")
			respond.Error(c, err)
			return
		}
		who := callerOf(c)
		if who == nil {
			who = &caller{}
			c.Set(callerKey, who)
		}
		who.user = user
		if info := auth.RequestInfoFrom(c.Request.Context()); info != nil {
			info.UserID = user.ID
			info.SessionID = who.session.ID
		}
		route := c.FullPath()
		if route == "" {
			c.Next() // 404 or 405 follows
			return
		}
		access, ok := auth.AccessFor(c.Request.Method, route)
		if !ok || !auth.Allowed(access, user.Role == store.RoleAdmin, user.ID, c.Param("id")) {
			respond.Abort(c, http.StatusForbidden, respond.MsgForbidden)
			return
		}
		c.Next()
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
// mode). A session cookie alone is the wrong scheme for this mode: 403.
type BasicAuth struct {
	Accounts   *auth.Accounts
	CookieName string
	Throttle   *auth.Throttle
}

func (b BasicAuth) Authenticate(c *gin.Context) (store.User, error) {
	if !hasAuthorization(c.Request) {
		if hasCookie(c.Request, b.CookieName) {
			return store.User{}, Forbidden
		}
		return store.User{}, Unauthorized
	}
	email, password, err := auth.ParseBasic(c.GetHeader("Authorization"))
	if err != nil {
		return store.User{}, Forbidden
	}
	// Every request carries the password, so only an account under attack
	// is held back; client addresses are not limited here.
	if wait, ok := b.Throttle.AllowAccount(email); !ok {
		c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
		return store.User{}, store.Errorf(store.ETOOMANY, respond.MsgTooManyRequests)
	}
	user, err := b.Accounts.Authenticate(c.Request.Context(), email, password)
	if err != nil {
		switch store.ErrorCode(err) {
		case store.ENOTFOUND, store.EUNAUTHORIZED:
			b.Throttle.Failure(email)
			return store.User{}, Forbidden
		default:
			return store.User{}, err
		}
	}
	b.Throttle.Success(email)
	return user, nil
}

// SessionAuth authenticates requests by session cookie (the session
// modes). A Basic header alone is the wrong scheme for these modes: 403.
type SessionAuth struct {
	Cookies     *SessionCookies
	Sessions    *auth.SessionManager
	Users       store.UserStore
	CrossOrigin *CrossOrigin
}

func (a SessionAuth) Authenticate(c *gin.Context) (store.User, error) {
	token, present, ok := a.Cookies.Token(c.Request)
	switch {
	case !present && hasAuthorization(c.Request):
		return store.User{}, Forbidden
	case !present:
		return store.User{}, Unauthorized
	case !ok:
		return store.User{}, Forbidden // bad signature: the store is not asked
	case !a.CrossOrigin.Allowed(c.Request):
		return store.User{}, Forbidden // a cross-site browser request riding the cookie
	}
	ctx := c.Request.Context()
	s, err := a.Sessions.Lookup(ctx, token)
	if err != nil {
		return store.User{}, err
	}
	user, err := a.Users.UserByID(ctx, s.UserID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return store.User{}, Forbidden
	}
	if err != nil {
		return store.User{}, err
	}
	setSession(c, s)
	return user, nil
}
