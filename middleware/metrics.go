package middleware

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/metrics"
)

// Metrics counts every request in simpleapi_http_requests_total and
// simpleapi_http_request_duration_seconds, labelled with the route
// template (or "unmatched"), never the raw path, so the number of series
// stays bounded. A 405 on a real route is labelled with that route's
// template, found among routes (the engine's Routes, read when needed).
// A nil m records nothing.
func Metrics(m *metrics.Metrics, routes func() gin.RoutesInfo) gin.HandlerFunc {
	return func(c *gin.Context) {
		if m == nil {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" && c.Writer.Status() == http.StatusMethodNotAllowed && routes != nil {
			route = matchTemplate(routes(), c.Request.URL.Path)
		}
		if route == "" {
			route = metrics.Unmatched
		}
		m.ObserveRequest(route, c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// matchTemplate returns the route template that path fits (":name"
// matches one segment, "*name" the rest), preferring the one with the
// most literal segments as the router does; "" when none fits.
func matchTemplate(routes gin.RoutesInfo, path string) string {
	best, bestLiterals := "", -1
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, r := range routes {
		if n, ok := fits(strings.Split(strings.Trim(r.Path, "/"), "/"), segs); ok && n > bestLiterals {
			best, bestLiterals = r.Path, n
		}
	}
	return best
}

// fits reports whether segs fit the template segments tmpl, and how many
// literal segments matched.
func fits(tmpl, segs []string) (int, bool) {
	literals := 0
	for i, t := range tmpl {
		if strings.HasPrefix(t, "*") {
			return literals, true
		}
		if i >= len(segs) {
			return 0, false
		}
		switch {
		case strings.HasPrefix(t, ":"):
			if segs[i] == "" {
				return 0, false
			}
		case t == segs[i]:
			literals++
		default:
			return 0, false
		}
	}
	return literals, len(tmpl) == len(segs)
}
