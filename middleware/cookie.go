package middleware

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	gsessions "github.com/gorilla/sessions"

	"simpleapi/auth"
)

// tokenKey is the key of the session token among the cookie's values.
const tokenKey = "t"

// maxVerified bounds the cache of verified cookies (an entry holds a
// cookie value of about 120 bytes, its token and hash: at most about 25 MB
// in all); when full it is emptied, which costs only a re-verification per
// client.
const maxVerified = 100_000

// maxCookieValue is the longest session cookie value looked at; ours are
// about 120 bytes, and browsers keep at most 4096 per cookie.
const maxCookieValue = 4096

// SessionCookies reads and writes the session cookie through
// gin-contrib/sessions and its cookie store, which signs the value with
// HMAC-SHA256 under the session secrets (the first signs; every one is
// accepted, for rotation). The cookie carries only the session token.
type SessionCookies struct {
	name     string
	store    cookieStore
	secure   string // "true", "false" or "auto"
	sameSite http.SameSite
	trusted  []netip.Prefix

	// The store's decoding (base64, HMAC, gob) costs several microseconds
	// and dozens of allocations. A cookie value that verified once always
	// verifies to the same token, so verified values are remembered, with
	// the token's hashes, which are all the session lookup needs. Only values
	// this server signed get in, so keys are as long as its own cookies. A
	// lookup compares a value with a stored one only when their hashes
	// under the map's random seed agree, so its timing tells nothing usable
	// about other clients' cookies; a value not found is verified by the
	// store's HMAC check.
	mu       sync.RWMutex
	verified map[string]auth.Token // the exact value → its token, parsed
}

// CookieConfig configures SessionCookies.
type CookieConfig struct {
	Name           string
	Secrets        [][]byte
	Secure         string // COOKIE_SECURE
	SameSite       string // COOKIE_SAMESITE
	MaxAgeSeconds  int    // the absolute session lifetime; 0 = none
	TrustedProxies []netip.Prefix
}

// NewSessionCookies builds the cookie codec.
func NewSessionCookies(cfg CookieConfig) *SessionCookies {
	// Pairs of (hash key, encryption key): signed, not encrypted, since
	// the token is opaque and useless without the server's records.
	var pairs [][]byte
	for _, s := range cfg.Secrets {
		pairs = append(pairs, s, nil)
	}
	st := newCookieStore(pairs...)
	// The signature's own timestamp check follows the session lifetime;
	// 0 turns it off for sessions without one. Store.Options alone would
	// leave the codecs at their 30-day default.
	st.MaxAge(cfg.MaxAgeSeconds)
	sameSite := http.SameSiteLaxMode
	switch cfg.SameSite {
	case "strict":
		sameSite = http.SameSiteStrictMode
	case "none":
		sameSite = http.SameSiteNoneMode
	}
	return &SessionCookies{
		name:     cfg.Name,
		store:    st,
		secure:   cfg.Secure,
		sameSite: sameSite,
		trusted:  cfg.TrustedProxies,
		verified: make(map[string]auth.Token),
	}
}

// Name is the cookie's name.
func (sc *SessionCookies) Name() string { return sc.name }

// Middleware is gin-contrib/sessions' middleware, needed by the routes
// that write the cookie.
func (sc *SessionCookies) Middleware() gin.HandlerFunc {
	return sessions.Sessions(sc.name, quietStore{sc.store})
}

// quietStore is the cookie store, except that a request cookie which does
// not verify yields a new, empty session without an error: gin-contrib's
// session would log that error at ERROR level, so any client could fill
// the log by sending junk cookies to the login route. Such cookies are
// already answered 403 by the authenticator.
type quietStore struct{ sessions.Store }

func (q quietStore) Get(r *http.Request, name string) (*gsessions.Session, error) {
	s, err := q.Store.Get(r, name)
	if err != nil && s != nil {
		return s, nil
	}
	return s, err
}

// Token returns the token in the request's cookie. present is false when
// there is no cookie; ok is false when there is one that does not verify.
func (sc *SessionCookies) Token(r *http.Request) (token auth.Token, present, ok bool) {
	raw, present := cookieValue(r, sc.name)
	if !present {
		return auth.Token{}, false, false
	}
	if len(raw) > maxCookieValue {
		return auth.Token{}, true, false
	}
	sc.mu.RLock()
	token, ok = sc.verified[raw]
	sc.mu.RUnlock()
	if ok {
		return token, true, true
	}
	// The store decodes exactly the value that was found (and will be
	// remembered), not whatever its own cookie parser would pick.
	only := &http.Request{Header: http.Header{"Cookie": {sc.name + "=" + raw}}}
	s, err := sc.store.New(only, sc.name)
	if err != nil || s.IsNew {
		return auth.Token{}, true, false
	}
	value, ok := s.Values[tokenKey].(string)
	if !ok || value == "" {
		return auth.Token{}, true, false
	}
	token = auth.ParseToken(value)
	sc.mu.Lock()
	if len(sc.verified) >= maxVerified {
		clear(sc.verified)
	}
	sc.verified[strings.Clone(raw)] = token // raw points into the request's header
	sc.mu.Unlock()
	return token, true, true
}

// Set writes a cookie carrying token, living maxAge seconds (0: until the
// browser closes).
func (sc *SessionCookies) Set(c *gin.Context, token string, maxAge int) error {
	s := sessions.Default(c)
	s.Clear()
	s.Set(tokenKey, token)
	s.Options(sc.options(c.Request, maxAge))
	return s.Save()
}

// Refresh writes a cookie carrying token without gin-contrib/sessions'
// middleware, which only some routes have: the authenticator uses it on any
// route when it replaces a session's token.
func (sc *SessionCookies) Refresh(c *gin.Context, token string, maxAge int) error {
	s := gsessions.NewSession(sc.store, sc.name)
	s.Values[tokenKey] = token
	s.Options = sc.options(c.Request, maxAge).ToGorillaOptions()
	return sc.store.Save(c.Request, c.Writer, s)
}

// Clear writes an expired, empty cookie (Max-Age=0).
func (sc *SessionCookies) Clear(c *gin.Context) error {
	s := sessions.Default(c)
	s.Clear()
	s.Options(sc.options(c.Request, -1))
	return s.Save()
}

// options are the cookie attributes (see docs/api.md, Authentication modes): Path=/, HttpOnly,
// SameSite, Secure as configured, no Domain.
func (sc *SessionCookies) options(r *http.Request, maxAge int) sessions.Options {
	return sessions.Options{
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   sc.Secure(r),
		HttpOnly: true,
		SameSite: sc.sameSite,
	}
}

// Secure reports whether the cookie must be Secure for this request:
// always for a __Host- name or COOKIE_SECURE=true; with auto, when the
// request came over TLS or through a trusted proxy that says https.
func (sc *SessionCookies) Secure(r *http.Request) bool {
	switch {
	case strings.HasPrefix(sc.name, "__Host-"), sc.secure == "true":
		return true
	case sc.secure == "false":
		return false
	default:
		return OverHTTPS(r, sc.trusted)
	}
}

// cookieValue finds a cookie's value without the allocations of
// http.Request.Cookie; it runs on every request. An empty value counts as
// present.
func cookieValue(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				return v, true
			}
		}
	}
	return "", false
}
