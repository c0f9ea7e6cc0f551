package store

import (
	"errors"
	"fmt"
)

// Application error codes. handlers maps each to an HTTP status in one
// place; everything below handlers speaks only in these codes.
const (
	EINVALID      = "invalid"      // bad input: 400
	EUNAUTHORIZED = "unauthorized" // missing or failed credentials: 401
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed: 403
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // 409
	ETOOMANY      = "too_many"     // throttled: 429
	ETOOLARGE     = "too_large"    // request body over the limit: 413
	EUNAVAILABLE  = "unavailable"  // store not reachable: 503
	EINTERNAL     = "internal"     // anything else: 500, message never shown
)

// Error is an application error: a code and a message safe to show to the
// client.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an application error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return "" // checked first: errors.As below costs an allocation
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of an application error and
// a generic one for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error"
}

// Messages shared by the stores and their callers.
const (
	MsgNotFound   = "Not found"
	MsgEmailTaken = "email already registered"
	MsgLastAdmin  = "last admin"
)
