package middleware

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
)

// maxRequestIDLength bounds an X-Request-ID accepted from the client.
const maxRequestIDLength = 128

// requestIDHeader is X-Request-ID in canonical form, so reading and
// writing it skips canonicalisation.
const requestIDHeader = "X-Request-Id"

// RequestID accepts a sane X-Request-ID from the client (at most 128 of
// [A-Za-z0-9._:-]) or makes one, echoes it on the response, and puts the
// request's audit details in its context.
func RequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		var id string
		if v := c.Request.Header[requestIDHeader]; len(v) > 0 && saneRequestID(v[0]) {
			id = v[0]
		} else {
			id = newRequestID()
		}
		rc := &requestContext{Context: c.Request.Context()}
		rc.info.RequestID = id
		rc.info.ClientIP = c.ClientIP() // TRUSTED_PROXIES: see newEngine
		rc.idHeader[0] = id
		c.Writer.Header()[requestIDHeader] = rc.idHeader[:]
		c.Request = c.Request.WithContext(rc)
		c.Next()
	}
}

// newRequestID returns a random UUIDv4. A request id only has to be
// unique, not secret: math/rand/v2's generator (ChaCha8, seeded from the
// operating system) is enough and far cheaper than crypto/rand.
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
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
// would cost several per request). Only the request's own handlers write
// to it (RequestID, then Pipeline), before anything reads what they wrote.
type requestContext struct {
	context.Context
	info     auth.RequestInfo
	caller   *Caller
	idHeader [1]string // the X-Request-Id header's value, saving it an allocation
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
