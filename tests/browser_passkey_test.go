package tests

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
	"simpleapi/store/postgres/pgtest"
)

// Passkeys in Chromium, with the DevTools WebAuthn virtual authenticator
// standing in for a platform authenticator: discoverable credentials,
// user verification that succeeds, presence simulated. The page must be
// on localhost (the default RP id) and its origin among WEBAUTHN_ORIGINS:
// the servers listen on a port chosen first, and API_PORT says which, so
// that the default origin http://localhost:<port> is the page's.

// addAuthenticator gives the browser's page a virtual platform
// authenticator and returns its id.
func (b *browser) addAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	_, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{})
	require.NoError(b.t, err)
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	require.NoError(b.t, err)
	return res.AuthenticatorID
}

// credentials lists what the virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	require.NoError(b.t, err)
	return res.Credentials
}

// localhostListener reserves a port on 127.0.0.1; the page is served
// there as http://localhost:<port>.
func localhostListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// serveOn serves h on ln until the test ends and returns the page's base
// URL, on localhost.
func serveOn(t *testing.T, ln net.Listener, port string, h http.Handler) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	_ = ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return "http://localhost:" + port
}

// newPasskeyBrowserServer starts a session-mode server whose page is at
// the returned http://localhost:<port>.
func newPasskeyBrowserServer(t *testing.T, kv ...string) (*server, string) {
	t.Helper()
	ln, port := localhostListener(t)
	s := newSessionServer(t, append(kv, "API_PORT", port)...)
	return s, serveOn(t, ln, port, s.handler)
}

// cookie is the browser's session cookie as the test's requests
// send it.
func (b *browser) cookie(base string) *http.Cookie {
	b.t.Helper()
	c := b.sessionCookie(base)
	require.NotNil(b.t, c, "no session cookie")
	return &http.Cookie{Name: c.Name, Value: c.Value}
}

// From the account page: add a passkey, sign out, sign in with it alone,
// use it as the second factor after a password, see a copied one (its
// counter behind) refused, and remove it.
func TestBrowserPasskeys(t *testing.T) {
	s, base := newPasskeyBrowserServer(t)
	s.newUserCookie("ada@example.com")
	ada := s.userByEmailAsCookieAdmin(t, "ada@example.com")
	b := newBrowser(t)
	authenticator := b.addAuthenticator()

	b.signIn(base, "ada@example.com", userPassword)
	b.do(chromedp.WaitVisible("#passkeys-none"))
	assert.Equal(t, "Add a passkey", b.text(`#passkey-form button[type="submit"]`))
	b.submitForm("#passkey-form", map[string]string{"name": "Laptop"})
	assert.Equal(t, "Passkey Laptop added", b.message(true))
	row := `#passkeys tbody tr:first-child`
	b.do(chromedp.WaitVisible(row))
	assert.Equal(t, "Laptop", b.text(row+" td:nth-child(1)"))
	assert.Equal(t, "2026-01-02 03:04:05 UTC", b.text(row+" td:nth-child(2)"))
	assert.Equal(t, "never", b.text(row+" td:nth-child(3)"))
	creds := b.credentials(authenticator)
	require.Len(t, creds, 1)
	assert.True(t, creds[0].IsResidentCredential, "a discoverable credential")
	assert.Equal(t, ada.ID, string(creds[0].UserHandle), "the user handle is the user id")
	assert.Equal(t, "localhost", creds[0].RpID)
	b.screenshot("passkeys")

	// Signed out, the passkey alone signs in, at aal2.
	b.click("#signout")
	b.do(chromedp.WaitVisible("#passkey-signin"))
	assert.Equal(t, "Sign in with a passkey", b.text("#passkey-signin"))
	b.click("#passkey-signin")
	b.do(chromedp.WaitVisible("#account-view"), chromedp.WaitVisible(row))
	assert.Equal(t, "ada@example.com", b.text("#whoami"))
	assert.Equal(t, "aal2", s.sessionAAL(b.cookie(base)))
	assert.Equal(t, "2026-01-02 03:04:05 UTC", b.text(row+" td:nth-child(3)"), "last used")

	// After the password, the passkey is the second factor.
	b.click("#signout")
	b.enterPassword("ada@example.com", userPassword)
	b.do(chromedp.WaitVisible("#second-factor-passkey"))
	assert.False(t, evalJS[bool](b, `!document.querySelector("#second-factor-form").hidden`), "no code to type")
	assert.False(t, evalJS[bool](b, `!document.querySelector("#message").hidden`), "the last message is gone")
	b.screenshot("second-factor")
	b.click("#second-factor-passkey")
	b.do(chromedp.WaitVisible("#account-view"))
	assert.Equal(t, "aal2", s.sessionAAL(b.cookie(base)))

	// A copy of the passkey whose counter is behind the one stored.
	_, err := s.app.Users().UpdateUser(t.Context(), ada.ID, func(u *store.User) error {
		u.Factors.Passkeys[0].SignCount += 1000
		return nil
	})
	require.NoError(t, err)
	b.click("#signout")
	b.do(chromedp.WaitVisible("#passkey-signin"))
	b.click("#passkey-signin")
	assert.Equal(t, "passkey not accepted", b.message(false))
	require.Len(t, s.auditEvents("passkey_sign_count_regressed"), 1)
	_, err = s.app.Users().UpdateUser(t.Context(), ada.ID, func(u *store.User) error {
		u.Factors.Passkeys[0].SignCount = 0
		return nil
	})
	require.NoError(t, err)

	// Removed, the passkey signs nobody in, though the device keeps it.
	b.click("#passkey-signin")
	b.do(chromedp.WaitVisible("#account-view"), chromedp.WaitVisible(row))
	b.click(row + " button.danger")
	assert.Equal(t, "Passkey Laptop removed", b.message(true))
	b.do(chromedp.WaitVisible("#passkeys-none"))
	b.click("#signout")
	b.do(chromedp.WaitVisible("#passkey-signin"))
	b.click("#passkey-signin")
	assert.Equal(t, "passkey not accepted", b.message(false))
	assert.Len(t, b.credentials(authenticator), 1)
	assert.Empty(t, b.dialogsOpened())
}

// A change that needs a recent sign-in asks for one: the passkey confirms
// it, and the change goes through.
func TestBrowserPasskeyReauthentication(t *testing.T) {
	s, base := newPasskeyBrowserServer(t)
	s.newUserCookie("ada@example.com")
	b := newBrowser(t)
	b.addAuthenticator()
	b.signIn(base, "ada@example.com", userPassword)
	b.submitForm("#passkey-form", map[string]string{"name": "Laptop"})
	assert.Equal(t, "Passkey Laptop added", b.message(true))

	s.clock.Advance(600) // past REAUTH_MAX_AGE
	b.submitForm("#passkey-form", map[string]string{"name": "Phone"})
	b.do(chromedp.WaitVisible("#reauth-passkey"))
	assert.False(t, evalJS[bool](b, `!document.querySelector("#reauth-form").hidden`),
		"with passkeys alone, a password cannot confirm")
	b.click("#reauth-passkey")
	// The virtual authenticator excludes itself from a second passkey of
	// the same account, as a real one does; the page says so.
	assert.Equal(t, "This device already has a passkey for this account", b.message(false))
	assert.False(t, evalJS[bool](b, `!document.querySelector("#reauth-view").hidden`), "confirmed")
	assert.Equal(t, []int{403, 200}, s.requestStatuses("POST", "/api/v1/users/me/passkeys/register/begin")[1:])
	assert.Equal(t, []int{200}, s.requestStatuses("POST", "/api/v1/auth_session/reauth/passkey/finish"))
}

// An account with an authenticator app and a passkey: after the password
// the page offers the passkey, a code and a recovery code, and the
// confirmation before a sensitive change offers the passkey beside the
// password and a code.
func TestBrowserPasskeyAndAuthenticatorApp(t *testing.T) {
	s, base := newPasskeyBrowserServer(t)
	e := s.enrolTOTP(s.newUserCookie("ada@example.com"))
	b := newBrowser(t)
	b.addAuthenticator()
	visible := func(sel string) bool {
		return evalJS[bool](b, `document.querySelector(`+quote(sel)+`).checkVisibility()`)
	}

	// Before there is a passkey: a code or a recovery code.
	s.clock.Advance(30) // the enrolling code is spent
	b.do(chromedp.Navigate(base + "/"))
	b.enterPassword("ada@example.com", userPassword)
	b.do(chromedp.WaitVisible(`#second-factor-form input[name="code"]`))
	assert.True(t, visible(`#second-factor-form input[name="recovery_code"]`))
	assert.False(t, visible("#second-factor-passkey"), "no passkey yet")
	b.submitForm("#second-factor-form", map[string]string{"code": s.code(e.Secret)})
	b.do(chromedp.WaitVisible("#account-view"), chromedp.WaitVisible("#passkeys-none"))
	b.submitForm("#passkey-form", map[string]string{"name": "Laptop"})
	assert.Equal(t, "Passkey Laptop added", b.message(true))
	b.do(chromedp.WaitVisible(`#passkeys tbody tr:first-child`))
	assert.Contains(t, b.text("#mfa-status"), "a code from your authenticator app or a passkey")

	// Now all three; a recovery code completes the sign-in.
	b.click("#signout")
	b.enterPassword("ada@example.com", userPassword)
	b.do(chromedp.WaitVisible("#second-factor-passkey"))
	assert.True(t, visible(`#second-factor-form input[name="code"]`))
	assert.True(t, visible(`#second-factor-form input[name="recovery_code"]`))
	b.screenshot("second-factor")
	b.submitForm("#second-factor-form", map[string]string{"recovery_code": e.RecoveryCodes[0]})
	b.do(chromedp.WaitVisible("#account-view"), chromedp.WaitVisible("#sessions tbody tr.current"))
	assert.Equal(t, "aal2", s.sessionAAL(b.cookie(base)))
	assert.Contains(t, b.text("#mfa-status"), "Recovery codes left: 9")

	// Later, new recovery codes ask for a confirmation: the passkey gives it.
	s.clock.Advance(301)
	b.click("#recovery-new")
	b.do(chromedp.WaitVisible("#reauth-passkey"), chromedp.WaitVisible(`#reauth-form input[name="code"]`))
	assert.True(t, visible(`#reauth-form input[name="password"]`))
	b.screenshot("reauth")
	b.click("#reauth-passkey")
	assert.Equal(t, "New recovery codes; the old ones no longer work", b.message(true))
	b.do(chromedp.WaitNotVisible("#reauth-view"), chromedp.WaitVisible("#recovery-view"))
	assert.Equal(t, 10, evalJS[int](b, `document.querySelectorAll("#recovery-codes li").length`))
	assert.Equal(t, []int{403, 200}, s.requestStatuses("POST", "/api/v1/users/me/recovery_codes"))
	assert.Empty(t, b.dialogsOpened())
}

// Ceremonies begun on one instance finish on the other: a reverse proxy
// in front of two instances sharing PostgreSQL and Redis sends every
// .../begin to A and everything else to B.
func TestBrowserPasskeysAcrossInstances(t *testing.T) {
	ln, port := localhostListener(t)
	kv := []string{"AUTH_TYPE", "session_db_auth", "USER_STORE", "postgres", "DATABASE_URL", pgtest.Schema(t),
		"SESSION_STORE", "redis", "REDIS_URL", testkit.RedisPrefixURL(t, "simpleapi-e2e"), "SESSION_SECRET", sharedSecret,
		"API_PORT", port}
	a := newServer(t, kv...)
	bInst := newServer(t, kv...)
	aURL, _ := url.Parse(a.listen().URL)
	bURL, _ := url.Parse(bInst.listen().URL)
	base := serveOn(t, ln, port, &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		if strings.HasSuffix(r.In.URL.Path, "/begin") {
			r.SetURL(aURL)
		} else {
			r.SetURL(bURL)
		}
		r.Out.Host = r.In.Host
	}})

	a.newUserCookie("ada@example.com")
	b := newBrowser(t)
	b.addAuthenticator()
	b.signIn(base, "ada@example.com", userPassword)
	b.submitForm("#passkey-form", map[string]string{"name": "Laptop"})
	assert.Equal(t, "Passkey Laptop added", b.message(true))

	b.click("#signout")
	b.do(chromedp.WaitVisible("#passkey-signin"))
	b.click("#passkey-signin")
	b.do(chromedp.WaitVisible("#account-view"))
	assert.Equal(t, "ada@example.com", b.text("#whoami"))

	b.click("#signout")
	b.enterPassword("ada@example.com", userPassword)
	b.do(chromedp.WaitVisible("#second-factor-passkey"))
	b.click("#second-factor-passkey")
	b.do(chromedp.WaitVisible("#account-view"))
	assert.Equal(t, "aal2", a.sessionAAL(b.cookie(base)))

	// Each begin was answered by A and each finish by B.
	for _, ceremony := range []string{"/api/v1/users/me/passkeys/register", "/api/v1/auth_session/login/passkey",
		"/api/v1/auth_session/second_factor/passkey"} {
		assert.Equal(t, []int{200}, a.requestStatuses("POST", ceremony+"/begin"), ceremony)
		assert.Empty(t, bInst.requestStatuses("POST", ceremony+"/begin"), ceremony)
		assert.Empty(t, a.requestStatuses("POST", ceremony+"/finish"), ceremony)
		assert.Len(t, bInst.requestStatuses("POST", ceremony+"/finish"), 1, ceremony)
	}
	assert.Equal(t, []int{201}, bInst.requestStatuses("POST", "/api/v1/users/me/passkeys/register/finish"))
	assert.Empty(t, b.dialogsOpened())
}
