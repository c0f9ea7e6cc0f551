package auth

import (
	"context"
	"log/slog"
)

// RequestInfo is what the audit log says about the request an event came
// from. The HTTP layer puts one in each request's context and fills in the
// user and session once they are known.
type RequestInfo struct {
	RequestID string
	// ClientIP works out the client's address from the request each time
	// it is called (most requests never ask); nil names none.
	ClientIP  func() string
	UserID    string // the authenticated caller, if any
	SessionID string // public id of the caller's session, if any
}

type requestInfoKey struct{}

// RequestInfoKey is the context key of a *RequestInfo. WithRequestInfo
// uses it; a context type that carries its RequestInfo itself (to save an
// allocation per request) answers Value(RequestInfoKey) with a pointer to
// it.
var RequestInfoKey any = requestInfoKey{}

// WithRequestInfo returns ctx carrying info.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, RequestInfoKey, info)
}

// RequestInfoFrom returns the request info of ctx, or nil.
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(RequestInfoKey).(*RequestInfo)
	return info
}

// Audit events. Each is one log line at level INFO (failures at WARN) with
// "audit"=true and "event" set to one of these.
const (
	EventLoginSucceeded  = "login_succeeded"
	EventLoginFailed     = "login_failed"
	EventLogout          = "logout"
	EventSessionRevoked  = "session_revoked"
	EventPasswordChanged = "password_changed"
	EventUserCreated     = "user_created"
	EventUserDeleted     = "user_deleted"
	EventUserRoleChanged = "user_role_changed"
	// EventSessionTokenReused: a session's replaced token came back after
	// its grace period; the session was ended.
	EventSessionTokenReused = "session_token_reused"

	// Second factors. The events name the method ("totp",
	// "recovery_code", "passkey"), never a secret or a code.
	EventTOTPEnrolmentStarted  = "totp_enrolment_started"
	EventTOTPEnrolled          = "totp_enrolled"
	EventTOTPRemoved           = "totp_removed"
	EventRecoveryCodesCreated  = "recovery_codes_created"
	EventRecoveryCodeUsed      = "recovery_code_used"
	EventSecondFactorSucceeded = "second_factor_succeeded"
	EventSecondFactorFailed    = "second_factor_failed"
	EventSecondFactorsRemoved  = "second_factors_removed" // by an admin
	EventReauthSucceeded       = "reauth_succeeded"
	EventReauthFailed          = "reauth_failed"

	// Passkeys. A passkey is named by its credential id (base64url), as
	// the API names it. A sign-in by passkey alone is login_succeeded or
	// login_failed with "method"="passkey"; its use as a second factor or
	// to re-authenticate is second_factor_succeeded or _failed.
	EventPasskeyRegistered         = "passkey_registered"
	EventPasskeyRegistrationFailed = "passkey_registration_failed"
	EventPasskeyRemoved            = "passkey_removed"
	// EventPasskeySignCountRegressed: a passkey's signature counter did
	// not increase, a sign that it was copied; the use was refused.
	EventPasskeySignCountRegressed = "passkey_sign_count_regressed"
)

// Audit writes one audit event with the request's id, client address,
// caller and session. It never receives a password, token or cookie, so it
// cannot log one.
func Audit(ctx context.Context, log *slog.Logger, level slog.Level, event string, attrs ...slog.Attr) {
	if log == nil {
		log = slog.Default()
	}
	all := make([]slog.Attr, 0, len(attrs)+6)
	all = append(all, slog.Bool("audit", true), slog.String("event", event))
	if info := RequestInfoFrom(ctx); info != nil {
		var clientIP string
		if info.ClientIP != nil {
			clientIP = info.ClientIP()
		}
		all = append(all,
			slog.String("request_id", info.RequestID),
			slog.String("client_ip", clientIP))
		if info.UserID != "" {
			all = append(all, slog.String("actor_id", info.UserID))
		}
		if info.SessionID != "" {
			all = append(all, slog.String("session_id", info.SessionID))
		}
	}
	all = append(all, attrs...)
	log.LogAttrs(ctx, level, event, all...)
}
