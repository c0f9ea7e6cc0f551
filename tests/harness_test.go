// Package tests drives the whole service end to end: the router built by
// app.New from a config.Config loaded exactly as production loads it,
// over httptest, with a real data directory.
package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/app"
	"simpleapi/config"
	"simpleapi/internal/testkit"
	"simpleapi/store"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin-password-1"
	userPassword  = "user-password-1"
)

// testEnv is the environment every test server starts from: cheap argon2id
// parameters (through the same settings production reads) and a first
// admin.
func testEnv(dataDir string) map[string]string {
	return map[string]string{
		"DATA_DIR":          dataDir,
		"AUTH_TYPE":         "basic_auth",
		"ARGON2_MEMORY_KIB": "64",
		"ARGON2_ITERATIONS": "1",
		"ADMIN_EMAIL":       adminEmail,
		"ADMIN_PASSWORD":    adminPassword,
		"LOG_LEVEL":         "error",
		// Every test request comes from one address; the throttling tests
		// set their own limits.
		"LOGIN_IP_PER_MINUTE": "100000",
		"LOGIN_IP_BURST":      "100000",
	}
}

// clock is a time source that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by seconds.
func (c *clock) Advance(seconds int) { c.AdvanceBy(time.Duration(seconds) * time.Second) }

// AdvanceBy moves the clock by d.
func (c *clock) AdvanceBy(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// server is one running instance of the service under test.
type server struct {
	t       testing.TB
	clock   *clock
	app     *app.App
	handler http.Handler
	dataDir string
	env     map[string]string
	// sessions counts the lookups that reach the session store.
	sessions *countingSessions
	// logs holds every line the service logged, as JSON.
	logs *testkit.LockedBuffer
}

// countingSessions counts session lookups by token family.
type countingSessions struct {
	store.SessionStore
	lookups atomic.Int64
}

func (c *countingSessions) SessionByFamily(ctx context.Context, f store.TokenHash) (store.Session, error) {
	c.lookups.Add(1)
	return c.SessionStore.SessionByFamily(ctx, f)
}

// newServer starts the service on a fresh data directory; kv overrides
// the test environment ("KEY", "value", ...).
func newServer(t testing.TB, kv ...string) *server {
	t.Helper()
	return startServer(t, t.TempDir(), kv...)
}

// startServer starts the service on dataDir, which may hold earlier data.
func startServer(t testing.TB, dataDir string, kv ...string) *server {
	t.Helper()
	return startServerWithClock(t, dataDir, newClock(), kv...)
}

// startServerWithClock starts the service on dataDir with the given clock.
func startServerWithClock(t testing.TB, dataDir string, clk *clock, kv ...string) *server {
	t.Helper()
	env := testEnv(dataDir)
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	logs := &testkit.LockedBuffer{}
	// The handler serve builds for LOG_FORMAT=json.
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	counting := &countingSessions{}
	svc, err := app.New(context.Background(), cfg, app.Options{
		Now:    clk.Now,
		Logger: logger,
		WrapSessions: func(inner store.SessionStore) store.SessionStore {
			counting.SessionStore = inner
			return counting
		},
	})
	require.NoError(t, err)
	s := &server{t: t, clock: clk, app: svc, handler: svc.Handler(), dataDir: dataDir, env: env,
		sessions: counting, logs: logs}
	t.Cleanup(func() { _ = svc.Close() })
	return s
}

// stop closes the server so another can open its data directory.
func (s *server) stop() {
	require.NoError(s.t, s.app.Close())
}

// option changes a request before it is sent.
type option func(*http.Request)

func basicAuth(email, password string) option {
	return func(r *http.Request) {
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(email+":"+password)))
	}
}

func header(key, value string) option {
	return func(r *http.Request) { r.Header.Set(key, value) }
}

func asAdmin() option { return basicAuth(adminEmail, adminPassword) }

// do sends one request through the router.
func (s *server) do(method, path, body string, opts ...option) *httptest.ResponseRecorder {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	validateResponse(s.t, req, rec)
	return rec
}

// userJSON mirrors the user object for decoding responses.
type userJSON struct {
	CreatedAt *string `json:"created_at"`
	Email     *string `json:"email"`
	FirstName *string `json:"first_name"`
	ID        string  `json:"id"`
	LastName  *string `json:"last_name"`
	Role      string  `json:"role"`
	UpdatedAt *string `json:"updated_at"`
}

// createUser creates a user through the API as the admin.
func (s *server) createUser(email string) userJSON {
	s.t.Helper()
	rec := s.do("POST", "/api/v1/users", `{"email":"`+email+`","password":"`+userPassword+`"}`, asAdmin())
	require.Equal(s.t, http.StatusCreated, rec.Code, rec.Body.String())
	var u userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &u))
	return u
}

// userByEmail finds a user through the API as the admin.
func (s *server) userByEmail(email string) userJSON {
	s.t.Helper()
	rec := s.do("GET", "/api/v1/users", "", asAdmin())
	require.Equal(s.t, http.StatusOK, rec.Code)
	var users []userJSON
	require.NoError(s.t, json.Unmarshal(rec.Body.Bytes(), &users))
	for _, u := range users {
		if u.Email != nil && strings.EqualFold(*u.Email, email) {
			return u
		}
	}
	s.t.Fatalf("no user %s", email)
	return userJSON{}
}

// assertError checks an error answer: status, exact body, JSON type.
func assertError(t *testing.T, rec *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	assert.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	assert.JSONEq(t, `{"error":`+quote(msg)+`}`, rec.Body.String())
	assert.Equal(t, `{"error":`+quote(msg)+`}`, rec.Body.String(), "compact, exact body")
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
}

// assertBody checks a success answer's status and exact body.
func assertBody(t *testing.T, rec *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	assert.Equal(t, status, rec.Code, "body: %s", rec.Body.String())
	assert.Equal(t, body, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
