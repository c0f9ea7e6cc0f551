package middleware

import (
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
)

// maxLoggedMethod bounds the method written to the access log: net/http
// accepts any token as a method, however long.
const maxLoggedMethod = 32

// AccessLog writes one INFO line "request" per request once it has been
// answered: method, route (see routeLabel; never the raw path, which may
// carry ids or secrets), status, duration_ms, bytes (body bytes written),
// client_ip, request_id and, for an authenticated caller, user_id.
// Headers, cookies, query strings and bodies are never logged.
//
// It runs after RequestID, whose auth.RequestInfo supplies the request id
// and (filled in by Pipeline) the caller; the client address is gin's
// c.ClientIP(), worked out only for a line that is written.
func AccessLog(log *slog.Logger, routes func() gin.RoutesInfo) gin.HandlerFunc {
	if log == nil {
		log = slog.Default()
	}
	return func(c *gin.Context) {
		if !log.Enabled(c.Request.Context(), slog.LevelInfo) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		ctx := c.Request.Context()

		method := c.Request.Method
		if len(method) > maxLoggedMethod {
			method = method[:maxLoggedMethod]
		}
		var requestID, userID string
		if info := auth.RequestInfoFrom(ctx); info != nil {
			requestID, userID = info.RequestID, info.UserID
		}
		attrs := []slog.Attr{
			slog.String("method", method),
			slog.String("route", routeLabel(c, routes)),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
			slog.Int("bytes", max(c.Writer.Size(), 0)), // -1: nothing written
			slog.String("client_ip", c.ClientIP()),
			slog.String("request_id", requestID),
		}
		if userID != "" {
			attrs = append(attrs, slog.String("user_id", userID))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	}
}
