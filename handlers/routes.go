package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/handlers/web"
	"simpleapi/middleware"
)

// newEngine maps the whole API surface. Each route is registered together
// with who may call it (see routeGroup.handle); middleware.Pipeline applies
// that access.
func newEngine(d Deps) (*gin.Engine, error) {
	r := gin.New()
	// c.ClientIP() is the client address of the access and audit logs,
	// the login throttling and the sessions: the peer's address, or what
	// X-Forwarded-For says when the peer is one of TRUSTED_PROXIES (none
	// by default), so it cannot be spoofed.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	r.RedirectTrailingSlash = false // trailing slashes are removed before routing
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NoRoute(middleware.JSONNotFound)
	r.NoMethod(middleware.JSONMethodNotAllowed)

	if d.Sessions == nil { // basic_auth: every 401 invites Basic credentials
		r.Use(middleware.ChallengeBasic())
	}
	access := auth.NewRoutes()
	r.Use(
		middleware.SecurityHeaders(d.HSTSMaxAge, d.TrustedPrefixes),
		middleware.RequestID(r),
		middleware.AccessLog(d.Log, r.Routes),
		middleware.Metrics(d.Metrics, r.Routes),
		middleware.Recovery(d.Log),
		middleware.CORS(d.CORSOrigins),
		middleware.BodyLimit(d.MaxBodyBytes),
		d.CrossOrigin.Middleware(),
		middleware.Pipeline(d.Authenticator, access),
	)

	root := routeGroup{group: &r.RouterGroup, access: access}
	root.handle("GET", "/healthz", auth.Anyone, handleHealthz)
	root.handle("GET", "/readyz", auth.Anyone, handleReadyz(d.Ready))

	// The account page and its files: public, outside the API.
	page, err := web.New(d.Sessions != nil)
	if err != nil {
		return nil, err
	}
	page.Register(r)

	api := routeGroup{group: r.Group("/api/v1"), access: access}
	api.handle("GET", "/status", auth.Anyone, handleStatus)
	api.handle("GET", "/stats", auth.SignedIn, handleStats(d.Users))
	api.handle("GET", "/unauthorized", auth.Anyone, handleUnauthorized)
	api.handle("GET", "/forbidden", auth.Anyone, handleForbidden)
	api.handle("GET", "/openapi.yaml", auth.Anyone, handleOpenAPIYAML)
	api.handle("GET", "/openapi.json", auth.Anyone, handleOpenAPIJSON)

	api.handle("GET", "/users", auth.AdminOnly, handleListUsers(d.Users))
	api.handle("POST", "/users", auth.AdminOnly, handleCreateUser(d.Accounts))
	api.handle("GET", "/users/:id", auth.SelfOrAdmin, handleGetUser(d.Users))
	api.handle("PUT", "/users/:id", auth.SelfOrAdmin, handleUpdateUser(d.Users, d.Accounts))
	api.handle("DELETE", "/users/:id", auth.SelfOrAdmin, handleDeleteUser(d.Accounts))

	sd := sessionDeps{
		accounts:      d.Accounts,
		users:         d.Users,
		sessions:      d.Sessions,
		cookies:       d.Cookies,
		login:         d.Login,
		genericErrors: d.GenericLoginErrors,
		maxBody:       d.MaxBodyBytes,
		log:           d.Log,
		metrics:       d.Metrics,
	}
	api.handle("PUT", "/users/me/password", auth.SignedIn, withCookie(d.Cookies, handleChangePassword(sd))...)

	// The session routes exist only in the session modes; in basic_auth
	// they are declared (login stays public) but not served: 404.
	session := func(chain ...gin.HandlerFunc) []gin.HandlerFunc {
		if d.Sessions == nil {
			return nil
		}
		return chain
	}
	cookie := func(h gin.HandlerFunc) []gin.HandlerFunc { return session(withCookie(d.Cookies, h)...) }
	api.handle("POST", "/auth_session/login", auth.Anyone, cookie(handleLogin(sd))...)
	api.handle("DELETE", "/auth_session/logout", auth.SignedIn, cookie(handleLogout(sd))...)
	api.handle("GET", "/auth_session/sessions", auth.SignedIn, session(handleListMySessions(sd))...)
	api.handle("DELETE", "/auth_session/sessions", auth.SignedIn, session(handleRevokeMyOtherSessions(sd))...)
	api.handle("DELETE", "/auth_session/sessions/:id", auth.SignedIn, cookie(handleRevokeMySession(sd))...)
	api.handle("GET", "/users/:id/sessions", auth.AdminOnly, session(handleListUserSessions(sd))...)
	api.handle("DELETE", "/users/:id/sessions", auth.AdminOnly, session(handleRevokeUserSessions(sd))...)

	return r, nil
}

// routeGroup registers routes under one prefix together with their
// access, so a route and who may call it are one declaration.
type routeGroup struct {
	group  *gin.RouterGroup
	access *auth.Routes
}

// handle declares who may call method on path and serves it with chain;
// an empty chain declares the route without serving it. A GET route also
// answers HEAD (net/http drops the body of a HEAD response).
func (g routeGroup) handle(method, path string, access auth.Access, chain ...gin.HandlerFunc) {
	full := strings.TrimSuffix(g.group.BasePath(), "/") + path
	g.access.Add(method, full, access)
	if len(chain) == 0 {
		return
	}
	g.group.Handle(method, path, chain...)
	if method == http.MethodGet {
		g.group.Handle(http.MethodHead, path, chain...)
	}
}

// withCookie puts gin-contrib/sessions' middleware before h in the
// session modes, for handlers that may write the cookie.
func withCookie(cookies *middleware.SessionCookies, h gin.HandlerFunc) []gin.HandlerFunc {
	if cookies == nil {
		return []gin.HandlerFunc{h}
	}
	return []gin.HandlerFunc{cookies.Middleware(), h}
}

// stripTrailingSlash lets every route answer with and without a trailing
// slash, directly rather than by redirect.
func stripTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimSuffix(p, "/")
			if r.URL.RawPath != "" {
				r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
			}
		}
		next.ServeHTTP(w, r)
	})
}
