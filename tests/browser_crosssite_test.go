package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evilUser is what a forged request tries to create.
const evilEmail = "evil@example.com"

// attackerSite serves pages from another site: the service is reached as
// 127.0.0.1, this listener as localhost. Its /form page auto-submits a
// form that creates a user with a JSON body smuggled in a text/plain form.
func attackerSite(t *testing.T, serviceURL string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form method="post" action="%s/api/v1/users" enctype="text/plain">
<input type="hidden" name='{"email":"%s","password":"evil-password-1","x":"' value='"}'>
</form><script>document.forms[0].submit()</script>`, serviceURL, evilEmail)
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>another site</title><p>nothing to see</p>`)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	u, err := url.Parse(ts.URL)
	require.NoError(t, err)
	return "http://localhost:" + u.Port()
}

// crossSiteResult is what the other site's scripts got.
type crossSiteResult struct {
	Create string `json:"create"` // status, or the browser's error
	Me     string `json:"me"`
	MeBody string `json:"meBody"`
}

// crossSiteFetches runs credentialed fetches to the service from the page
// that is open (the other site's): a user creation with the given
// Content-Type (text/plain makes it a simple request, without preflight)
// and a read of the caller.
func (b *browser) crossSiteFetches(serviceURL, contentType string) crossSiteResult {
	b.t.Helper()
	raw := evalJS[string](b, `(async () => {
  const api = `+quote(serviceURL)+`;
  const out = {};
  try {
    const r = await fetch(api + "/api/v1/users", {method: "POST", credentials: "include",
      headers: {"Content-Type": `+quote(contentType)+`},
      body: JSON.stringify({email: `+quote(evilEmail)+`, password: "evil-password-1"})});
    out.create = String(r.status);
  } catch (e) { out.create = "refused by the browser"; }
  try {
    const r = await fetch(api + "/api/v1/users/me", {credentials: "include"});
    out.me = String(r.status);
    out.meBody = await r.text();
  } catch (e) { out.me = "refused by the browser"; }
  return JSON.stringify(out);
})()`)
	var res crossSiteResult
	require.NoError(b.t, json.Unmarshal([]byte(raw), &res))
	return res
}

// userEmails lists the users' emails through the API.
func (s *server) userEmails(admin option) []string {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users", "", admin)
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	var users []userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &users))
	var out []string
	for _, u := range users {
		out = append(out, *u.Email)
	}
	return out
}

// A signed-in admin visits another site. Its auto-submitted form and its
// credentialed fetches are refused and change nothing: with the default
// SameSite=Lax cookie the browser leaves the cookie off; with SameSite=None
// it sends it. Either way the server refuses the cross-site request (403)
// before it looks at any credentials.
func TestBrowserCrossSiteRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        []string
		formStatus int
		formBody   string
	}{
		{"SameSite=Lax", nil, http.StatusForbidden, `{"error":"Forbidden"}`},
		{"SameSite=None", []string{"COOKIE_SAMESITE", "none", "COOKIE_SECURE", "true"}, http.StatusForbidden, `{"error":"Forbidden"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ts := newBrowserServer(t, tc.env...)
			admin := withCookie(s.adminCookie())
			before := s.userEmails(admin)
			other := attackerSite(t, ts.URL)

			b := newBrowser(t)
			b.signIn(ts.URL, adminEmail, adminPassword)
			require.NotNil(t, b.sessionCookie(ts.URL))

			// The form navigates the tab to the API's answer.
			b.do(chromedp.Navigate(other+"/form"), chromedp.WaitVisible("body pre"))
			assert.Equal(t, tc.formBody, b.text("body pre"))
			assert.Equal(t, []int{tc.formStatus}, s.requestStatuses("POST", "/api/v1/users"))

			b.do(chromedp.Navigate(other + "/"))
			res := b.crossSiteFetches(ts.URL, "text/plain")
			assert.Equal(t, "refused by the browser", res.Create, "no CORS grant for this origin")
			assert.Equal(t, "refused by the browser", res.Me)
			assert.Equal(t, []int{tc.formStatus, tc.formStatus}, s.requestStatuses("POST", "/api/v1/users"),
				"the server refused the fetch too")

			assert.Equal(t, before, s.userEmails(admin), "nothing changed")
			b.do(chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible("#account-view"))
			assert.Equal(t, adminEmail, b.text("#whoami"), "the victim is still signed in")
		})
	}
}

// With the other site listed in CORS_ORIGINS (and a SameSite=None cookie,
// which a browser sends cross-site), its credentialed fetches work.
func TestBrowserCrossSiteAllowedByCORS(t *testing.T) {
	// The other site's origin must be known before the service starts.
	otherMux := http.NewServeMux()
	otherMux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>a listed site</title>`)
	})
	ots := httptest.NewServer(otherMux)
	t.Cleanup(ots.Close)
	u, err := url.Parse(ots.URL)
	require.NoError(t, err)
	other := "http://localhost:" + u.Port()

	s, ts := newBrowserServer(t, "CORS_ORIGINS", other, "COOKIE_SAMESITE", "none", "COOKIE_SECURE", "true")
	b := newBrowser(t)
	b.signIn(ts.URL, adminEmail, adminPassword)

	b.do(chromedp.Navigate(other + "/"))
	res := b.crossSiteFetches(ts.URL, "application/json") // preflighted, and granted
	assert.Equal(t, "201", res.Create)
	assert.Equal(t, "200", res.Me)
	assert.Contains(t, res.MeBody, `"email":"`+adminEmail+`"`)
	assert.Contains(t, s.userEmails(withCookie(s.adminCookie())), evilEmail, "the listed origin may act for the user")
}
