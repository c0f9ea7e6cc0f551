package tests

// The browser harness: each test serves the service from a real listener
// on 127.0.0.1 and drives a fresh headless Chromium through chromedp.

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromiumPath is Debian's chromium package; CHROMIUM overrides it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		// In CI a missing browser fails: a skipped browser suite would
		// prove nothing while looking green.
		if os.Getenv("CI") == "true" {
			t.Fatalf("no browser at %s (install the chromium package): %v", path, err)
		}
		t.Skipf("no browser at %s (install the chromium package)", path)
	}
	return path
}

// browser is one headless Chromium with a fresh profile.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	dialogs []string // messages of JavaScript dialogs that opened
}

// newBrowser starts Chromium for t; it is closed when t ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	profile := t.TempDir() // a fresh profile
	// Chromium blocks third-party cookies by the profile's preference; a
	// user may allow them, so the tests do, leaving only SameSite and the
	// server between a cross-site request and the session.
	require.NoError(t, os.MkdirAll(filepath.Join(profile, "Default"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(profile, "Default", "Preferences"),
		[]byte(`{"profile":{"cookie_controls_mode":0,"block_third_party_cookies":false}}`), 0o600))
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting chromium") // binds the browser to ctx, not to a timeout
	b := &browser{t: t, ctx: ctx}
	// A dialog stalls the page until it is handled; it is recorded and
	// dismissed from another goroutine (Listen's func may not send commands).
	opened := make(chan struct{}, 16)
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	}))
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-opened:
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
			}
		}
	}()
	return b
}

// browserTimeout bounds every step of a browser test.
const browserTimeout = 30 * time.Second

// do performs actions and fails the test on error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

// evalJS evaluates a JavaScript expression in the page (a promise is
// awaited) and decodes its value.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

// text returns the text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.TextContent(sel))
	require.NoError(b.t, err, "text of %s", sel)
	return v
}

// fetchStatus calls the API from the page with the page's cookies and
// returns the status.
func (b *browser) fetchStatus(method, path string) int {
	b.t.Helper()
	return evalJS[int](b, `fetch(`+quote(path)+`, {method: `+quote(method)+`, credentials: "same-origin"}).then(r => r.status)`)
}

func (b *browser) dialogsOpened() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// sessionCookie returns the browser's session cookie for url (HttpOnly
// cookies included), or nil.
func (b *browser) sessionCookie(url string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	require.NoError(b.t, err)
	for _, c := range res.Cookies {
		if c.Name == "_my_session_id" {
			return c
		}
	}
	return nil
}

// screenshot writes a PNG of the whole page into the test's artifact
// directory (go test -artifacts keeps it) and returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	return path
}

// signIn fills in and submits the page's sign-in form, then waits for the
// account view.
func (b *browser) signIn(baseURL, email, password string) {
	b.t.Helper()
	b.do(chromedp.Navigate(baseURL + "/"))
	b.enterPassword(email, password)
	b.do(chromedp.WaitVisible("#account-view"))
}

// enterPassword fills in and submits the sign-in form of the page as it
// is (signed out), without waiting for what follows.
func (b *browser) enterPassword(email, password string) {
	b.t.Helper()
	b.do(
		chromedp.WaitVisible("#signin-form"),
		chromedp.SendKeys(`#signin-form input[name="email"]`, email),
		chromedp.SendKeys(`#signin-form input[name="password"]`, password),
		chromedp.Click(`#signin-form button[type="submit"]`),
	)
}

// listen serves s from a real listener on 127.0.0.1; closed when the test
// ends.
func (s *server) listen() *httptest.Server {
	ts := httptest.NewServer(s.handler)
	s.t.Cleanup(ts.Close)
	return ts
}

// newBrowserServer starts a session-mode server for browser tests.
func newBrowserServer(t *testing.T, kv ...string) (*server, *httptest.Server) {
	t.Helper()
	s := newSessionServer(t, kv...)
	return s, s.listen()
}

// requestStatuses returns the statuses the access log recorded for
// method and route.
func (s *server) requestStatuses(method, route string) []int {
	var out []int
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" && rec.Method == method && rec.Route == route {
			out = append(out, rec.Status)
		}
	}
	return out
}
