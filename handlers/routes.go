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
// that access. Two marks add to it: .Reauth() routes change how an
// account is protected and need an authentication within REAUTH_MAX_AGE
// (POST /api/v1/auth_session/reauth refreshes it); .Enrolment() routes
// stay open to a caller whose role must enrol a second factor
// (MFA_REQUIRED_ROLES) and has not yet. A personal access token may call
// every other route except those marked .NoTokens() (what signs in or
// manages sessions, tokens or factors) and those marked .Reauth(): a token
// is never a recent authentication.
func newEngine(d Deps) (*gin.Engine, *auth.Routes, error) {
	r := gin.New()
	// c.ClientIP() is the client address of the access and audit logs,
	// the login throttling and the sessions: the peer's address, or what
	// X-Forwarded-For says when the peer is one of TRUSTED_PROXIES (none
	// by default), so it cannot be spoofed.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, nil, err
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
		middleware.Pipeline(d.Authenticator, d.Tokens, access, d.Policy, d.Metrics.AuthRequest),
	)

	root := routeGroup{group: &r.RouterGroup, access: access}
	root.handle("GET", "/healthz", auth.Anyone, handleHealthz)
	root.handle("GET", "/readyz", auth.Anyone, handleReadyz(d.Ready))

	// The account page and its files: public, outside the API.
	page, err := web.New(d.Sessions != nil)
	if err != nil {
		return nil, nil, err
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
	api.handle("GET", "/users/:id", auth.SelfOrAdmin.Enrolment(), handleGetUser(d.Users))
	// A role change needs a recent authentication too; the route cannot
	// say so, since only the body tells: auth.Accounts.Update checks it.
	api.handle("PUT", "/users/:id", auth.SelfOrAdmin, handleUpdateUser(d.Users, d.Accounts))
	api.handle("DELETE", "/users/:id", auth.SelfOrAdmin.Reauth(), handleDeleteUser(d.Accounts))
	api.handle("GET", "/users/:id/second_factors", auth.SelfOrAdmin.Enrolment(), handleGetSecondFactors(d.Users))
	api.handle("DELETE", "/users/:id/second_factors", auth.AdminOnly.Reauth(), handleRemoveSecondFactors(d.Factors))

	sd := sessionDeps{
		accounts:      d.Accounts,
		users:         d.Users,
		sessions:      d.Sessions,
		cookies:       d.Cookies,
		login:         d.Login,
		factors:       d.Factors,
		passkeys:      d.Passkeys,
		genericErrors: d.GenericLoginErrors,
		maxBody:       d.MaxBodyBytes,
		log:           d.Log,
		metrics:       d.Metrics,
	}
	api.handle("PUT", "/users/me/password", auth.SignedIn.Reauth(), withCookie(d.Cookies, handleChangePassword(sd))...)

	// The session routes exist only in the session modes; in basic_auth
	// they are declared (login stays public) but not served: 404.
	session := func(chain ...gin.HandlerFunc) []gin.HandlerFunc {
		if d.Sessions == nil {
			return nil
		}
		return chain
	}
	cookie := func(h gin.HandlerFunc) []gin.HandlerFunc { return session(withCookie(d.Cookies, h)...) }
	api.handle("POST", "/auth_session/login", auth.Anyone.NoTokens(), cookie(handleLogin(sd))...)
	// Public: it reads the pending session of the cookie itself, which
	// signs nobody in anywhere else.
	api.handle("POST", "/auth_session/second_factor", auth.Anyone.NoTokens(), cookie(handleSecondFactor(sd))...)
	api.handle("POST", "/auth_session/reauth", auth.SignedIn.Enrolment().NoTokens(), session(handleReauth(sd))...)
	api.handle("DELETE", "/auth_session/logout", auth.SignedIn.Enrolment().NoTokens(), cookie(handleLogout(sd))...)
	api.handle("GET", "/auth_session/sessions", auth.SignedIn.NoTokens(), session(handleListMySessions(sd))...)
	api.handle("DELETE", "/auth_session/sessions", auth.SignedIn.NoTokens(), session(handleRevokeMyOtherSessions(sd))...)
	api.handle("DELETE", "/auth_session/sessions/:id", auth.SignedIn.NoTokens(), cookie(handleRevokeMySession(sd))...)
	api.handle("GET", "/users/:id/sessions", auth.AdminOnly.NoTokens(), session(handleListUserSessions(sd))...)
	api.handle("DELETE", "/users/:id/sessions", auth.AdminOnly.Reauth(), session(handleRevokeUserSessions(sd))...)

	// Second factors, enrolled from a session (Basic cannot send one, so
	// in basic_auth they are declared but not served).
	enrol := auth.SignedIn.Reauth().Enrolment()
	api.handle("POST", "/users/me/totp", enrol, session(handleStartTOTP(d.Factors))...)
	api.handle("PUT", "/users/me/totp", enrol, session(handleConfirmTOTP(d.Factors))...)
	api.handle("DELETE", "/users/me/totp", enrol, session(handleRemoveTOTP(d.Factors))...)
	api.handle("POST", "/users/me/recovery_codes", auth.SignedIn.Reauth(), session(handleRegenerateRecoveryCodes(d.Factors))...)

	// Passkeys, registered from a session like the factors above. The
	// finish of a registration needs no recent authentication of its own:
	// it completes only a ceremony that this session began with one,
	// within minutes.
	api.handle("GET", "/users/me/passkeys", auth.SignedIn.Enrolment().NoTokens(), session(handleListPasskeys())...)
	api.handle("POST", "/users/me/passkeys/register/begin", enrol, session(handleBeginPasskeyRegistration(d.Passkeys))...)
	api.handle("POST", "/users/me/passkeys/register/finish", auth.SignedIn.Enrolment().NoTokens(),
		session(handleFinishPasskeyRegistration(d.Passkeys))...)
	api.handle("DELETE", "/users/me/passkeys/:passkey_id", auth.SignedIn.Reauth(), session(handleRemovePasskey(d.Passkeys))...)
	// Public, like the routes they complete: a passkey as the second
	// factor of the cookie's pending sign-in, or a sign-in by passkey
	// alone (whose begin anyone may ask for, within the login budget).
	api.handle("POST", "/auth_session/second_factor/passkey/begin", auth.Anyone.NoTokens(), session(handleBeginPasskeySecondFactor(sd))...)
	api.handle("POST", "/auth_session/second_factor/passkey/finish", auth.Anyone.NoTokens(), cookie(handleFinishPasskeySecondFactor(sd))...)
	api.handle("POST", "/auth_session/login/passkey/begin", auth.Anyone.NoTokens(), session(handleBeginPasskeySignIn(sd))...)
	api.handle("POST", "/auth_session/login/passkey/finish", auth.Anyone.NoTokens(), cookie(handleFinishPasskeySignIn(sd))...)
	api.handle("POST", "/auth_session/reauth/passkey/begin", auth.SignedIn.Enrolment().NoTokens(), session(handleBeginPasskeyReauth(d.Passkeys))...)
	api.handle("POST", "/auth_session/reauth/passkey/finish", auth.SignedIn.Enrolment().NoTokens(), session(handleFinishPasskeyReauth(sd))...)

	// Personal access tokens, in every mode. Creating one needs a recent
	// authentication; no token can create, list or revoke tokens.
	tokens := d.Tokens.Tokens
	api.handle("GET", "/users/me/tokens", auth.SignedIn.NoTokens(), handleListTokens(tokens))
	api.handle("POST", "/users/me/tokens", auth.SignedIn.Reauth(), handleCreateToken(tokens))
	api.handle("DELETE", "/users/me/tokens/:token_id", auth.SignedIn.NoTokens(), handleRevokeMyToken(tokens))
	api.handle("GET", "/users/:id/tokens", auth.AdminOnly.NoTokens(), handleListTokens(tokens))
	api.handle("DELETE", "/users/:id/tokens", auth.AdminOnly.Reauth(), handleRevokeUserTokens(tokens))

	return r, access, nil
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
