// Package middleware adapts the auth package and the cross-cutting rules of
// the service (security headers, CORS, body limits, the request pipeline)
// to Gin.
package middleware

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"simpleapi/respond"
	"simpleapi/store"
)

// SecurityHeaders sets respond.SetSecurityHeaders on every response, errors
// included; it runs first so nothing can answer without them. API answers
// carry users, sessions and cookies, so no cache may keep any of them.
// Responses to https requests (directly or through a trusted proxy) carry
// Strict-Transport-Security with hstsMaxAge, unless it is 0.
func SecurityHeaders(hstsMaxAge time.Duration, trustedProxies []netip.Prefix) gin.HandlerFunc {
	var hsts []string // shared by every answer, like respond's headers
	if hstsMaxAge > 0 {
		hsts = []string{"max-age=" + strconv.FormatInt(int64(hstsMaxAge/time.Second), 10)}
	}
	return func(c *gin.Context) {
		h := c.Writer.Header()
		respond.SetSecurityHeaders(h)
		if hsts != nil && OverHTTPS(c.Request, trustedProxies) {
			h["Strict-Transport-Security"] = hsts
		}
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			h["Cache-Control"] = noStore
		}
		c.Next()
	}
}

// Prepared header values, assigned rather than copied to each answer (see
// respond.SetSecurityHeaders).
var (
	noStore   = []string{"no-store"}
	anyOrigin = []string{"*"}
)

// OverHTTPS reports whether r came over TLS, directly or through a trusted
// proxy that says so in X-Forwarded-Proto. The header is looked at before
// the peer's address is parsed: most requests have none.
func OverHTTPS(r *http.Request, trustedProxies []netip.Prefix) bool {
	return r.TLS != nil ||
		(strings.EqualFold(headerValue(r.Header, "X-Forwarded-Proto"), "https") && fromTrustedProxy(r, trustedProxies))
}

// headerValue is h.Get(key) for a key already in canonical form, without
// canonicalising it again: net/http stores request headers under their
// canonical keys.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func fromTrustedProxy(r *http.Request, trusted []netip.Prefix) bool {
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := addr.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Recovery turns a panic into a JSON 500 that carries no detail, and logs
// the detail.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v) // the client went away; let net/http handle it
				}
				log.ErrorContext(c.Request.Context(), "panic while serving request",
					"method", c.Request.Method, "route", c.FullPath(), "panic", fmt.Sprint(v))
				if !c.Writer.Written() {
					respond.Fail(c, store.EINTERNAL, respond.MsgInternal)
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// BodyLimit caps request bodies at max bytes: a declared length over the
// limit is refused at once, and a body that grows past it while being read
// fails the read (respond.DecodeObject turns that into 413).
func BodyLimit(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			respond.Fail(c, store.ETOOLARGE, respond.MsgTooLarge)
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		}
		c.Next()
	}
}

// CORS answers cross-origin requests with github.com/gin-contrib/cors. With no origins listed, every API response carries
// "Access-Control-Allow-Origin: *" without credentials, as the old service
// (Flask-CORS, which sends it even without an Origin header) did. With a
// list, listed origins are echoed with credentials allowed; other origins
// get no CORS headers (the library would answer them 403, which would also
// break same-site browsers that send Origin), and their preflights are
// answered 204 without them, never sent on to authentication.
func CORS(origins []string) gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods:     []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"},
		AllowHeaders:     []string{"Authorization", "Content-Type", "X-Request-ID"},
		ExposeHeaders:    []string{"X-Request-ID", "Retry-After"},
		MaxAge:           600,
		AllowAllOrigins:  len(origins) == 0,
		AllowOrigins:     origins,
		AllowCredentials: len(origins) > 0,
	}
	handle := cors.New(cfg)
	listed := make(map[string]bool, len(origins))
	for _, o := range origins {
		listed[o] = true
	}
	return func(c *gin.Context) {
		origin := headerValue(c.Request.Header, "Origin")
		switch {
		case len(origins) == 0 && origin == "":
			if strings.HasPrefix(c.Request.URL.Path, "/api/") {
				c.Writer.Header()["Access-Control-Allow-Origin"] = anyOrigin
			}
			c.Next()
		case len(origins) > 0 && origin != "" && !listed[origin]:
			if isPreflight(c.Request) {
				c.AbortWithStatus(http.StatusNoContent)
				return
			}
			c.Next()
		default:
			handle(c)
		}
	}
}

func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// JSONNotFound answers unknown routes.
func JSONNotFound(c *gin.Context) {
	respond.Fail(c, store.ENOTFOUND, respond.MsgNotFound)
}

// JSONMethodNotAllowed answers a known path with the wrong method; Gin has
// already set the Allow header.
func JSONMethodNotAllowed(c *gin.Context) {
	respond.Fail(c, respond.ENOTALLOWED, respond.MsgMethodNotAllowed)
}
