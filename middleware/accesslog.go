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
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		ctx := c.Request.Context()
		if !log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		end := time.Now()
		elapsed := end.Sub(start)

		route := routeLabel(c, routes)
		method := c.Request.Method
		if len(method) > maxLoggedMethod {
			method = method[:maxLoggedMethod]
		}
		size := c.Writer.Size()
		if size < 0 {
			size = 0 // nothing written
		}
		var requestID, clientIP, userID string
		if info := auth.RequestInfoFrom(ctx); info != nil {
			requestID, clientIP, userID = info.RequestID, info.ClientIP, info.UserID
		} else {
			clientIP = requestClientIP(c)
		}

		// The record is made here rather than by log.LogAttrs, which
		// looks up its caller's source line (runtime.Callers) for every
		// line; the source of an access-log line says nothing.
		var buf [8]slog.Attr
		attrs := append(buf[:0],
			slog.String("method", method),
			slog.String("route", route),
			slog.Int("status", c.Writer.Status()),
			slog.Float64("duration_ms", float64(elapsed)/float64(time.Millisecond)),
			slog.Int("bytes", size),
			slog.String("client_ip", clientIP),
			slog.String("request_id", requestID),
		)
		if userID != "" {
			attrs = append(attrs, slog.String("user_id", userID))
		}
		r := slog.NewRecord(end, slog.LevelInfo, "request", 0)
		r.AddAttrs(attrs...)
		_ = log.Handler().Handle(ctx, r)
	}
}
