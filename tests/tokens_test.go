package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
	"simpleapi/middleware"
)

// tokenModes are the AUTH_TYPEs the token tests run in: tokens work in
// every one, beside Basic or the session cookie.
var tokenModes = []string{"basic_auth", "session_auth", "session_db_auth"}

func bearer(token string) option { return header("Authorization", "Bearer "+token) }

// createdToken mirrors the answer to a token's creation.
type createdToken struct {
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	Token     string `json:"token"`
}

// listedToken mirrors an entry of a token list.
type listedToken struct {
	CreatedAt  string  `json:"created_at"`
	Expired    bool    `json:"expired"`
	ExpiresAt  string  `json:"expires_at"`
	ID         string  `json:"id"`
	LastUsedAt *string `json:"last_used_at"`
	LastUsedIP *string `json:"last_used_ip"`
	Name       string  `json:"name"`
	Scope      string  `json:"scope"`
}

// createToken creates a token as the caller of as and returns it.
func (s *server) createToken(as option, name, scope string, days int) createdToken {
	s.t.Helper()
	rec := s.do("POST", "/api/v1/users/me/tokens",
		fmt.Sprintf(`{"name":%q,"scope":%q,"expires_in_days":%d}`, name, scope, days), as)
	require.Equal(s.t, http.StatusCreated, rec.Code, rec.Body.String())
	var tok createdToken
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &tok))
	return tok
}

// listTokens lists the caller's tokens.
func (s *server) listTokens(as option) []listedToken {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users/me/tokens", "", as)
	require.Equal(s.t, http.StatusOK, rec.Code, rec.Body.String())
	var list []listedToken
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &list))
	return list
}

// tokenRoute is one route of the table: the request that exercises it,
// what it answers a request without credentials when it is public
// (anon), and what it answers once the pipeline lets a token through
// (passed). Routes a token may not use have passed 0: the table's rule
// gives their status.
type tokenRoute struct {
	method, path string // as registered
	url, body    string
	anon         int // public routes only
	passed       int // routes that allow tokens only
}

// tokenRoutes is every route of the service. TestTokenRouteTable checks
// that it is every route.
var tokenRoutes = []tokenRoute{
	{method: "GET", path: "/healthz", anon: 200},
	{method: "GET", path: "/readyz", anon: 200},
	{method: "GET", path: "/", anon: 200},
	{method: "GET", path: "/account", anon: 200},
	{method: "GET", path: "/assets/app.js", anon: 200},
	{method: "GET", path: "/assets/qr.js", anon: 200},
	{method: "GET", path: "/assets/app.css", anon: 200},
	{method: "GET", path: "/api/v1/status", anon: 200},
	{method: "GET", path: "/api/v1/stats", passed: 200},
	{method: "GET", path: "/api/v1/unauthorized", anon: 401},
	{method: "GET", path: "/api/v1/forbidden", anon: 403},
	{method: "GET", path: "/api/v1/openapi.yaml", anon: 200},
	{method: "GET", path: "/api/v1/openapi.json", anon: 200},
	{method: "GET", path: "/api/v1/users", passed: 200},
	{method: "POST", path: "/api/v1/users", body: `{"email":"made-by-token@example.com","password":"` + userPassword + `"}`,
		passed: 201},
	{method: "GET", path: "/api/v1/users/:id", url: "/api/v1/users/me", passed: 200},
	{method: "PUT", path: "/api/v1/users/:id", url: "/api/v1/users/me", body: `{"first_name":"Scripted"}`, passed: 200},
	{method: "DELETE", path: "/api/v1/users/:id", url: "/api/v1/users/me"},
	{method: "GET", path: "/api/v1/users/:id/second_factors", url: "/api/v1/users/me/second_factors", passed: 200},
	{method: "DELETE", path: "/api/v1/users/:id/second_factors", url: "/api/v1/users/me/second_factors"},
	{method: "PUT", path: "/api/v1/users/me/password", body: `{"current_password":"x","new_password":"y"}`},
	{method: "POST", path: "/api/v1/auth_session/login", anon: 400},
	{method: "POST", path: "/api/v1/auth_session/second_factor", anon: 401},
	{method: "POST", path: "/api/v1/auth_session/reauth"},
	{method: "DELETE", path: "/api/v1/auth_session/logout"},
	{method: "GET", path: "/api/v1/auth_session/sessions"},
	{method: "DELETE", path: "/api/v1/auth_session/sessions"},
	{method: "DELETE", path: "/api/v1/auth_session/sessions/:id", url: "/api/v1/auth_session/sessions/x"},
	{method: "GET", path: "/api/v1/users/:id/sessions", url: "/api/v1/users/me/sessions"},
	{method: "DELETE", path: "/api/v1/users/:id/sessions", url: "/api/v1/users/me/sessions"},
	{method: "POST", path: "/api/v1/users/me/totp"},
	{method: "PUT", path: "/api/v1/users/me/totp"},
	{method: "DELETE", path: "/api/v1/users/me/totp"},
	{method: "POST", path: "/api/v1/users/me/recovery_codes"},
	{method: "GET", path: "/api/v1/users/me/passkeys"},
	{method: "POST", path: "/api/v1/users/me/passkeys/register/begin"},
	{method: "POST", path: "/api/v1/users/me/passkeys/register/finish"},
	{method: "DELETE", path: "/api/v1/users/me/passkeys/:passkey_id", url: "/api/v1/users/me/passkeys/x"},
	{method: "POST", path: "/api/v1/auth_session/second_factor/passkey/begin", anon: 401},
	{method: "POST", path: "/api/v1/auth_session/second_factor/passkey/finish", anon: 401},
	{method: "POST", path: "/api/v1/auth_session/login/passkey/begin", anon: 200},
	{method: "POST", path: "/api/v1/auth_session/login/passkey/finish", anon: 400},
	{method: "POST", path: "/api/v1/auth_session/reauth/passkey/begin"},
	{method: "POST", path: "/api/v1/auth_session/reauth/passkey/finish"},
	{method: "GET", path: "/api/v1/users/me/tokens"},
	{method: "POST", path: "/api/v1/users/me/tokens", body: `{"name":"by token","scope":"read"}`},
	{method: "DELETE", path: "/api/v1/users/me/tokens/:token_id", url: "/api/v1/users/me/tokens/x"},
	{method: "GET", path: "/api/v1/users/:id/tokens", url: "/api/v1/users/me/tokens"},
	{method: "DELETE", path: "/api/v1/users/:id/tokens", url: "/api/v1/users/me/tokens"},
}

// The credentials of the table's columns.
const (
	credNone      = "no token"
	credRead      = "read token"
	credWrite     = "write token"
	credRevoked   = "revoked token"
	credExpired   = "expired token"
	credMalformed = "malformed token"
)

var tokenCreds = []string{credNone, credRead, credWrite, credRevoked, credExpired, credMalformed}

// expectedTokenStatus is the one rule the table is checked against: what
// a request with cred gets from a route with access (declared: false for
// the page and health routes, outside the API), given what the route
// answers once past the pipeline. served is false for a route of another
// mode (404 once past the pipeline). The tokens are an admin's, so every
// route's kind allows their user.
func expectedTokenStatus(r tokenRoute, method string, access auth.Access, declared, served bool, cred string) int {
	anon, passed := r.anon, r.passed
	public := !declared || access.Kind() == auth.Anyone
	if !served {
		// Declared for another mode: the router matches no route, so no
		// route's access applies; authentication still does.
		switch {
		case public:
			return http.StatusNotFound
		case cred == credNone, cred == credRevoked, cred == credExpired, cred == credMalformed:
			return http.StatusUnauthorized
		default:
			return http.StatusNotFound
		}
	}
	switch {
	case cred == credNone && public:
		return anon
	case cred == credNone:
		return http.StatusUnauthorized
	case !declared:
		return anon // outside the API: credentials are not read
	case public && !access.AllowsTokens():
		return http.StatusForbidden // a sign-in route: no request with a token, whatever the token
	case public:
		return anon // a public route reads no credentials
	case cred == credRevoked, cred == credExpired, cred == credMalformed:
		return http.StatusUnauthorized // authentication comes first
	case !access.AllowsTokens():
		return http.StatusForbidden
	case cred == credRead && method != "GET" && method != "HEAD":
		return http.StatusForbidden
	default:
		return passed
	}
}

// TestTokenRouteTable sends every route every kind of token, in every
// AUTH_TYPE, and checks each answer against expectedTokenStatus.
func TestTokenRouteTable(t *testing.T) {
	for _, mode := range tokenModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, "AUTH_TYPE", mode)
			admin := signIn(s, adminEmail, adminPassword)

			// The expired token first: the clock then moves past its end.
			expired := s.createToken(admin, "soon", "write", 1)
			s.clock.AdvanceBy(25 * time.Hour)
			admin = signIn(s, adminEmail, adminPassword)
			read := s.createToken(admin, "reader", "read", 90)
			write := s.createToken(admin, "writer", "write", 90)
			revoked := s.createToken(admin, "gone", "write", 90)
			require.Equal(t, 200, s.do("DELETE", "/api/v1/users/me/tokens/"+revoked.ID, "", admin).Code)
			malformed := write.Token[:len(write.Token)-1] + flip(write.Token[len(write.Token)-1])
			secrets := map[string]string{credRead: read.Token, credWrite: write.Token, credRevoked: revoked.Token,
				credExpired: expired.Token, credMalformed: malformed}

			// The table is every route of the service, and nothing else.
			var want []string
			for _, r := range s.app.Routes() {
				if !strings.HasPrefix(r, "HEAD ") {
					want = append(want, r)
				}
			}
			var have []string
			for _, r := range tokenRoutes {
				have = append(have, r.method+" "+r.path)
			}
			slices.Sort(want)
			slices.Sort(have)
			if mode != "basic_auth" {
				assert.Equal(t, want, have, "the table lists every route")
			} else {
				assert.Subset(t, have, want)
			}
			served := map[string]bool{}
			for _, r := range s.app.Routes() {
				served[r] = true
			}

			refusals := 0
			for _, r := range tokenRoutes {
				url := r.url
				if url == "" {
					url = r.path
				}
				methods := []string{r.method}
				if r.method == "GET" {
					methods = append(methods, "HEAD")
				}
				for _, method := range methods {
					access, declared := s.app.Access(method, r.path)
					for _, cred := range tokenCreds {
						var opts []option
						if cred != credNone {
							opts = append(opts, bearer(secrets[cred]))
						}
						if cred == credRevoked || cred == credExpired {
							// Refused tokens count against their address:
							// each comes from one of its own here.
							refusals++
							opts = append(opts, fromAddr(fmt.Sprintf("198.51.%d.%d", refusals/250, refusals%250+1)))
						}
						rec := s.doPage(method, url, r.body, opts...)
						want := expectedTokenStatus(r, method, access, declared, served[method+" "+r.path], cred)
						assert.Equal(t, want, rec.Code, "%s %s with %s: %s", method, url, cred, rec.Body.String())
						if want == http.StatusUnauthorized && cred != credNone && rec.Code == want && access.Kind() != auth.Anyone {
							assert.Equal(t, middleware.BearerChallenge, rec.Header().Get("WWW-Authenticate"),
								"%s %s with %s", method, url, cred)
							if method != "HEAD" {
								assertError(t, rec, 401, auth.MsgInvalidToken)
							}
						}
					}
				}
			}
		})
	}
}

// doPage is s.do, except that the account page and its files (not JSON,
// which the OpenAPI check cannot read) are sent unchecked.
func (s *server) doPage(method, url, body string, opts ...option) *httptest.ResponseRecorder {
	s.t.Helper()
	if url != "/" && url != "/account" && !strings.HasPrefix(url, "/assets/") {
		return s.do(method, url, body, opts...)
	}
	req := httptest.NewRequest(method, url, nil)
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

// fromAddr makes a request come from the client address ip.
func fromAddr(ip string) option {
	return func(r *http.Request) { r.RemoteAddr = ip + ":40000" }
}

// flip changes a base62 character into another.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
