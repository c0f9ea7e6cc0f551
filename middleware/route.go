package middleware

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/metrics"
)

// routeLabel is how the access log and the metrics name a request's route:
// the route template, never the raw path (which may carry ids or secrets).
// A 405 on a real route is named by that route's template, found among
// routes (the engine's Routes, read only then); a path no route has is
// "unmatched".
func routeLabel(c *gin.Context, routes func() gin.RoutesInfo) string {
	route := c.FullPath()
	if route == "" && c.Writer.Status() == http.StatusMethodNotAllowed && routes != nil {
		route = matchTemplate(routes(), c.Request.URL.Path)
	}
	if route == "" {
		route = metrics.Unmatched
	}
	return route
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
