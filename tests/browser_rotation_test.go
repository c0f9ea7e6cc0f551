package tests

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With a short rotation interval the page keeps working across six
// rotations while it fires parallel requests, each burst landing at a
// different point of a second: each burst replaces the token once, in the
// same session, and never signs the page out. A copy of the first cookie,
// replaced six rotations ago, replayed later ends the session, in the
// browser too.
func TestBrowserTokenRotation(t *testing.T) {
	s := newSessionServer(t, "SESSION_ROTATE_INTERVAL", "60", "SESSION_ROTATE_GRACE", "10")
	// Counts the answers that set a cookie: one per rotation.
	var cookiesSet atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handler.ServeHTTP(w, r)
		if _, ok := w.Header()["Set-Cookie"]; ok {
			cookiesSet.Add(1)
		}
	}))
	t.Cleanup(ts.Close)
	b := newBrowser(t)
	b.signIn(ts.URL, adminEmail, adminPassword)
	sessionID := evalJS[string](b, `fetch("/api/v1/auth_session/sessions").then(r => r.json()).then(l => l[0].id)`)

	first := b.sessionCookie(ts.URL).Value
	for round := range 6 {
		replaced := b.sessionCookie(ts.URL).Value
		cookiesSet.Store(0)
		s.clock.AdvanceBy(60*time.Second + time.Duration(round*170)*time.Millisecond)
		statuses := evalJS[[]int](b, `Promise.all([...Array(24)].map((_, i) =>
  fetch(["/api/v1/users/me", "/api/v1/auth_session/sessions", "/api/v1/stats"][i % 3]).then(r => r.status)))`)
		for i, status := range statuses {
			assert.Equal(t, http.StatusOK, status, "round %d, request %d", round, i)
		}
		current := b.sessionCookie(ts.URL)
		require.NotNil(t, current)
		assert.NotEqual(t, replaced, current.Value, "round %d: the browser holds a new token", round)
		assert.Equal(t, int64(1), cookiesSet.Load(), "round %d: exactly one successor", round)

		// The page itself goes on working, and shows the same session.
		b.do(
			chromedp.Reload(),
			chromedp.WaitVisible("#sessions tbody tr.current"),
			chromedp.Click(`#profile-form button[type="submit"]`),
			chromedp.WaitVisible("#message.ok"),
		)
		ids := evalJS[[]string](b, `fetch("/api/v1/auth_session/sessions").then(r => r.json()).then(l => l.map(s => s.id))`)
		assert.Equal(t, []string{sessionID}, ids, "round %d: one session, its id kept", round)
		rotated := evalJS[string](b, `document.querySelector("#sessions tbody tr.current").children[6].textContent`)
		assert.Equal(t, s.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"), rotated, "round %d", round)
	}
	b.screenshot("rotated")

	// Someone who copied the cookie before the first rotation uses it:
	// the session ends for both parties.
	s.clock.Advance(11)
	req, err := http.NewRequest("GET", ts.URL+"/api/v1/users/me", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "_my_session_id", Value: first})
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	require.Len(t, s.auditEvents("session_token_reused"), 1)
	assert.Equal(t, sessionID, s.auditEvents("session_token_reused")[0]["session_id"])

	b.do(chromedp.Reload(), chromedp.WaitVisible("#signin-form"))
	assert.Equal(t, http.StatusForbidden, b.fetchStatus("GET", "/api/v1/users/me"))
	assert.Empty(t, b.dialogsOpened())
}
