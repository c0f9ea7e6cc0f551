package tests

import (
	"net/http"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/auth"
)

// The account page lists the caller's access tokens, creates one (after
// a fresh confirmation once the sign-in is old), shows its secret once
// with a copy button, and revokes tokens.
func TestBrowserAccessTokens(t *testing.T) {
	s, ts := newBrowserServer(t)
	b := newBrowser(t)
	// The page may write and (for this test) read the clipboard.
	for _, name := range []string{"clipboard-write", "clipboard-read"} {
		_, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: ts.URL})
		require.NoError(t, err)
	}
	b.signIn(ts.URL, adminEmail, adminPassword)
	b.do(chromedp.WaitVisible("#tokens-none"))

	// Creating a token is a change that needs a recent sign-in.
	s.clock.Advance(301)
	b.submitForm("#token-form", map[string]string{"name": "CI", "scope": "write", "expires_in_days": "30"})
	b.do(chromedp.WaitVisible("#reauth-view"))
	b.submitForm("#reauth-form", map[string]string{"password": adminPassword})
	assert.Equal(t, "Token CI created: copy it now", b.message(true))
	b.do(chromedp.WaitVisible("#token-new"), chromedp.WaitVisible(`#tokens tbody tr`))
	secret := b.text("#token-secret")
	require.Regexp(t, tokenPattern, secret)
	assert.Equal(t, "CI", b.text("#token-new-name"))

	// The copy button puts it on the clipboard.
	b.click("#token-copy")
	assert.Equal(t, "Token copied", b.message(true))
	assert.Equal(t, secret, evalJS[string](b, `navigator.clipboard.readText()`))

	// It works, as the admin, and the page shows its use after a reload,
	// without the secret.
	rec := s.do("GET", "/api/v1/users/me", "", bearer(secret))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), adminEmail)
	b.do(chromedp.Reload(), chromedp.WaitVisible(`#tokens tbody tr`))
	row := b.text("#tokens tbody tr")
	for _, want := range []string{"CI", "read and write", "2026-02-01 03:09:06 UTC", "from 192.0.2.1"} {
		assert.Contains(t, row, want)
	}
	assert.NotContains(t, b.text("body"), secret, "shown only once")
	assert.False(t, evalJS[bool](b, `!document.querySelector("#token-new").hidden`))

	// A read-only token, then both revoked from the page.
	b.submitForm("#token-form", map[string]string{"name": "reports", "scope": "read", "expires_in_days": "1"})
	assert.Equal(t, "Token reports created: copy it now", b.message(true))
	readSecret := b.text("#token-secret")
	assertError(t, s.do("PUT", "/api/v1/users/me", `{"first_name":"X"}`, bearer(readSecret)), 403, auth.MsgReadOnlyToken)
	b.do(chromedp.WaitVisible(`#tokens tbody tr:nth-child(2)`))
	assert.Contains(t, b.text("#tokens tbody tr:nth-child(2)"), "read only")
	b.click(`#tokens tbody tr:first-child button`)
	assert.Equal(t, "Token CI revoked", b.message(true))
	assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(secret)), 401, auth.MsgInvalidToken)
	// The message comes before the list is drawn again: wait for the
	// revoked row to go, or the click below may land on it.
	b.do(chromedp.WaitNotPresent(`#tokens tbody tr:nth-child(2)`))
	b.click(`#tokens tbody tr:first-child button`)
	assert.Equal(t, "Token reports revoked", b.message(true))
	b.do(chromedp.WaitVisible("#tokens-none"))
	assertError(t, s.do("GET", "/api/v1/users/me", "", bearer(readSecret)), 401, auth.MsgInvalidToken)

	// A refusal shows the API's own message.
	b.submitForm("#token-form", map[string]string{"name": "   ", "scope": "read", "expires_in_days": "5"})
	assert.Equal(t, auth.MsgTokenName, b.message(false))

	// Signing out forgets the token shown.
	b.submitForm("#token-form", map[string]string{"name": "last", "scope": "read", "expires_in_days": "5"})
	assert.Equal(t, "Token last created: copy it now", b.message(true))
	b.click("#signout")
	b.do(chromedp.WaitVisible("#signin-form"))
	assert.Empty(t, evalJS[string](b, `document.querySelector("#token-secret").textContent`))
	assert.Empty(t, b.dialogsOpened())
}
