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
	if _, ok := startSession(c, d, user, store.AALPending); !ok {
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
		pending, ok := pendingSignIn(c, d)
		if !ok {
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
		user, ok := pendingUser(c, d, pending)
		if !ok {
			return
		}
		err = d.factors.Verify(ctx, user, proof, c.ClientIP())
		if err != nil {
			answerCheck(c, err)
			return
		}
		completeSignIn(c, d, pending, user, proof.Method)
	}
}

// pendingSignIn returns the pending session of the request's cookie: a
// sign-in whose password was right and whose second factor is due. When
// there is none it answers the request (401 without a cookie, 403 for a
// cookie without a live pending session) and ok is false.
func pendingSignIn(c *gin.Context, d sessionDeps) (pending store.Session, ok bool) {
	token, present, valid := d.cookies.Token(c.Request)
	if !present {
		respond.Fail(c, store.EUNAUTHORIZED, respond.MsgUnauthorized)
		return store.Session{}, false
	}
	if !valid {
		respond.Fail(c, store.EFORBIDDEN, respond.MsgForbidden)
		return store.Session{}, false
	}
	pending, err := d.sessions.Lookup(c.Request.Context(), token)
	if err == nil && pending.AAL != store.AALPending {
		err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden) // signed in already
	}
	if err != nil {
		respond.Error(c, err)
		return store.Session{}, false
	}
	return pending, true
}

// pendingUser returns the user of a pending sign-in, read fresh; when the
// account is gone it answers 403 and ok is false.
func pendingUser(c *gin.Context, d sessionDeps, pending store.Session) (store.User, bool) {
	user, err := d.users.UserByID(c.Request.Context(), pending.UserID)
	if store.ErrorCode(err) == store.ENOTFOUND {
		err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
	}
	if err != nil {
		respond.Error(c, err)
		return store.User{}, false
	}
	return user, true
}

// completeSignIn ends a pending sign-in whose second factor (method) was
// right: the pending session ends and a new one at AAL2 starts, whose
// cookie and user are the answer.
func completeSignIn(c *gin.Context, d sessionDeps, pending store.Session, user store.User, method string) {
	ctx := c.Request.Context()
	// Of parallel completions of one pending session, one wins.
	if err := d.sessions.Destroy(ctx, pending.ID); err != nil {
		if store.ErrorCode(err) == store.ENOTFOUND {
			err = store.Errorf(store.EFORBIDDEN, respond.MsgForbidden)
		}
		respond.Error(c, err)
		return
	}
	startSignedIn(c, d, user, method)
}

// startSignedIn starts a session at AAL2 for user, signed in with method
// (a second factor, or a passkey alone), and answers its cookie and the
// user.
func startSignedIn(c *gin.Context, d sessionDeps, user store.User, method string) {
	s, ok := startSession(c, d, user, store.AAL2)
	if !ok {
		return
	}
	auth.Audit(c.Request.Context(), d.log, slog.LevelInfo, auth.EventLoginSucceeded, slog.String("user_id", user.ID),
		slog.String("session_id", s.ID), slog.String("aal", store.AAL2), slog.String("method", method))
	writeUser(c, http.StatusOK, user)
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
		case !sent && user.Factors.Enrolled() && !hasCodeFactor(user.Factors):
			// Passkeys alone: the password is not enough, and there is no
			// code to send (POST /auth_session/reauth/passkey/begin).
			err = store.Errorf(store.EINVALID, auth.MsgReauthWithPasskey)
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
			answerCheck(c, err)
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

// hasCodeFactor reports whether an account with factors f can send a code
// (TOTP or a recovery code) to re-authenticate.
func hasCodeFactor(f store.Factors) bool {
	for _, m := range auth.Methods(f) {
		if m == auth.MethodTOTP || m == auth.MethodRecoveryCode {
			return true
		}
	}
	return false
}
