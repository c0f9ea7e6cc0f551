package handlers

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/metrics"
	"simpleapi/middleware"
	"simpleapi/respond"
	"simpleapi/store"
)

// sessionDeps are what the login, logout, sessions and password routes
// need. sessions and cookies are nil in basic_auth mode.
type sessionDeps struct {
	accounts      *auth.Accounts
	users         store.UserStore
	sessions      *auth.SessionManager
	cookies       *middleware.SessionCookies
	login         *auth.Login
	factors       *auth.SecondFactors
	passkeys      *auth.Passkeys // nil in basic_auth
	genericErrors bool
	maxBody       int64
	log           *slog.Logger
	metrics       *metrics.Metrics // nil records nothing
}

// sessionJSON is the session object (handlers/openapi.yaml, Session), fields in key order.
type sessionJSON struct {
	AAL        string  `json:"aal"`
	CreatedAt  *string `json:"created_at"`
	Current    bool    `json:"current"`
	ExpiresAt  *string `json:"expires_at"`
	ID         string  `json:"id"`
	IP         string  `json:"ip"`
	LastSeenAt *string `json:"last_seen_at"`
	RotatedAt  *string `json:"rotated_at"`
	UserAgent  string  `json:"user_agent"`
}

func toSessionJSONs(list []store.Session, currentID string) []sessionJSON {
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = sessionJSON{
			AAL:        auth.AAL(s),
			CreatedAt:  formatTime(s.CreatedAt),
			Current:    s.ID == currentID,
			ExpiresAt:  formatTime(s.ExpiresAt),
			ID:         s.ID,
			IP:         s.IP,
			LastSeenAt: formatTime(s.LastSeenAt),
			RotatedAt:  formatTime(s.RotatedAt),
			UserAgent:  s.UserAgent,
		}
	}
	return out
}

type revokedJSON struct {
	Revoked int `json:"revoked"`
}

// loginCredentials reads email and password from a form body (urlencoded
// or multipart) or a JSON object, trimmed of surrounding white space.
func loginCredentials(c *gin.Context, maxBody int64) (email, password string, err error) {
	mediaType, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if respond.IsJSON(c.GetHeader("Content-Type")) {
		body, err := respond.DecodeObject(c)
		if err != nil {
			return "", "", err
		}
		for _, key := range []string{"email", "password"} {
			if k := respond.Kind(body, key); k != respond.KindAbsent && k != respond.KindNull && k != respond.KindString {
				return "", "", wrongFormat
			}
		}
		email, _ = respond.String(body, "email")
		password, _ = respond.String(body, "password")
		return strings.TrimSpace(email), strings.TrimSpace(password), nil
	}
	r := c.Request
	if mediaType == "multipart/form-data" {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return "", "", store.Errorf(store.ETOOLARGE, respond.MsgTooLarge)
		}
		return "", "", wrongFormat
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	email, password = r.PostFormValue("email"), r.PostFormValue("password")
	// Text that is not UTF-8 is refused as in a JSON body.
	if !utf8.ValidString(email) || !utf8.ValidString(password) {
		return "", "", wrongFormat
	}
	return strings.TrimSpace(email), strings.TrimSpace(password), nil
}

// handleLogin signs a user in: body errors, then "email missing",
// "password missing", then the password check of auth.Login (throttled,
// unknown email, wrong password), as docs/api.md lists them.
func handleLogin(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		email, password, err := loginCredentials(c, d.maxBody)
		if err != nil {
			d.metrics.LoginAttempt(metrics.LoginInvalid)
			respond.Error(c, err)
			return
		}
		if email == "" {
			d.metrics.LoginAttempt(metrics.LoginInvalid)
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgEmailMissing))
			return
		}
		if password == "" {
			d.metrics.LoginAttempt(metrics.LoginInvalid)
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgPasswordMissing))
			return
		}
		user, err := d.login.Check(ctx, email, password, c.ClientIP())
		if err != nil {
			if code := store.ErrorCode(err); d.genericErrors && (code == store.ENOTFOUND || code == store.EUNAUTHORIZED) {
				err = store.Errorf(store.EUNAUTHORIZED, auth.MsgGenericLogin)
			}
			answerCheck(c, err)
			return
		}
		endBroughtSession(c, d)
		if methods := auth.Methods(user.Factors); len(methods) > 0 {
			startPendingSession(c, d, user, methods)
			return
		}
		s, ok := startSession(c, d, user, store.AAL1)
		if !ok {
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventLoginSucceeded,
			slog.String("user_id", user.ID), slog.String("session_id", s.ID))
		writeUser(c, http.StatusOK, user)
	}
}

// startSession starts a session for user at assurance level aal and sets
// its cookie. When it cannot, it answers the request and ok is false.
func startSession(c *gin.Context, d sessionDeps, user store.User, aal string) (s store.Session, ok bool) {
	token, s, err := d.sessions.Start(c.Request.Context(), user.ID, c.ClientIP(), c.Request.UserAgent(), aal)
	if err == nil {
		err = d.cookies.Set(c, token, d.sessions.MaxAge(s))
	}
	if err != nil {
		respond.Error(c, err)
		return store.Session{}, false
	}
	return s, true
}

// answerCheck answers the error of a credential check (a password, a
// code, a passkey): 429 with Retry-After when throttled, else as the
// error says.
func answerCheck(c *gin.Context, err error) {
	if wait, throttled := auth.RetryAfter(err); throttled {
		respond.TooManyRequests(c, wait)
		return
	}
	respond.Error(c, err)
}

// endBroughtSession ends the session whose cookie came with a sign-in
// (session fixation): a sign-in never keeps or adopts an existing token.
func endBroughtSession(c *gin.Context, d sessionDeps) {
	ctx := c.Request.Context()
	if token, _, ok := d.cookies.Token(c.Request); ok {
		if old, err := d.sessions.Lookup(ctx, token); err == nil {
			_ = d.sessions.Destroy(ctx, old.ID)
		}
	}
}

// handleLogout ends the caller's session and clears the cookie.
func handleLogout(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, _ := middleware.CurrentSession(c)
		if err := d.sessions.Destroy(c.Request.Context(), s.ID); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
			respond.Error(c, err)
			return
		}
		if err := d.cookies.Clear(c); err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(c.Request.Context(), d.log, slog.LevelInfo, auth.EventLogout,
			slog.String("user_id", s.UserID))
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// handleListMySessions lists the caller's sessions, marking the current.
func handleListMySessions(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		user, _ := middleware.CurrentUser(c)
		listSessions(c, d, user.ID)
	}
}

// listSessions answers the live sessions of userID, marking the caller's.
func listSessions(c *gin.Context, d sessionDeps, userID string) {
	current, _ := middleware.CurrentSession(c)
	list, err := d.sessions.List(c.Request.Context(), userID)
	if err != nil {
		respond.Error(c, err)
		return
	}
	respond.JSON(c, http.StatusOK, toSessionJSONs(list, current.ID))
}

// handleRevokeMySession ends one of the caller's sessions. Someone else's
// session is 404, exactly like one that does not exist.
func handleRevokeMySession(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		user, _ := middleware.CurrentUser(c)
		current, _ := middleware.CurrentSession(c)
		s, err := d.sessions.Get(ctx, c.Param("id"))
		if err != nil || s.UserID != user.ID {
			respond.Fail(c, store.ENOTFOUND, respond.MsgNotFound)
			return
		}
		if err := d.sessions.Destroy(ctx, s.ID); err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventSessionRevoked,
			slog.String("user_id", user.ID), slog.String("revoked_session_id", s.ID))
		if s.ID == current.ID {
			if err := d.cookies.Clear(c); err != nil {
				respond.Error(c, err)
				return
			}
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}

// handleRevokeMyOtherSessions ends every session of the caller but the
// current one.
func handleRevokeMyOtherSessions(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		user, _ := middleware.CurrentUser(c)
		current, _ := middleware.CurrentSession(c)
		n, err := d.sessions.EndOtherSessions(ctx, user.ID, current.ID)
		if err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventSessionRevoked,
			slog.String("user_id", user.ID), slog.String("scope", "others"), slog.Int("count", n))
		respond.JSON(c, http.StatusOK, revokedJSON{Revoked: n})
	}
}

// handleListUserSessions lists any user's sessions (admins).
func handleListUserSessions(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := targetID(c)
		if _, err := d.users.UserByID(c.Request.Context(), id); err != nil {
			respond.Error(c, err)
			return
		}
		listSessions(c, d, id)
	}
}

// handleRevokeUserSessions ends every session of any user (admins).
func handleRevokeUserSessions(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := targetID(c)
		if _, err := d.users.UserByID(ctx, id); err != nil {
			respond.Error(c, err)
			return
		}
		n, err := d.sessions.EndUserSessions(ctx, id)
		if err != nil {
			respond.Error(c, err)
			return
		}
		auth.Audit(ctx, d.log, slog.LevelInfo, auth.EventSessionRevoked,
			slog.String("user_id", id), slog.String("scope", "all"), slog.Int("count", n))
		respond.JSON(c, http.StatusOK, revokedJSON{Revoked: n})
	}
}

// handleChangePassword changes the caller's password after checking the
// current one through auth.Login (a wrong one counts as a login failure);
// on success every other session ends and the current one gets a fresh
// token.
func handleChangePassword(d sessionDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		user, _ := middleware.CurrentUser(c)
		body, err := respond.DecodeObject(c)
		if err != nil {
			respond.Error(c, err)
			return
		}
		if missing(body, "current_password") {
			respond.Error(c, store.Errorf(store.EINVALID, "current_password missing"))
			return
		}
		if missing(body, "new_password") {
			respond.Error(c, store.Errorf(store.EINVALID, "new_password missing"))
			return
		}
		current, ok1 := respond.String(body, "current_password")
		newPassword, ok2 := respond.String(body, "new_password")
		if !ok1 || !ok2 {
			respond.Error(c, wrongFormat)
			return
		}
		err = d.login.ChangePassword(ctx, user, current, newPassword, c.ClientIP())
		if err != nil {
			answerCheck(c, err)
			return
		}
		if d.sessions == nil {
			respond.JSON(c, http.StatusOK, struct{}{}) // basic_auth: no sessions to end
			return
		}
		s, _ := middleware.CurrentSession(c)
		if _, err := d.sessions.EndOtherSessions(ctx, user.ID, s.ID); err != nil {
			respond.Error(c, err)
			return
		}
		token, renewed, err := d.sessions.Renew(ctx, s)
		if err != nil {
			respond.Error(c, err)
			return
		}
		if err := d.cookies.Set(c, token, d.sessions.MaxAge(renewed)); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}
