package tests

import (
	"bytes"
	"context"
	"image"
	_ "image/png" // screenshots
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A person turns on two-factor authentication from the page: reads the
// QR code the page draws (decoded here from a screenshot) or the secret,
// confirms a code, gets recovery codes; signs out; signs in with password
// and code; and confirms a sensitive change after REAUTH_MAX_AGE.
func TestBrowserTOTPEnrolmentAndSignIn(t *testing.T) {
	s, ts := newBrowserServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	b := newBrowser(t)
	b.signIn(ts.URL, "bob@example.com", userPassword)
	b.do(chromedp.WaitVisible("#totp-start"))
	assert.Contains(t, b.text("#mfa-status"), "Off")

	b.click("#totp-start")
	b.do(chromedp.WaitVisible("#totp-setup"))
	secret := b.text("#totp-secret")
	require.Regexp(t, `^[A-Z2-7]{32}$`, secret)
	b.screenshot("totp-setup")

	// The QR code drawn in the page is the otpauth URI of that secret.
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.Screenshot("#totp-qr", chromedp.NodeVisible))
	require.NoError(t, err)
	img, _, err := image.Decode(bytes.NewReader(shot))
	require.NoError(t, err)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	require.NoError(t, err)
	decoded, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	require.NoError(t, err, "the page's QR code does not decode")
	assert.Equal(t, "otpauth://totp/Simple%20API:bob%40example.com?algorithm=SHA1&digits=6&issuer=Simple%20API&period=30&secret="+
		secret, decoded.GetText())

	code := func() string {
		c, err := totp.GenerateCode(secret, s.clock.Now())
		require.NoError(t, err)
		return c
	}
	b.submitForm("#totp-confirm-form", map[string]string{"code": "000000"})
	assert.Equal(t, "wrong code", b.message(false))
	b.submitForm("#totp-confirm-form", map[string]string{"code": code()})
	assert.Equal(t, "Two-factor authentication is on", b.message(true))
	b.do(chromedp.WaitVisible("#recovery-view"))
	assert.Equal(t, 10, evalJS[int](b, `document.querySelectorAll("#recovery-codes li").length`))
	b.do(chromedp.WaitVisible("#totp-remove"))
	assert.Contains(t, b.text("#mfa-status"), "On")
	assert.Contains(t, b.text("#mfa-status"), "Recovery codes left: 10")

	// Sign out, and in again with the password and a code.
	b.click("#signout")
	assert.Equal(t, "Signed out", b.message(true))
	s.clock.Advance(30) // the confirming code is spent
	b.enterPassword("bob@example.com", userPassword)
	b.do(chromedp.WaitVisible("#second-factor-form"), chromedp.WaitVisible(`#second-factor-form input[name="recovery_code"]`))
	assert.False(t, evalJS[bool](b, `!document.querySelector("#second-factor-passkey").hidden`), "no passkey to use")
	b.screenshot("second-factor")
	assert.Equal(t, 401, b.fetchStatus("GET", "/api/v1/users/me"), "a pending sign-in is no sign-in")
	b.submitForm("#second-factor-form", map[string]string{"code": "000000"})
	assert.Equal(t, "wrong code", b.message(false))
	b.submitForm("#second-factor-form", map[string]string{"code": code()})
	b.do(chromedp.WaitVisible("#account-view"), chromedp.WaitVisible("#sessions tbody tr.current"))
	assert.Contains(t, b.text("#sessions tbody tr.current"), "password and second factor")
	assert.Equal(t, 200, b.fetchStatus("GET", "/api/v1/users/me"))

	// Later, a sensitive change asks for the password and a code first.
	s.clock.Advance(301)
	b.click("#recovery-new")
	b.do(chromedp.WaitVisible("#reauth-view"), chromedp.WaitVisible(`#reauth-form input[name="code"]`))
	b.submitForm("#reauth-form", map[string]string{"password": userPassword, "code": code()})
	assert.Equal(t, "New recovery codes; the old ones no longer work", b.message(true))
	b.do(chromedp.WaitNotVisible("#reauth-view"))
	assert.Empty(t, b.dialogsOpened())
}
