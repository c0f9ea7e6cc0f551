// Package respond is the one place where the service encodes and decodes
// JSON and turns application errors into HTTP statuses. Both handlers and
// middleware use it, so every body on the wire has the same shape.
package respond

import (
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/store"
)

// Standard error messages of the API (see handlers/openapi.yaml).
const (
	MsgUnauthorized     = "Unauthorized"
	MsgForbidden        = "Forbidden"
	MsgNotFound         = "Not found"
	MsgMethodNotAllowed = "Method not allowed"
	MsgInternal         = "Internal server error"
	MsgUnavailable      = "Service unavailable"
	MsgTooLarge         = "Request body too large"
	MsgWrongFormat      = "Wrong format"
	MsgTooManyRequests  = "Too many requests"
)

// apiCSP is the Content-Security-Policy of every answer but the account
// page's (which sets its own): JSON loads nothing and is never framed.
const apiCSP = "default-src 'none'; frame-ancestors 'none'"

// Header values shared by every answer. They are assigned, not copied, to
// the response's header map (Header().Set costs an allocation per header
// and answer); net/http only reads them, and Header().Set and Add replace
// a slice rather than write into it, so sharing them is safe. Keys are in
// canonical form.
var (
	securityHeaders = [...]struct {
		key   string
		value []string
	}{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"Referrer-Policy", []string{"no-referrer"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Content-Security-Policy", []string{apiCSP}},
	}
	jsonContentType = []string{JSONContentType}
)

// JSONContentType is the Content-Type of every JSON answer. JSON is UTF-8
// by definition (RFC 8259 defines no charset parameter), and the Flask
// service sent exactly this; each byte of an answer is paid again by every
// client that parses it.
const JSONContentType = "application/json"

// setJSONContentType marks the answer as JSON unless a handler chose
// another type. Gin's own JSON rendering keeps a Content-Type already set.
func setJSONContentType(c *gin.Context) {
	h := c.Writer.Header()
	if len(h["Content-Type"]) == 0 {
		h["Content-Type"] = jsonContentType
	}
}

// SetSecurityHeaders sets the headers every answer carries, errors
// included.
func SetSecurityHeaders(h http.Header) {
	for _, sh := range securityHeaders {
		h[sh.key] = sh.value
	}
}

// errorBody is the error object of the wire contract.
type errorBody struct {
	Error string `json:"error"`
}

// JSON writes v as compact JSON with the given status. Struct types written
// here declare their fields in alphabetical order, and maps are sorted by
// encoding/json, so keys on the wire are always sorted. The bytes of
// json.Marshal go straight to the writer: gin's c.JSON, which would do the
// same, first boxes its renderer and looks at the Content-Type again (an
// allocation and about 600 instructions per answer).
func JSON(c *gin.Context, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // a type encoding/json cannot encode: answered 500, logged
		Error(c, err)
		return
	}
	JSONBytes(c, status, body)
}

// JSONBytes writes body, JSON encoded once in advance, with the given
// status.
func JSONBytes(c *gin.Context, status int, body []byte) {
	setJSONContentType(c)
	c.Status(status)
	_, _ = c.Writer.Write(body)
}

// ENOTALLOWED is the code of a known path called with a method it does not
// serve. It exists only at the HTTP layer, so it lives here rather than
// with the application codes of package store.
const ENOTALLOWED = "method_not_allowed"

// Status maps an error code to its HTTP status. It is the only such
// mapping in the service.
func Status(code string) int {
	switch code {
	case store.EINVALID:
		return http.StatusBadRequest
	case store.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case store.EFORBIDDEN:
		return http.StatusForbidden
	case store.ENOTFOUND:
		return http.StatusNotFound
	case store.ECONFLICT:
		return http.StatusConflict
	case store.ETOOMANY:
		return http.StatusTooManyRequests
	case store.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case ENOTALLOWED:
		return http.StatusMethodNotAllowed
	case store.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error aborts the request with the status and message of err. Internal
// errors are logged with their detail and answered with a generic message.
func Error(c *gin.Context, err error) {
	code := store.ErrorCode(err)
	status := Status(code)
	msg := store.ErrorMessage(err)
	// Server errors never show their detail; the log keeps it.
	if status >= 500 {
		// A 503 is a dependency that is down or saturated, logged once
		// per request at WARN so that a storm does not flood ERROR.
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		slog.Log(c.Request.Context(), level, "request failed",
			"method", c.Request.Method, "route", c.FullPath(), "status", status, "err", err.Error())
		msg = MsgInternal
		if status == http.StatusServiceUnavailable {
			msg = MsgUnavailable
			// Outages and saturated password hashing are usually brief:
			// well-behaved clients come back after a short pause.
			if c.Writer.Header().Get("Retry-After") == "" {
				SetRetryAfter(c, unavailableRetry)
			}
		}
	}
	setJSONContentType(c)
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

// Fail ends the request with the status of code and msg as the error.
func Fail(c *gin.Context, code, msg string) {
	setJSONContentType(c)
	c.AbortWithStatusJSON(Status(code), errorBody{Error: msg})
}

// TooManyRequests answers a throttled attempt: 429 with Retry-After.
func TooManyRequests(c *gin.Context, wait time.Duration) {
	SetRetryAfter(c, wait)
	Fail(c, store.ETOOMANY, MsgTooManyRequests)
}

// unavailableRetry is the Retry-After of a 503.
const unavailableRetry = 2 * time.Second

// SetRetryAfter sets Retry-After to wait in whole seconds, at least 1.
func SetRetryAfter(c *gin.Context, wait time.Duration) {
	c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
}
