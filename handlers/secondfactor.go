package handlers

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/middleware"
	"simpleapi/respond"
	"simpleapi/store"
)

// Messages of the second-factor sign-in and re-authentication routes.
const (
	msgCodeOrRecoveryCode = "send code or recovery_code, not both"
)

// secondFactorRequiredJSON is the login answer for an account with a
// second factor (handlers/openapi.yaml, SecondFactorRequired): the
// password was right, and the cookie now holds a pending session.
type secondFactorRequiredJSON struct {
	Methods              []string `json:"methods"`
	SecondFactorRequired bool     `json:"second_factor_required"`
}

// reauthJSON answers a re-authentication: the session's level and when
// it was authenticated.
type reauthJSON struct {
	AAL             string  `json:"aal"`
	AuthenticatedAt *string `json:"authenticated_at"`
}

// readProof reads a second factor from body: "code" (TOTP) or
// "recovery_code", strings, at most one of them; ok is false when neither
// was sent.
func readProof(body map[string]json.RawMessage) (p auth.Proof, ok bool, err error) {
	code, err := optionalString(body, "code")
	if err != nil {
		return auth.Proof{}, false, err
	}
	recovery, err := optionalString(body, "recovery_code")
	if err != nil {
		return auth.Proof{}, false, err
	}
	code = strings.TrimSpace(code)
	switch {
	case code != "" && recovery != "":
		return auth.Proof{}, false, store.Errorf(store.EINVALID, msgCodeOrRecoveryCode)
	case code != "":
		return auth.Proof{Method: auth.MethodTOTP, Value: code}, true, nil
	case recovery != "":
		return auth.Proof{Method: auth.MethodRecoveryCode, Value: recovery}, true, nil
	}
	return auth.Proof{}, false, nil
}

// startPendingSession answers a right password for an account with a
// second factor: a pending session (AALPending, which signs nobody in and
// ends within auth.PendingLifetime) in the cookie, and the methods that
// can complete it.
func startPendingSession(c *gin.Context, d sessionDeps, user store.User, methods []string) {
	ctx := c.Request.Context()
	token, s, err := d.sessions.Start(ctx, user.ID, c.ClientIP(), c.Request.UserAgent(), store.AALPending)
	if err != nil {
		respond.Error(c, err)
		return
	}
	if err := d.cookies.Set(c, token, d.sessions.MaxAge(s)); err != nil {
		respond.Error(c, err)
		return
	}
	respond.JSON(c, http.StatusOK, secondFactorRequiredJSON{Methods: methods, SecondFactorRequired: true})
}

// handleSecondFactor completes a sign-in that a password began: the
// pending session of the cookie and a second factor. The pending session
// ends and a new one, at AAL2, takes its place (a token that existed
// before the sign-in completed never carries it).
func handleSecondFactor(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		token, present, ok := d.cookies.Token(c.Request)
		if !present {
			respond.Fail(c, store.EUNAUTHORIZED, respond.MsgUnauthorized)
			return
		}
		if !ok {
			respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
			return
		}
		pending, err := d.sessions.Lookup(ctx, token)
		if err == nil && pending.AAL != store.AALPending {
			err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden) // signed in already
		}
		if err != nil {
			respond.Error(c, err)
			return
		}
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		proof, sent, err := readProof(body)
		if err == nil && !sent {
			err = store.Errorf(store.EINVALID, auth.MsgCodeMissing)
		}
		if err != nil {
			respond.Error(c, err)
			return
		}
		user, err := d.users.UserByID(ctx, pending.UserID)
		if store.ErrorCode(err) == store.ENOTFOUND {
			err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
		}
		if err != nil {
			respond.Error(c, err)
			return
		}
		err = d.factors.Verify(ctx, user, proof, c.ClientIP())
		if wait, throttled := auth.RetryAfter(err); throttled {
			respond.TooManyRequests(c, wait)
			return
		}
		if err != nil {
			respond.Error(c, err)
			return
		}
		// Of parallel completions of one pending session, one wins.
		if err := d.sessions.Destroy(ctx, pending.ID); err != nil {
			if store.ErrorCode(err) == store.ENOTFOUND {
				err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
			}
			respond.Error(c, err)
			return
		}
		token2, s, err := d.sessions.Start(ctx, user.ID, c.ClientIP(), c.Request.UserAgent(), store.AAL2)
		if err != nil {
			respond.Error(c, err)
			return
		}
		if err := d.cookies.Set(c, token2, d.sessions.MaxAge(s)); err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventLoginSucceeded, slog.String("user_id", user.ID),
			slog.String("session_id", s.ID), slog.String("aal", store.AAL2), slog.String("method", proof.Method))
		writeUser(c, http.StatusOK, user)
	}
}

// handleReauth refreshes the current session's authentication time
// ("sudo mode") with the password and, for an account with a second
// factor, a code, without a new sign-in.
func handleReauth(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		user, _ := middleware.CurrentUser(c)
		s, _ := middleware.CurrentSession(c)
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		password, err := optionalString(body, "password")
		if err != nil {
			respond.Error(c, err)
			return
		}
		proof, sent, err := readProof(body)
		switch {
		case err != nil:
		case password == "":
			err = store.Errorf(store.EINVALID, auth.MsgPasswordMissing)
		case !sent && user.Factors.Enrolled():
			err = store.Errorf(store.EINVALID, auth.MsgCodeMissing)
		}
		if err != nil {
			respond.Error(c, err)
			return
		}
		u, err := d.login.Check(ctx, user.Email, password, c.ClientIP())
		if err == nil && u.ID != user.ID || store.ErrorCode(err) == store.ENOTFOUND {
			err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
		}
		aal := auth.AAL(s)
		if err == nil && sent {
			if err = d.factors.Verify(ctx, u, proof, c.ClientIP()); err == nil {
				aal = store.AAL2
			}
		}
		if err != nil {
			auth.Audit(ctx, d.log, slog.LevelWarn, auth.EventReauthFailed, slog.String("user_id", user.ID),
				slog.String("reason", store.ErrorMessage(err)))
			if wait, throttled := auth.RetryAfter(err); throttled {
				respond.TooManyRequests(c, wait)
				return
			}
			respond.Error(c, err)
			return
		}
		updated, err := d.sessions.Reauthenticated(ctx, s, aal)
		if err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventReauthSucceeded, slog.String("user_id", user.ID),
			slog.String("aal", aal))
		respond.JSON(c, http.StatusOK, reauthJSON{AAL: aal, AuthenticatedAt: formatTime(updated.AuthAt)})
	}
}
