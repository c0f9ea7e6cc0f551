package middleware

import (
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/metrics"
)

// metricsKey is the gin context key of the request's *metrics.Metrics.
const metricsKey = "simpleapi.metrics"

// Metrics counts every request in simpleapi_http_requests_total and
// simpleapi_http_request_duration_seconds, labelled with the route
// template (or "unmatched"), never the raw path, so the number of series
// stays bounded. It also makes m available to the handlers (RecordLogin).
// A nil m records nothing.
func Metrics(m *metrics.Metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		if m == nil {
			c.Next()
			return
		}
		start := time.Now()
		c.Set(metricsKey, m)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = metrics.Unmatched
		}
		m.ObserveRequest(route, c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// RecordLogin counts one login attempt with outcome (one of the
// metrics.Login* constants) in the metrics of the request, if any.
func RecordLogin(c *gin.Context, outcome string) {
	if v, ok := c.Get(metricsKey); ok {
		v.(*metrics.Metrics).LoginAttempt(outcome)
	}
}
