package middleware

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
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
