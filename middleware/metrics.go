package middleware

import (
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/metrics"
)

// Metrics counts every request in simpleapi_http_requests_total and
// simpleapi_http_request_duration_seconds, labelled with the route
// template (see routeLabel), never the raw path, so the number of series
// stays bounded. A nil m records nothing.
func Metrics(m *metrics.Metrics, routes func() gin.RoutesInfo) gin.HandlerFunc {
	return func(c *gin.Context) {
		if m == nil {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		m.ObserveRequest(routeLabel(c, routes), c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}
