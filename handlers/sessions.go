package handlers

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"simpleapi/auth"
	"simpleapi/handlers/respond"
	"simpleapi/middleware"
	"simpleapi/store"
)

// loginCredentials reads email and password from a form body (urlencoded
// or multipart) or a JSON object, trimmed of surrounding white space.
func loginCredentials(c *gin.Context, maxBody int64) (email, password string, err error) {
	mediaType, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mediaType == "application/json" {
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
	return strings.TrimSpace(r.PostFormValue("email")), strings.TrimSpace(r.PostFormValue("password")), nil
}

// loginDeps are what the login and logout routes need.
type loginDeps struct {
	accounts      *auth.Accounts
	sessions      *auth.SessionManager
	cookies       *middleware.SessionCookies
	genericErrors bool
	maxBody       int64
}

// handleLogin answers SPEC 4.2 in its order of errors.
func handleLogin(d loginDeps) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		email, password, err := loginCredentials(c, d.maxBody)
		if err != nil {
			respond.Error(c, err)
			return
		}
		if email == "" {
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgEmailMissing))
			return
		}
		if password == "" {
			respond.Error(c, store.Errorf(store.EINVALID, auth.MsgPasswordMissing))
			return
		}
		user, err := d.accounts.Authenticate(ctx, email, password)
		if err != nil {
			code := store.ErrorCode(err)
			if d.genericErrors && (code == store.ENOTFOUND || code == store.EUNAUTHORIZED) {
				err = store.Errorf(store.EUNAUTHORIZED, auth.MsgGenericLogin)
			}
			respond.Error(c, err)
			return
		}
		// Session fixation: a session the client brought is ended, never
		// adopted.
		if token, _, ok := d.cookies.Token(c.Request); ok {
			if old, err := d.sessions.Lookup(ctx, token); err == nil {
				_ = d.sessions.Destroy(ctx, old.ID)
			}
		}
		token, s, err := d.sessions.Create(ctx, user.ID, c.ClientIP(), c.Request.UserAgent())
		if err != nil {
			respond.Error(c, err)
			return
		}
		if err := d.cookies.Set(c, token, d.sessions.MaxAge(s)); err != nil {
			respond.Error(c, err)
			return
		}
		respond.JSON(c, http.StatusOK, toUserJSON(user))
	}
}

// handleLogout ends the caller's session and clears the cookie.
func handleLogout(d loginDeps) gin.HandlerFunc {
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
		respond.JSON(c, http.StatusOK, struct{}{})
	}
}
