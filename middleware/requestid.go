package middleware

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"simpleapi/auth"
)

// maxRequestIDLength bounds an X-Request-ID accepted from the client.
const maxRequestIDLength = 128

// requestIDHeader is X-Request-ID in canonical form, so reading and
// writing it skips canonicalisation.
const requestIDHeader = "X-Request-Id"

// RequestID accepts a sane X-Request-ID from the client (at most 128 of
// [A-Za-z0-9._:-]) or makes one, echoes it on the response, and puts the
// request's audit details in its context. engine is the one serving the
// requests, whose trusted proxies name their clients.
func RequestID(engine *gin.Engine) gin.HandlerFunc {
	return func(c *gin.Context) {
		var id string
		if v := c.Request.Header[requestIDHeader]; len(v) > 0 && saneRequestID(v[0]) {
			id = v[0]
		} else {
			id = uuid.NewString() // a random UUIDv4
		}
		rc := &requestContext{Context: c.Request.Context(), engine: engine, req: c.Request}
		rc.info.RequestID = id
		rc.info.ClientIP = rc.clientIP
		rc.idHeader[0] = id
		c.Writer.Header()[requestIDHeader] = rc.idHeader[:]
		c.Request = c.Request.WithContext(rc)
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

// requestContext is the context of every request: it carries the
// request's audit details and, once the pipeline has authenticated it,
// its caller, in one allocation (context.WithValue and gin's Context.Set
// would cost several per request). Only RequestID and Pipeline write to
// it, on the goroutine serving the request; Value only reads.
type requestContext struct {
	context.Context
	info     auth.RequestInfo
	caller   *Caller
	idHeader [1]string // the X-Request-Id header's value, saving it an allocation
	engine   *gin.Engine
	req      *http.Request // the request as RequestID received it
}

// clientIP is gin's c.ClientIP() for the request (TRUSTED_PROXIES: see
// newEngine), worked out each time it is asked for: most requests never
// ask (the access log, when it writes, asks gin itself). It reads no gin
// context of the request, which gin reuses for another request once this
// one is answered, but one of its own: gin.CreateTestContextOnly is, its
// name notwithstanding, gin's way to make a fresh context of an engine.
func (rc *requestContext) clientIP() string {
	c := gin.CreateTestContextOnly(nil, rc.engine)
	c.Request = rc.req
	return c.ClientIP()
}

type requestContextKey struct{}

func (rc *requestContext) Value(key any) any {
	switch key {
	case auth.RequestInfoKey:
		return &rc.info
	case requestContextKey{}:
		return rc
	}
	return rc.Context.Value(key)
}

// requestContextOf returns the request's requestContext, or nil outside
// RequestID.
func requestContextOf(c *gin.Context) *requestContext {
	rc, _ := c.Request.Context().Value(requestContextKey{}).(*requestContext)
	return rc
}
