package middleware

import (
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"simpleapi/auth"
)

// maxRequestIDLength bounds an X-Request-ID accepted from the client.
const maxRequestIDLength = 128

// RequestID accepts a sane X-Request-ID from the client (at most 128 of
// [A-Za-z0-9._:-]) or makes one, echoes it on the response, and puts the
// request's audit details in its context.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		c.Writer.Header().Set("X-Request-ID", id)
		info := &auth.RequestInfo{RequestID: id, ClientIP: c.ClientIP()}
		c.Request = c.Request.WithContext(auth.WithRequestInfo(c.Request.Context(), info))
		c.Next()
	}
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9',
			ch == '.', ch == '_', ch == ':', ch == '-':
		default:
			return false
		}
	}
	return true
}
