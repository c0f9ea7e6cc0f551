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
// carry ids or secrets), status, duration_ms, bytes
// (body bytes written), client_ip, request_id and, for an authenticated
// caller, user_id. Headers, cookies, query strings and bodies are never
// logged.
//
// It runs after RequestID, whose auth.RequestInfo supplies the request id,
// the client address and (filled in by Pipeline) the caller.
func AccessLog(log *slog.Logger, routes func() gin.RoutesInfo) gin.HandlerFunc {
	if log == nil {
		log = slog.Default()
	}
	lines, _ := log.Handler().(*LogHandler) // writes the line itself
	return func(c *gin.Context) {
		if !log.Enabled(c.Request.Context(), slog.LevelInfo) {
			c.Next()
			return
		}
		start := time.Now()
		c.Next()
		end := time.Now()
		ctx := c.Request.Context()

		a := accessRecord{
			time:       end,
			method:     c.Request.Method,
			route:      routeLabel(c, routes),
			status:     c.Writer.Status(),
			durationMS: float64(end.Sub(start)) / float64(time.Millisecond),
			bytes:      max(c.Writer.Size(), 0), // -1: nothing written
		}
		if len(a.method) > maxLoggedMethod {
			a.method = a.method[:maxLoggedMethod]
		}
		if info := auth.RequestInfoFrom(ctx); info != nil {
			a.requestID, a.clientIP, a.userID = info.RequestID, info.ClientIP, info.UserID
		} else {
			a.clientIP = requestClientIP(c)
		}
		if lines != nil && lines.writeAccess(&a) {
			return
		}
		// The record is made here rather than by log.LogAttrs, which
		// looks up its caller's source line (runtime.Callers) for every
		// line; the source of an access-log line says nothing.
		_ = log.Handler().Handle(ctx, a.record())
	}
}
