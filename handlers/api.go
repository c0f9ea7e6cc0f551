// Package handlers serves the HTTP API: it receives the services the app
// package built, registers every route with who may call it, and holds the
// thin handlers of every route.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/metrics"
	"simpleapi/middleware"
	"simpleapi/store"
)

func init() {
	// Gin's debug mode prints every route to stdout; logging is ours.
	gin.SetMode(gin.ReleaseMode)
}

// Deps are the services the handlers use, built by the caller.
type Deps struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Users   store.UserStore
	// Ready reports whether every store answers (/readyz).
	Ready    func(context.Context) error
	Accounts *auth.Accounts
	Login    *auth.Login
	Factors  *auth.SecondFactors
	// Passkeys is set in the session modes, whose session store keeps
	// the ceremonies; nil in basic_auth.
	Passkeys      *auth.Passkeys
	Authenticator middleware.Authenticator
	// Tokens authenticates requests by personal access token and serves
	// the tokens routes, in every mode.
	Tokens *middleware.TokenAuth
	// Policy is what the marks of a route's access ask of a caller:
	// REAUTH_MAX_AGE and MFA_REQUIRED_ROLES.
	Policy      auth.Policy
	CrossOrigin *middleware.CrossOrigin
	// Sessions and Cookies are set in the session modes, nil in
	// basic_auth, where the session routes answer 404.
	Sessions *auth.SessionManager
	Cookies  *middleware.SessionCookies

	TrustedProxies     []string       // X-Forwarded-For is believed only from these
	TrustedPrefixes    []netip.Prefix // the same, parsed
	HSTSMaxAge         time.Duration  // Strict-Transport-Security over https; 0 = none
	CORSOrigins        []string       // origins allowed to call with credentials
	MaxBodyBytes       int64
	GenericLoginErrors bool // one answer for unknown email and wrong password
}

// API is the service's HTTP handler.
type API struct {
	engine  *gin.Engine
	handler http.Handler
	access  *auth.Routes
}

// New builds the router over d.
func New(d Deps) (*API, error) {
	engine, access, err := newEngine(d)
	if err != nil {
		return nil, err
	}
	return &API{engine: engine, handler: stripTrailingSlash(engine), access: access}, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// Access returns who may call a route ("GET", "/api/v1/users/:id"), as
// it was declared, and whether it was.
func (a *API) Access(method, path string) (auth.Access, bool) {
	return a.access.AccessFor(method, path)
}

// Routes lists the registered routes as "METHOD /path/:param".
func (a *API) Routes() []string {
	var out []string
	for _, r := range a.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
