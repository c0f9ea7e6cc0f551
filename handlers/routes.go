package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/handlers/web"
	"simpleapi/middleware"
)

// routes maps the whole API surface. Who may call each route is decided
// in one table, auth.Policy, which middleware.Pipeline applies.
func (a *App) routes() (http.Handler, error) {
	r := gin.New()
	a.engine = r
	// X-Forwarded-For is believed only from TRUSTED_PROXIES (none by
	// default), so c.ClientIP() cannot be spoofed.
	if err := r.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		return nil, err
	}
	r.RedirectTrailingSlash = false // trailing slashes are removed before routing
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NoRoute(middleware.JSONNotFound)
	r.NoMethod(middleware.JSONMethodNotAllowed)

	trusted, err := parsePrefixes(a.cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if !a.cfg.SessionMode() {
		r.Use(middleware.ChallengeBasic())
	}
	r.Use(
		middleware.SecurityHeaders(a.cfg.HSTSMaxAge, trusted),
		middleware.RequestID(),
		middleware.AccessLog(a.log, r.Routes),
		middleware.Metrics(a.metrics, r.Routes),
		middleware.Recovery(a.log),
		middleware.CORS(a.cfg.CORSOrigins),
		middleware.BodyLimit(a.cfg.MaxBodyBytes),
		middleware.Pipeline(a.authenticator, auth.PublicPaths),
	)

	page, err := web.New(a.cfg.SessionMode())
	if err != nil {
		return nil, err
	}
	page.Register(r)

	getAndHead(r, "/healthz", handleHealthz)
	getAndHead(r, "/readyz", handleReadyz(a.users))

	api := r.Group("/api/v1")
	getAndHead(api, "/status", handleStatus)
	getAndHead(api, "/stats", handleStats(a.users))
	getAndHead(api, "/unauthorized", handleUnauthorized)
	getAndHead(api, "/forbidden", handleForbidden)
	getAndHead(api, "/openapi.yaml", handleOpenAPI)

	getAndHead(api, "/users", handleListUsers(a.users))
	api.POST("/users", handleCreateUser(a.accounts))
	getAndHead(api, "/users/:id", handleGetUser(a.users))
	api.PUT("/users/:id", handleUpdateUser(a.users, a.accounts))
	api.DELETE("/users/:id", handleDeleteUser(a.accounts))

	d := sessionDeps{
		accounts:      a.accounts,
		users:         a.users,
		sessions:      a.sessions,
		cookies:       a.cookies,
		login:         a.login,
		genericErrors: a.cfg.AuthGenericErrors,
		maxBody:       a.cfg.MaxBodyBytes,
		log:           a.log,
		metrics:       a.metrics,
	}
	api.PUT("/users/me/password", a.withCookie(handleChangePassword(d))...)

	if a.cfg.SessionMode() {
		api.POST("/auth_session/login", a.crossOrigin.Middleware(), a.cookies.Middleware(), handleLogin(d))
		api.DELETE("/auth_session/logout", a.cookies.Middleware(), handleLogout(d))
		getAndHead(api, "/auth_session/sessions", handleListMySessions(d))
		api.DELETE("/auth_session/sessions", handleRevokeMyOtherSessions(d))
		api.DELETE("/auth_session/sessions/:id", a.cookies.Middleware(), handleRevokeMySession(d))
		getAndHead(api, "/users/:id/sessions", handleListUserSessions(d))
		api.DELETE("/users/:id/sessions", handleRevokeUserSessions(d))
	}

	return stripTrailingSlash(r), nil
}

// withCookie puts gin-contrib/sessions' middleware before h in the
// session modes, for handlers that may write the cookie.
func (a *App) withCookie(h gin.HandlerFunc) []gin.HandlerFunc {
	if a.cookies == nil {
		return []gin.HandlerFunc{h}
	}
	return []gin.HandlerFunc{a.cookies.Middleware(), h}
}

// getAndHead registers a GET route and its HEAD twin (net/http drops the
// body of a HEAD response).
func getAndHead(r gin.IRoutes, path string, h gin.HandlerFunc) {
	r.GET(path, h)
	r.HEAD(path, h)
}

// stripTrailingSlash lets every route answer with and without a trailing
// slash, directly rather than by redirect (SPEC 1).
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
