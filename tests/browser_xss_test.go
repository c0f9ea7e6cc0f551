package tests

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Names that would run script if a page inserted them as HTML.
var xssNames = []string{
	`<img src=x onerror=alert(1)>`,
	`<script>alert(2)</script>`,
	`"><svg onload=alert(3)>`,
}

// User data is shown as text: markup in names stays text, no element is
// made from it and no dialog opens. And should markup ever get in, the
// Content-Security-Policy keeps inline script from running, and the
// browser reports the violation.
func TestBrowserXSSShownAsText(t *testing.T) {
	s, ts := newBrowserServer(t)
	admin := withCookie(s.adminCookie())
	for i, name := range xssNames {
		body := `{"email":"x` + string(rune('a'+i)) + `@example.com","password":"` + userPassword +
			`","first_name":` + quote(name) + `,"last_name":` + quote(name) + `}`
		rec := s.do("POST", "/api/v1/users", body, admin)
		require.Equal(t, 201, rec.Code, rec.Body.String())
	}

	b := newBrowser(t)
	b.signIn(ts.URL, adminEmail, adminPassword)
	// The admin's own name goes in through the profile form.
	b.do(
		chromedp.SendKeys(`#profile-form input[name="first_name"]`, xssNames[0]),
		chromedp.Click(`#profile-form button[type="submit"]`),
		chromedp.WaitVisible("#message.ok"),
		chromedp.WaitVisible(`#users tbody tr:nth-child(4)`),
	)
	rec := s.do("GET", "/api/v1/users/me", "", admin)
	assert.Contains(t, rec.Body.String(), `"first_name":`+quote(xssNames[0]), "stored exactly as typed")
	assert.Equal(t, xssNames[0], evalJS[string](b, `document.querySelector("#profile-form").elements.first_name.value`))

	shown := evalJS[[]string](b, `[...document.querySelectorAll("#users tbody tr")].slice(1).map(tr => tr.children[1].textContent)`)
	assert.Equal(t, xssNames, shown, "first names shown as the text they are")
	assert.Zero(t, evalJS[int](b, `document.querySelectorAll("main img, main script, main svg").length`),
		"no element was made from user data")

	// Inject markup past the page's own code, as a bug would: an inline
	// script and an inline event handler. The CSP refuses both.
	evalJS[bool](b, `(() => {
  window.violations = [];
  document.addEventListener("securitypolicyviolation",
    e => window.violations.push(e.effectiveDirective + " " + e.blockedURI));
  const s = document.createElement("script");
  s.textContent = "window.injectedRan = true; alert('injected')";
  document.body.append(s);
  const d = document.createElement("div");
  d.innerHTML = '<img src="/nope.png" onerror="window.injectedRan = true; alert(5)">';
  document.body.append(d);
  return true;
})()`)
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.violations.length >= 2`))
	require.NoError(t, err, "the browser reports both violations")
	violations := evalJS[[]string](b, `window.violations`)
	assert.ElementsMatch(t, []string{"script-src-elem inline", "script-src-attr inline"}, violations)
	assert.False(t, evalJS[bool](b, `window.injectedRan === true`), "no injected script ran")
	assert.Empty(t, b.dialogsOpened(), "no dialog opened")
}
