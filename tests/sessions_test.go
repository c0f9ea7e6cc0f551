package tests

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store/jsonfile"
)

const (
	secretA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	secretB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// newSessionServer starts a server in a session mode (session_db_auth
// unless kv says otherwise).
func newSessionServer(t testing.TB, kv ...string) *server {
	t.Helper()
	return startServer(t, t.TempDir(), append([]string{"AUTH_TYPE", "session_db_auth"}, kv...)...)
}

func form() option {
	return header("Content-Type", "application/x-www-form-urlencoded")
}

// login posts a urlencoded login form.
func (s *server) login(email, password string, opts ...option) *httptest.ResponseRecorder {
	s.t.Helper()
	body := "email=" + email + "&password=" + password
	return s.do("POST", "/api/v1/auth_session/login", body, append([]option{form()}, opts...)...)
}

// sessionCookie logs in and returns the session cookie.
func (s *server) sessionCookie(email, password string) *http.Cookie {
	s.t.Helper()
	rec := s.login(email, password)
	require.Equal(s.t, 200, rec.Code, rec.Body.String())
	c := cookieOf(s.t, rec)
	require.NotNil(s.t, c)
	return c
}

func (s *server) adminCookie() *http.Cookie { return s.sessionCookie(adminEmail, adminPassword) }

// cookieOf returns the session cookie set by a response, or nil.
func cookieOf(t testing.TB, rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == "_my_session_id" || strings.HasPrefix(c.Name, "__Host-") {
			return c
		}
	}
	return nil
}

func withCookie(c *http.Cookie) option {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
}

func remoteAddr(addr string) option { return func(r *http.Request) { r.RemoteAddr = addr } }

func overTLS() option { return func(r *http.Request) { r.TLS = &tls.ConnectionState{} } }

func TestLoginErrorsInOrder(t *testing.T) {
	s := newSessionServer(t)
	s.createUserAsCookieAdmin("bob@example.com")
	cases := []struct {
		name, body, contentType string
		status                  int
		msg                     string
	}{
		{"nothing", "", "application/x-www-form-urlencoded", 400, "email missing"},
		{"email blank", "email=%20%20&password=x", "application/x-www-form-urlencoded", 400, "email missing"},
		{"password missing", "email=bob@example.com", "application/x-www-form-urlencoded", 400, "password missing"},
		{"password blank", "email=bob@example.com&password=%20", "application/x-www-form-urlencoded", 400, "password missing"},
		{"email missing before password", "password=x", "application/x-www-form-urlencoded", 400, "email missing"},
		{"unknown email", "email=nobody@example.com&password=x", "application/x-www-form-urlencoded", 404, "no user found for this email"},
		{"wrong password", "email=bob@example.com&password=wrong", "application/x-www-form-urlencoded", 401, "wrong password"},
		{"json email missing", `{"password":"x"}`, "application/json", 400, "email missing"},
		{"json wrong password", `{"email":"bob@example.com","password":"wrong"}`, "application/json", 401, "wrong password"},
		{"json malformed", `{"email":`, "application/json", 400, "Wrong format"},
		{"json not an object", `["bob@example.com"]`, "application/json", 400, "Wrong format"},
		{"json email not a string", `{"email":1,"password":"x"}`, "application/json", 400, "Wrong format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.do("POST", "/api/v1/auth_session/login", tc.body, header("Content-Type", tc.contentType))
			assertError(t, rec, tc.status, tc.msg)
			assert.Nil(t, cookieOf(t, rec), "no cookie on failure")
		})
	}
}

func TestLoginGenericErrors(t *testing.T) {
	s := newSessionServer(t, "AUTH_GENERIC_ERRORS", "true")
	s.createUserAsCookieAdmin("bob@example.com")
	unknown := s.login("nobody@example.com", "whatever")
	wrong := s.login("bob@example.com", "whatever")
	assertError(t, unknown, 401, "wrong email or password")
	assertError(t, wrong, 401, "wrong email or password")
	assert.Equal(t, unknown.Body.String(), wrong.Body.String())
}

// createUserAsCookieAdmin creates a user through the API with an admin
// session.
func (s *server) createUserAsCookieAdmin(email string) userJSON {
	s.t.Helper()
	admin := s.adminCookie()
	rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, withCookie(admin))
	require.Equal(s.t, 201, rec.Code, rec.Body.String())
	return decodeUser(s.t.(*testing.T), rec.Body.Bytes())
}

func TestLoginSuccessForms(t *testing.T) {
	s := newSessionServer(t)
	bob := s.createUserAsCookieAdmin("Bob@Example.com")

	var multi bytes.Buffer
	mw := multipart.NewWriter(&multi)
	require.NoError(t, mw.WriteField("email", "bob@example.com"))
	require.NoError(t, mw.WriteField("password", userPassword))
	require.NoError(t, mw.Close())

	for name, send := range map[string]func() *httptest.ResponseRecorder{
		"urlencoded with spaces": func() *httptest.ResponseRecorder {
			return s.login("%20bob@example.com%20", userPassword+"%20")
		},
		"json": func() *httptest.ResponseRecorder {
			return s.do("POST", "/api/v1/auth_session/login/", `{"email":"BOB@example.com","password":"`+userPassword+`"}`)
		},
		"multipart": func() *httptest.ResponseRecorder {
			return s.do("POST", "/api/v1/auth_session/login", multi.String(), header("Content-Type", mw.FormDataContentType()))
		},
	} {
		t.Run(name, func(t *testing.T) {
			rec := send()
			require.Equal(t, 200, rec.Code, rec.Body.String())
			assert.Equal(t, bob, decodeUser(t, rec.Body.Bytes()))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			c := cookieOf(t, rec)
			require.NotNil(t, c)
			me := s.do("GET", "/api/v1/users/me", "", withCookie(c))
			assert.Equal(t, 200, me.Code)
			assert.Equal(t, bob, decodeUser(t, me.Body.Bytes()))
		})
	}
}

// cookieAttributes parses the Set-Cookie header into its attributes.
func cookieAttributes(t *testing.T, rec *httptest.ResponseRecorder) map[string]string {
	t.Helper()
	lines := rec.Header().Values("Set-Cookie")
	require.Len(t, lines, 1)
	attrs := map[string]string{}
	for i, part := range strings.Split(lines[0], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if i == 0 {
			attrs["name"], attrs["value"] = k, v
			continue
		}
		attrs[strings.ToLower(k)] = v
	}
	return attrs
}

func TestCookieAttributes(t *testing.T) {
	cases := []struct {
		name       string
		env        []string
		opts       []option
		wantSecure bool
	}{
		{"secure true", []string{"COOKIE_SECURE", "true"}, nil, true},
		{"secure false over TLS", []string{"COOKIE_SECURE", "false"}, []option{overTLS()}, false},
		{"auto plain", nil, nil, false},
		{"auto TLS", nil, []option{overTLS()}, true},
		{"auto trusted proxy https", []string{"TRUSTED_PROXIES", "10.0.0.0/8"},
			[]option{remoteAddr("10.1.2.3:5555"), header("X-Forwarded-Proto", "https")}, true},
		{"auto untrusted proxy https", []string{"TRUSTED_PROXIES", "10.0.0.0/8"},
			[]option{remoteAddr("192.0.2.7:5555"), header("X-Forwarded-Proto", "https")}, false},
		{"auto no proxies trusted", nil,
			[]option{remoteAddr("10.1.2.3:5555"), header("X-Forwarded-Proto", "https")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSessionServer(t, tc.env...)
			rec := s.login(adminEmail, adminPassword, tc.opts...)
			require.Equal(t, 200, rec.Code)
			a := cookieAttributes(t, rec)
			assert.Equal(t, "_my_session_id", a["name"])
			assert.NotEmpty(t, a["value"])
			assert.Equal(t, "/", a["path"])
			_, httpOnly := a["httponly"]
			assert.True(t, httpOnly)
			assert.Equal(t, "Lax", a["samesite"])
			assert.Equal(t, "86400", a["max-age"])
			_, hasDomain := a["domain"]
			assert.False(t, hasDomain)
			_, secure := a["secure"]
			assert.Equal(t, tc.wantSecure, secure)
		})
	}

	t.Run("__Host- name forces Secure; SameSite strict; no lifetime no Max-Age", func(t *testing.T) {
		s := newSessionServer(t, "SESSION_NAME", "__Host-sid", "COOKIE_SECURE", "false",
			"COOKIE_SAMESITE", "strict", "SESSION_DURATION", "0")
		rec := s.login(adminEmail, adminPassword)
		require.Equal(t, 200, rec.Code)
		a := cookieAttributes(t, rec)
		assert.Equal(t, "__Host-sid", a["name"])
		_, secure := a["secure"]
		assert.True(t, secure)
		assert.Equal(t, "Strict", a["samesite"])
		_, hasMaxAge := a["max-age"]
		assert.False(t, hasMaxAge)
		assert.Equal(t, "/", a["path"])
	})
}

func TestSessionFixation(t *testing.T) {
	s := newSessionServer(t)
	first := s.adminCookie()
	rec := s.login(adminEmail, adminPassword, withCookie(first))
	require.Equal(t, 200, rec.Code)
	second := cookieOf(t, rec)
	require.NotNil(t, second)
	assert.NotEqual(t, first.Value, second.Value)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(first)), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(second)).Code)
	n, err := s.app.SessionStore().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the old session was deleted, not kept")
}

func TestCookieTampering(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "AUTH_TYPE", "session_db_auth", "SESSION_SECRET", secretA)
	c := s.adminCookie()
	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code)

	for i := 0; i < len(c.Value); i += 7 {
		b := []byte(c.Value)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		before := s.sessions.lookups.Load()
		tampered := &http.Cookie{Name: c.Name, Value: string(b)}
		assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(tampered)), 403, "Forbidden")
		assert.Equal(t, before, s.sessions.lookups.Load(), "a bad signature never reaches the store (byte %d)", i)
	}
	for _, v := range []string{"", "garbage", strings.Repeat("x", 4000)} {
		before := s.sessions.lookups.Load()
		assertError(t, s.do("GET", "/api/v1/users/me", "", header("Cookie", "_my_session_id="+v)), 403, "Forbidden")
		assert.Equal(t, before, s.sessions.lookups.Load())
	}
	s.stop()

	// Rotation: a cookie signed by the second secret of the list is
	// accepted; once its secret is dropped from the list it is refused.
	s = startServer(t, dir, "AUTH_TYPE", "session_db_auth", "SESSION_SECRET", secretB+","+secretA)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code)
	fresh := s.adminCookie()
	s.stop()
	s = startServer(t, dir, "AUTH_TYPE", "session_db_auth", "SESSION_SECRET", secretB)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(c)), 403, "Forbidden")
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(fresh)).Code, "the first secret signs")
}

func TestSessionExpiry(t *testing.T) {
	for _, mode := range []string{"session_exp_auth", "session_db_auth"} {
		t.Run(mode+" absolute", func(t *testing.T) {
			s := newSessionServer(t, "AUTH_TYPE", mode, "SESSION_DURATION", "3600", "SESSION_IDLE_TIMEOUT", "0")
			c := s.adminCookie()
			s.clock.Advance(3599)
			assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code)
			s.clock.Advance(1)
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(c)), 403, "Forbidden")
		})
		t.Run(mode+" idle", func(t *testing.T) {
			// One cookie throughout: no token rotation.
			s := newSessionServer(t, "AUTH_TYPE", mode, "SESSION_DURATION", "0", "SESSION_IDLE_TIMEOUT", "600",
				"SESSION_ROTATE_INTERVAL", "0")
			c := s.adminCookie()
			// Each use well within the idle timeout keeps it alive, far
			// past the first idle deadline.
			for i := 0; i < 6; i++ {
				s.clock.Advance(300)
				require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code, "use %d", i)
			}
			s.clock.Advance(600)
			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(c)), 403, "Forbidden")
		})
		t.Run(mode+" none", func(t *testing.T) {
			s := newSessionServer(t, "AUTH_TYPE", mode, "SESSION_DURATION", "0", "SESSION_IDLE_TIMEOUT", "0")
			c := s.adminCookie()
			s.clock.Advance(10 * 365 * 86400)
			assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code)
		})
	}
	t.Run("session_auth never expires", func(t *testing.T) {
		s := newSessionServer(t, "AUTH_TYPE", "session_auth", "SESSION_DURATION", "60", "SESSION_IDLE_TIMEOUT", "60")
		c := s.adminCookie()
		s.clock.Advance(86400)
		assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(c)).Code)
	})
}

func TestLogout(t *testing.T) {
	for _, mode := range []string{"session_auth", "session_exp_auth", "session_db_auth"} {
		t.Run(mode, func(t *testing.T) {
			s := newSessionServer(t, "AUTH_TYPE", mode)
			c := s.adminCookie()
			other := s.adminCookie()
			assertError(t, s.do("DELETE", "/api/v1/auth_session/logout", ""), 401, "Unauthorized")

			rec := s.do("DELETE", "/api/v1/auth_session/logout/", "", withCookie(c))
			assertBody(t, rec, 200, `{}`)
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			a := cookieAttributes(t, rec)
			assert.Equal(t, "0", a["max-age"], "cookie cleared")
			n, err := s.app.SessionStore().CountSessions(t.Context())
			require.NoError(t, err)
			assert.Equal(t, 1, n, "deleted on the server")

			assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(c)), 403, "Forbidden")
			assertError(t, s.do("DELETE", "/api/v1/auth_session/logout", "", withCookie(c)), 403, "Forbidden")
			assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(other)).Code, "other sessions live on")
		})
	}
}

func TestSessionModeCredentials(t *testing.T) {
	s := newSessionServer(t)
	assertError(t, s.do("GET", "/api/v1/users/me", ""), 401, "Unauthorized")
	assertError(t, s.do("GET", "/api/v1/users/me", "", asAdmin()), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/me", "", header("Cookie", "_my_session_id=")), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/nope", "", withCookie(s.adminCookie())), 404, "Not found")
}

func TestSessionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "AUTH_TYPE", "session_db_auth", "SESSION_DURATION", "3600", "SESSION_IDLE_TIMEOUT", "0")
	long := s.adminCookie()
	s.clock.Advance(3000)
	fresh := s.adminCookie()
	s.stop()

	// The secret was generated and kept in DATA_DIR.
	encoded, err := os.ReadFile(filepath.Join(dir, ".session_secret"))
	require.NoError(t, err)
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(encoded)))
	require.NoError(t, err)

	// No file in the data directory holds a token or a cookie.
	files, err := filepath.Glob(filepath.Join(dir, ".db_UserSession.json*"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		for _, c := range []*http.Cookie{long, fresh} {
			for _, leak := range tokenSecrets(t, string(secret), c) {
				assert.NotContains(t, string(raw), leak, name)
			}
		}
	}

	// The secret was generated and kept in DATA_DIR, so the cookies still
	// verify after a restart.
	fi, err := os.Stat(filepath.Join(dir, ".session_secret"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	s = startServer(t, dir, "AUTH_TYPE", "session_db_auth", "SESSION_DURATION", "3600", "SESSION_IDLE_TIMEOUT", "0")
	s.clock.Advance(3000)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(long)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(fresh)).Code)
	s.stop()

	// Restarted after the first has expired: it is removed at start-up,
	// from memory and from the file.
	late := newClock()
	late.Advance(3700)
	s = startServerWithClock(t, dir, late, "AUTH_TYPE", "session_db_auth", "SESSION_DURATION", "3600", "SESSION_IDLE_TIMEOUT", "0")
	n, err := s.app.SessionStore().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s.stop()
	// Read back on the first clock, before either deadline: the expired
	// session would count if it were still in the file.
	db, err := jsonfile.Open(dir, jsonfile.Options{Sessions: true, Now: newClock().Now})
	require.NoError(t, err)
	n, err = db.Sessions().CountSessions(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, db.Close())
}

func TestDeleteOrRoleChangeEndsSessions(t *testing.T) {
	s := newSessionServer(t)
	admin := s.adminCookie()
	bob := s.createUserAsCookieAdmin("bob@example.com")
	carol := s.createUserAsCookieAdmin("carol@example.com")
	bob1 := s.sessionCookie("bob@example.com", userPassword)
	bob2 := s.sessionCookie("bob@example.com", userPassword)
	carol1 := s.sessionCookie("carol@example.com", userPassword)

	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, withCookie(admin)).Code)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob1)), 403, "Forbidden")
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(bob2)), 403, "Forbidden")
	// A name change leaves sessions alone.
	require.Equal(t, 200, s.do("PUT", "/api/v1/users/"+carol.ID, `{"first_name":"C"}`, withCookie(admin)).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(carol1)).Code)

	require.Equal(t, 200, s.do("DELETE", "/api/v1/users/"+carol.ID, "", withCookie(admin)).Code)
	assertError(t, s.do("GET", "/api/v1/users/me", "", withCookie(carol1)), 403, "Forbidden")
	sessions, err := s.app.SessionStore().ListSessions(t.Context(), carol.ID)
	require.NoError(t, err)
	assert.Empty(t, sessions)
}

func TestConcurrentSessions(t *testing.T) {
	s := newSessionServer(t)
	for i := 0; i < 10; i++ {
		s.createUserAsCookieAdmin(fmt.Sprintf("user%d@example.com", i))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 100; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			email := fmt.Sprintf("user%d@example.com", g%10)
			send := func(method, path, body string, c *http.Cookie, ct string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				if c != nil {
					req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
				}
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, req)
				return rec
			}
			rec := send("POST", "/api/v1/auth_session/login", "email="+email+"&password="+userPassword, nil, "application/x-www-form-urlencoded")
			if rec.Code != 200 {
				errs <- fmt.Sprintf("login %d", rec.Code)
				return
			}
			var c *http.Cookie
			for _, k := range rec.Result().Cookies() {
				c = k
			}
			me := send("GET", "/api/v1/users/me", "", c, "")
			var u userJSON
			if me.Code != 200 || json.Unmarshal(me.Body.Bytes(), &u) != nil || *u.Email != email {
				errs <- fmt.Sprintf("me %d %s", me.Code, me.Body.String())
				return
			}
			if out := send("DELETE", "/api/v1/auth_session/logout", "", c, ""); out.Code != 200 {
				errs <- fmt.Sprintf("logout %d", out.Code)
				return
			}
			if again := send("GET", "/api/v1/users/me", "", c, ""); again.Code != 403 {
				errs <- fmt.Sprintf("after logout %d", again.Code)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestJunkCookieOnLoginLogsNoError(t *testing.T) {
	// gin-contrib/sessions logs through the default logger.
	var global testkit.LockedBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&global, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	s := newSessionServer(t)
	rec := s.login(adminEmail, adminPassword, header("Cookie", "_my_session_id=garbage"))
	require.Equal(t, 200, rec.Code)
	assert.NotContains(t, s.logs.String(), `"level":"ERROR"`)
	assert.NotContains(t, global.String(), `"level":"ERROR"`)
}
