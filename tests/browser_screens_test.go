package tests

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The three views of the page, as screenshots in the test's artifact
// directory (go test -artifacts=DIR keeps them; docs/ holds copies).
func TestBrowserScreenshots(t *testing.T) {
	s, ts := newBrowserServer(t)
	admin := withCookie(s.adminCookie())
	for _, body := range []string{
		`{"email":"ada@example.com","password":"` + userPassword + `","first_name":"Ada","last_name":"Lovelace"}`,
		`{"email":"grace@example.com","password":"` + userPassword + `","first_name":"Grace","last_name":"Hopper","role":"admin"}`,
	} {
		rec := s.do("POST", "/api/v1/users", body, admin)
		require.Equal(t, 201, rec.Code, rec.Body.String())
	}
	// A second session of Ada's, from another device.
	s.login("ada@example.com", userPassword, header("User-Agent", "curl/8.5.0"), remoteAddr("192.0.2.7:41000"))
	// And an access token of hers, used once by a script.
	adaCookie := withCookie(s.sessionCookie("ada@example.com", userPassword))
	ada := s.createToken(adaCookie, "CI pipeline", "read", 90)
	require.Equal(t, 200, s.do("DELETE", "/api/v1/auth_session/logout", "", adaCookie).Code)
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", bearer(ada.Token), remoteAddr("198.51.100.4:50000")).Code)

	b := newBrowser(t)
	b.do(chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible("#signin-form"))
	b.screenshot("signin")

	b.signIn(ts.URL, "ada@example.com", userPassword)
	b.do(chromedp.WaitVisible("#sessions tbody tr.current"))
	assert.Equal(t, 2, evalJS[int](b, `document.querySelectorAll("#sessions tbody tr").length`))
	assert.Equal(t, 1, evalJS[int](b, `document.querySelectorAll("#tokens tbody tr").length`))
	assert.False(t, evalJS[bool](b, `!document.querySelector("#admin-view").hidden`), "no users list for a user")
	b.screenshot("account")
	b.do(chromedp.Click("#signout"), chromedp.WaitVisible("#signin-form"))

	b.signIn(ts.URL, adminEmail, adminPassword)
	b.do(chromedp.WaitVisible("#admin-view"), chromedp.WaitVisible(`#users tbody tr:nth-child(3)`))
	b.screenshot("admin")
}
