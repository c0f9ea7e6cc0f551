package tests

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// message waits for the page's message and returns its text.
func (b *browser) message(ok bool) string {
	b.t.Helper()
	sel := "#message:not(.ok)"
	if ok {
		sel = "#message.ok"
	}
	b.do(chromedp.WaitVisible(sel))
	return b.text("#message")
}

// submitForm fills the named fields of a form and submits it.
func (b *browser) submitForm(form string, fields map[string]string) {
	b.t.Helper()
	// The message of the previous action is cleared, so that the next
	// wait sees this action's.
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#message").hidden = true`))
	for name, value := range fields {
		b.do(chromedp.SetValue(form+` [name="`+name+`"]`, value))
	}
	b.do(chromedp.Click(form + ` button[type="submit"]`))
}

// click clicks a button after hiding the previous message.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#message").hidden = true`), chromedp.Click(sel))
}

// The page's forms and buttons do what they say, and every refusal shows
// the API's own message.
func TestBrowserAccountAndAdminActions(t *testing.T) {
	s, ts := newBrowserServer(t)
	b := newBrowser(t)
	b.signIn(ts.URL, adminEmail, adminPassword)
	elsewhere := s.adminCookie() // the admin's second session

	// Users: create, with the API's refusals shown as written.
	b.submitForm("#create-form", map[string]string{"email": "ada@example.com", "password": userPassword,
		"first_name": "Ada", "last_name": "Lovelace"})
	assert.Equal(t, "ada@example.com created", b.message(true))
	b.submitForm("#create-form", map[string]string{"email": "ADA@example.com", "password": userPassword})
	assert.Equal(t, "email already registered", b.message(false))
	b.submitForm("#create-form", map[string]string{"email": "bob@example.com", "password": "short"})
	assert.Equal(t, "password too short", b.message(false))
	ada := s.userByEmailAsCookieAdmin(t, "ada@example.com")
	assert.Equal(t, "Ada", *ada.FirstName)
	row := `#users tbody tr[data-id="` + ada.ID + `"]`
	b.do(chromedp.WaitVisible(row))

	// Change role, end sessions, delete.
	adaCookie := s.sessionCookie("ada@example.com", userPassword)
	b.do(chromedp.SetValue(row+" select", "admin"))
	b.click(row + " button:nth-child(1)")
	assert.Equal(t, "Role of ada@example.com is now admin", b.message(true))
	assert.Equal(t, "admin", s.userByEmailAsCookieAdmin(t, "ada@example.com").Role)
	adaCookie = s.sessionCookie("ada@example.com", userPassword) // the role change ended her session
	b.click(row + " button:nth-child(2)")
	assert.Equal(t, "Sessions of ada@example.com ended", b.message(true))
	assert.Equal(t, http.StatusForbidden, s.do("GET", "/api/v1/users/me", "", withCookie(adaCookie)).Code)
	b.click(row + " button:nth-child(3)")
	assert.Equal(t, "ada@example.com deleted", b.message(true))
	b.do(chromedp.WaitNotPresent(row))
	assert.Equal(t, http.StatusNotFound, s.do("GET", "/api/v1/users/"+ada.ID, "", withCookie(elsewhere)).Code)

	// The last admin cannot demote itself.
	me := `#users tbody tr:first-child`
	b.do(chromedp.SetValue(me+" select", "user"))
	b.click(me + " button:nth-child(1)")
	assert.Equal(t, "last admin", b.message(false))

	// Profile.
	b.submitForm("#profile-form", map[string]string{"first_name": "Grace", "last_name": "Hopper"})
	assert.Equal(t, "Profile saved", b.message(true))
	assert.Equal(t, "Grace", *s.userByEmailAsCookieAdmin(t, adminEmail).FirstName)

	// Password change: the API's refusal, then success, which ends the
	// other sessions and keeps this one.
	b.submitForm("#password-form", map[string]string{"current_password": "not-it", "new_password": "new-password-1"})
	assert.Equal(t, "wrong password", b.message(false))
	b.submitForm("#password-form", map[string]string{"current_password": adminPassword, "new_password": "new-password-1"})
	assert.Equal(t, "Password changed; your other sessions were signed out", b.message(true))
	assert.Equal(t, http.StatusForbidden, s.do("GET", "/api/v1/users/me", "", withCookie(elsewhere)).Code)
	assert.Equal(t, http.StatusOK, b.fetchStatus("GET", "/api/v1/users/me"))

	// Sessions: sign out everywhere else, then this one.
	s.login(adminEmail, "new-password-1")
	s.login(adminEmail, "new-password-1")
	b.do(chromedp.Reload(), chromedp.WaitVisible(`#sessions tbody tr:nth-child(3)`))
	b.click("#signout-others")
	assert.Equal(t, "Signed out of 2 other session(s)", b.message(true))
	b.do(chromedp.WaitNotPresent(`#sessions tbody tr:nth-child(2)`)) // the list is reloaded after the message
	b.click("#sessions tbody tr.current button")
	assert.Equal(t, "Signed out", b.message(true))
	b.do(chromedp.WaitVisible("#signin-form"))
	assert.Nil(t, b.sessionCookie(ts.URL))
	n, err := s.app.SessionStore().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, b.dialogsOpened())
}

// In basic_auth mode the page says that sessions are off and calls
// nothing.
func TestBrowserBasicAuthPage(t *testing.T) {
	s := newServer(t)
	ts := s.listen()
	b := newBrowser(t)
	b.do(chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible("#sessions-off"))
	assert.Equal(t, "Sessions are off", b.text("#sessions-off h2"))
	assert.Empty(t, s.requestStatuses("GET", "/api/v1/users/me"), "the page asks the API nothing")
}
