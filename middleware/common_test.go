package middleware

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"

	"simpleapi/auth"
)

func TestRecoveryAnswersJSON500WithoutDetail(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var logs bytes.Buffer
	r := gin.New()
	r.Use(SecurityHeaders(0, nil), Recovery(slog.New(slog.NewTextHandler(&logs, nil))))
	r.GET("/api/v1/boom", func(c *gin.Context) { panic("secret internal detail") })

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/boom", nil))
	assert.Equal(t, 500, rec.Code)
	assert.Equal(t, `{"error":"Internal server error"}`, rec.Body.String())
	assert.Contains(t, rec.Header().Get("Content-Type"), "application/json")
	assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	assert.True(t, strings.Contains(logs.String(), "secret internal detail"), "the detail is logged, not sent")
}

func TestSaneRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123":                      true,
		"a.b_c:d":                      true,
		"":                             false,
		"has space":                    false,
		"new\nline":                    false,
		strings.Repeat("x", 128):       true,
		strings.Repeat("x", 129):       false,
		"<script>":                     false,
		"0123456789abcdefABCDEF-_.:09": true,
	} {
		assert.Equal(t, want, saneRequestID(id), "%q", id)
	}
}

// The header values SecurityHeaders assigns are shared by every answer: a
// handler that adds to or replaces one must not change the next answer's.
func TestSharedHeaderValuesSurviveHandlersThatChangeThem(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(SecurityHeaders(0, nil), CORS(nil))
	r.GET("/api/v1/change", func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Cache-Control", "private")
		h.Add("X-Frame-Options", "SAMEORIGIN")
		h.Set("Referrer-Policy", "origin")
		c.Status(204)
	})
	r.GET("/api/v1/plain", func(c *gin.Context) { c.Status(204) })

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/change", nil))
	assert.Equal(t, []string{"no-store", "private"}, rec.Header().Values("Cache-Control"))

	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/plain", nil))
	assert.Equal(t, []string{"no-store"}, rec.Header().Values("Cache-Control"))
	assert.Equal(t, []string{"DENY"}, rec.Header().Values("X-Frame-Options"))
	assert.Equal(t, []string{"no-referrer"}, rec.Header().Values("Referrer-Policy"))
	assert.Equal(t, []string{"*"}, rec.Header().Values("Access-Control-Allow-Origin"))
}

// Generated request ids are UUIDv4 and differ from one request to the next.
func TestRequestIDIsARandomUUIDv4(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(RequestID(r))
	r.GET("/x", func(c *gin.Context) { c.Status(204) })
	seen := map[string]bool{}
	for range 1000 {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		id := rec.Header().Get("X-Request-ID")
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
		assert.False(t, seen[id], "repeated %s", id)
		seen[id] = true
	}
}

// Pipeline keeps the caller in the context RequestID makes; without it,
// it refuses rather than serve a caller it cannot record.
func TestPipelineNeedsRequestID(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Pipeline(anyoneAuth{}, nil, auth.NewRoutes(), auth.Policy{}, nil))
	r.GET("/api/v1/x", func(c *gin.Context) { c.Status(204) })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/x", nil))
	assert.Equal(t, 500, rec.Code)
}

type anyoneAuth struct{}

func (anyoneAuth) Authenticate(*gin.Context) (*Caller, error) { return &Caller{}, nil }

// A request's audit details name its client as gin's c.ClientIP() does:
// behind a trusted proxy, the forwarded address. A context kept after the
// answer keeps its own request's client, never the next request's.
func TestRequestInfoNamesTheClient(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	assert.NoError(t, r.SetTrustedProxies([]string{"10.0.0.0/8"}))
	r.Use(RequestID(r))
	var kept context.Context
	var during string
	r.GET("/api/v1/x", func(c *gin.Context) {
		kept = c.Request.Context()
		during = auth.RequestInfoFrom(kept).ClientIP()
		c.Status(204)
	})
	get := func(peer, forwarded string) {
		req := httptest.NewRequest("GET", "/api/v1/x", nil)
		req.RemoteAddr = peer
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		r.ServeHTTP(httptest.NewRecorder(), req)
	}

	get("10.1.2.3:4000", "203.0.113.7")
	assert.Equal(t, "203.0.113.7", during, "forwarded by a trusted proxy")
	assert.Equal(t, "203.0.113.7", auth.RequestInfoFrom(kept).ClientIP(), "read again after the answer")
	get("192.0.2.8:4000", "203.0.113.7")
	assert.Equal(t, "192.0.2.8", during, "an untrusted peer's header is ignored")
	get("[2001:db8::1]:4000", "")
	assert.Equal(t, "2001:db8::1", during)

	get("192.0.2.9:4000", "")
	first := kept
	get("198.51.100.1:4000", "")
	assert.Equal(t, "198.51.100.1", during)
	assert.Equal(t, "192.0.2.9", auth.RequestInfoFrom(first).ClientIP(), "never the next request's")
	assert.NotEmpty(t, auth.RequestInfoFrom(first).RequestID)
}
