package tests

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Signing in through the page's form gives an HttpOnly cookie that the
// page's scripts cannot read, survives a reload, and signing out removes
// it in the browser and ends the session on the server.
func TestBrowserSignInReloadSignOut(t *testing.T) {
	s, ts := newBrowserServer(t)
	b := newBrowser(t)

	b.do(chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible("#signin-form"))
	b.screenshot("signin")

	// A wrong password shows the API's own message.
	b.do(
		chromedp.SendKeys(`#signin-form input[name="email"]`, adminEmail),
		chromedp.SendKeys(`#signin-form input[name="password"]`, "not-the-password"),
		chromedp.Click(`#signin-form button[type="submit"]`),
		chromedp.WaitVisible("#message"),
	)
	assert.Equal(t, "wrong password", b.text("#message"))

	b.signIn(ts.URL, adminEmail, adminPassword)
	assert.Equal(t, adminEmail, b.text("#profile-email"))
	b.do(chromedp.WaitVisible("#admin-view"), chromedp.WaitVisible("#sessions tbody tr.current"))

	cookie := b.sessionCookie(ts.URL)
	require.NotNil(t, cookie, "the browser keeps the session cookie")
	assert.True(t, cookie.HTTPOnly)
	assert.Equal(t, "Lax", string(cookie.SameSite))
	docCookie := evalJS[string](b, "document.cookie")
	assert.NotContains(t, docCookie, "_my_session_id", "scripts cannot read the session cookie")

	b.do(chromedp.Reload(), chromedp.WaitVisible("#account-view"))
	assert.Equal(t, adminEmail, b.text("#whoami"), "a reload stays signed in")
	assert.Equal(t, http.StatusOK, b.fetchStatus("GET", "/api/v1/users/me"))

	b.do(chromedp.Click("#signout"), chromedp.WaitVisible("#signin-form"))
	assert.Nil(t, b.sessionCookie(ts.URL), "signing out removes the cookie from the browser")
	assert.Equal(t, http.StatusUnauthorized, b.fetchStatus("GET", "/api/v1/users/me"))
	n, err := s.app.SessionStore().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "the session ended on the server")
	assert.Empty(t, b.dialogsOpened())
	assert.Equal(t, []int{200}, s.requestStatuses("DELETE", "/api/v1/auth_session/logout"))
}
