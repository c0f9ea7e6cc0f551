package tests

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
)

// ---- access log ----

// logEntries parses every line the service logged.
func logEntries(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

// accessLines returns the access log lines ("msg":"request") by request id.
func accessLines(t *testing.T, logs string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for _, e := range logEntries(t, logs) {
		if e["msg"] == "request" {
			id, _ := e["request_id"].(string)
			out[id] = append(out[id], e)
		}
	}
	return out
}

func TestAccessLog(t *testing.T) {
	s := newSessionServer(t)
	admin := s.userByEmailAsCookieAdmin(t, adminEmail)

	type sent struct {
		name   string
		rec    *httptest.ResponseRecorder
		method string
		route  string
		userID string // "" when not authenticated
	}
	var reqs []sent
	do := func(name, method, path, body, route, userID string, opts ...option) *httptest.ResponseRecorder {
		rec := s.do(method, path, body, opts...)
		reqs = append(reqs, sent{name: name, rec: rec, method: method, route: route, userID: userID})
		return rec
	}
	// Only the requests below are counted.
	s.logs.Reset()

	cookie := s.sessionCookie(adminEmail, adminPassword)
	reqs = append(reqs, sent{name: "login", method: "POST", route: "/api/v1/auth_session/login"})

	rec := do("public", "GET", "/api/v1/status", "", "/api/v1/status", "", header("X-Request-ID", "ops-status-1"))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "ops-status-1", rec.Header().Get("X-Request-ID"), "a sane request id is echoed")

	rec = do("authenticated", "GET", "/api/v1/users/me?api_key=query-secret-7", "", "/api/v1/users/:id", admin.ID,
		withCookie(cookie))
	require.Equal(t, 200, rec.Code)

	rec = do("failed login", "POST", "/api/v1/auth_session/login", "email="+adminEmail+"&password=ops-wrong-secret-9",
		"/api/v1/auth_session/login", "", form())
	require.Equal(t, 401, rec.Code)

	rec = do("json login", "POST", "/api/v1/auth_session/login",
		`{"email":"`+adminEmail+`","password":"ops-wrong-secret-10"}`, "/api/v1/auth_session/login", "")
	require.Equal(t, 401, rec.Code)

	rec = do("unmatched", "GET", "/api/v1/nothing/path-secret-8", "", "unmatched", admin.ID, withCookie(cookie))
	require.Equal(t, 404, rec.Code)

	// A Bearer header is an access token (docs/tokens.md): a malformed one is 401.
	rec = do("denied", "GET", "/api/v1/users", "", "/api/v1/users", "", header("Authorization", "Bearer header-secret-11"))
	require.Equal(t, 401, rec.Code)

	// Insane request ids are replaced by generated ones.
	for i, bad := range []string{strings.Repeat("a", 129), "has space", "line\nbreak", "quote\"d", "é"} {
		rec = do(fmt.Sprintf("bad id %d", i), "GET", "/api/v1/status", "", "/api/v1/status", "", header("X-Request-ID", bad))
		require.Equal(t, 200, rec.Code)
		got := rec.Header().Get("X-Request-ID")
		assert.NotEqual(t, bad, got)
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, got, "generated: a UUIDv4")
	}

	logs := s.logs.String()
	lines := accessLines(t, logs)
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	assert.Equal(t, len(reqs), total, "one access line per request")

	for _, r := range reqs {
		if r.rec == nil {
			continue // the login of sessionCookie, checked below
		}
		id := r.rec.Header().Get("X-Request-ID")
		require.NotEmpty(t, id, r.name)
		require.Len(t, lines[id], 1, "%s: one line for request %s", r.name, id)
		e := lines[id][0]
		assert.Equal(t, "INFO", e["level"], r.name)
		assert.Equal(t, r.method, e["method"], r.name)
		assert.Equal(t, r.route, e["route"], r.name)
		assert.Equal(t, float64(r.rec.Code), e["status"], r.name)
		assert.Equal(t, float64(r.rec.Body.Len()), e["bytes"], r.name)
		assert.Equal(t, "192.0.2.1", e["client_ip"], r.name)
		assert.Equal(t, id, e["request_id"], r.name)
		d, ok := e["duration_ms"].(float64)
		assert.True(t, ok && d >= 0, "%s: duration_ms is a number: %v", r.name, e["duration_ms"])
		if r.userID != "" {
			assert.Equal(t, r.userID, e["user_id"], r.name)
		} else {
			assert.NotContains(t, e, "user_id", r.name)
		}
		// Nothing else: no path, query, header, cookie or body.
		for k := range e {
			assert.Contains(t, []string{"time", "level", "msg", "method", "route", "status", "duration_ms",
				"bytes", "client_ip", "request_id", "user_id"}, k, "%s: unexpected attribute", r.name)
		}
	}
	// The login that made the cookie has its line too, without user_id:
	// the request was not authenticated when it arrived.
	logins := 0
	for _, l := range lines {
		for _, e := range l {
			if e["route"] == "/api/v1/auth_session/login" && e["status"] == float64(200) {
				logins++
				assert.NotContains(t, e, "user_id")
			}
		}
	}
	assert.Equal(t, 1, logins)

	for _, secret := range []string{adminPassword, "ops-wrong-secret-9", "ops-wrong-secret-10", cookie.Value,
		"query-secret-7", "api_key", "path-secret-8", "header-secret-11", "Bearer"} {
		assert.NotContains(t, logs, secret)
	}
	assert.NotContains(t, logs, "/users/me", "the route template is logged, never the path")
}

// userByEmailAsCookieAdmin finds a user through the API with an admin
// session.
func (s *server) userByEmailAsCookieAdmin(t *testing.T, email string) userJSON {
	t.Helper()
	rec := s.do("GET", "/api/v1/users", "", withCookie(s.adminCookie()))
	require.Equal(t, 200, rec.Code)
	var users []userJSON
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &users))
	for _, u := range users {
		if u.Email != nil && strings.EqualFold(*u.Email, email) {
			return u
		}
	}
	t.Fatalf("no user %s", email)
	return userJSON{}
}

func TestAccessLogBasicAuth(t *testing.T) {
	s := newServer(t)
	admin := s.userByEmail(adminEmail)
	s.logs.Reset()
	rec := s.do("GET", "/api/v1/users/"+admin.ID, "", asAdmin(), header("X-Request-ID", "basic-1"))
	require.Equal(t, 200, rec.Code)
	rec = s.do("GET", "/api/v1/stats", "", basicAuth(adminEmail, "not-the-password-12"), header("X-Request-ID", "basic-2"))
	require.Equal(t, 403, rec.Code)

	lines := accessLines(t, s.logs.String())
	require.Len(t, lines["basic-1"], 1)
	assert.Equal(t, "/api/v1/users/:id", lines["basic-1"][0]["route"])
	assert.Equal(t, admin.ID, lines["basic-1"][0]["user_id"])
	require.Len(t, lines["basic-2"], 1)
	assert.Equal(t, float64(403), lines["basic-2"][0]["status"])
	assert.NotContains(t, lines["basic-2"][0], "user_id")

	logs := s.logs.String()
	for _, secret := range []string{adminPassword, "not-the-password-12", "Basic ", "Authorization"} {
		assert.NotContains(t, logs, secret)
	}
}

// ---- metrics ----

// metricsSnapshot is one scrape of a metrics handler.
type metricsSnapshot map[string]*dto.MetricFamily

// scrape reads h in the text exposition format, as Prometheus would.
func scrape(t *testing.T, h http.Handler) metricsSnapshot {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	return parseMetrics(t, rec.Body)
}

func parseMetrics(t *testing.T, r io.Reader) metricsSnapshot {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	require.NoError(t, err)
	return families
}

// value sums the samples of name whose labels include all of labels
// ("name", "value", ...): a counter's or gauge's value, a histogram's
// sample count. An absent series is 0.
func (m metricsSnapshot) value(name string, labels ...string) float64 {
	f, ok := m[name]
	if !ok {
		return 0
	}
	sum := 0.0
outer:
	for _, metric := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range metric.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue outer
			}
		}
		switch {
		case metric.Counter != nil:
			sum += metric.Counter.GetValue()
		case metric.Gauge != nil:
			sum += metric.Gauge.GetValue()
		case metric.Histogram != nil:
			sum += float64(metric.Histogram.GetSampleCount())
		case metric.Untyped != nil:
			sum += metric.Untyped.GetValue()
		}
	}
	return sum
}

const (
	mRequests   = "simpleapi_http_requests_total"
	mDuration   = "simpleapi_http_request_duration_seconds"
	mLogins     = "simpleapi_login_attempts_total"
	mSessions   = "simpleapi_active_sessions"
	mHash       = "simpleapi_password_hash_seconds"
	mStoreWrite = "simpleapi_store_write_seconds"
)

var loginOutcomes = []string{"success", "unknown_email", "wrong_password", "throttled", "invalid"}

func TestMetricsFlow(t *testing.T) {
	s := newSessionServer(t)
	countSessions := func() float64 {
		n, err := s.app.SessionStore().CountSessions(t.Context())
		require.NoError(t, err)
		return float64(n)
	}

	before := scrape(t, s.app.Metrics())
	// Everything but the per-route series is exported from the start,
	// every login outcome at zero.
	for _, name := range []string{mLogins, mSessions, mHash, mStoreWrite} {
		_, ok := before[name]
		require.True(t, ok, "%s exported from the start", name)
	}
	require.Len(t, before[mLogins].GetMetric(), len(loginOutcomes))
	for _, o := range loginOutcomes {
		assert.Equal(t, 0.0, before.value(mLogins, "outcome", o), o)
	}
	assert.Equal(t, countSessions(), before.value(mSessions))
	verifications := s.app.Hasher().Verifications()

	require.Equal(t, 200, s.do("GET", "/api/v1/status", "").Code)
	require.Equal(t, 401, s.login(adminEmail, "wrong-password-1").Code)
	cookie := s.sessionCookie(adminEmail, adminPassword)

	during := scrape(t, s.app.Metrics())
	assert.Equal(t, before.value(mSessions)+1, during.value(mSessions))
	assert.Equal(t, countSessions(), during.value(mSessions), "the gauge reads the store")

	require.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", withCookie(cookie)).Code)
	require.Equal(t, 200, s.do("DELETE", "/api/v1/auth_session/logout", "", withCookie(cookie)).Code)

	after := scrape(t, s.app.Metrics())
	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	assert.Equal(t, 5.0, delta(mRequests), "five requests in all")
	assert.Equal(t, 1.0, delta(mRequests, "route", "/api/v1/status", "method", "GET", "status", "200"))
	assert.Equal(t, 1.0, delta(mRequests, "route", "/api/v1/auth_session/login", "method", "POST", "status", "401"))
	assert.Equal(t, 1.0, delta(mRequests, "route", "/api/v1/auth_session/login", "method", "POST", "status", "200"))
	assert.Equal(t, 1.0, delta(mRequests, "route", "/api/v1/users/:id", "method", "GET", "status", "200"),
		"labelled with the route template")
	assert.Equal(t, 1.0, delta(mRequests, "route", "/api/v1/auth_session/logout", "method", "DELETE", "status", "200"))
	assert.Equal(t, 5.0, delta(mDuration))
	assert.Equal(t, 2.0, delta(mDuration, "route", "/api/v1/auth_session/login", "method", "POST"))
	assert.Equal(t, 1.0, delta(mDuration, "route", "/api/v1/users/:id", "method", "GET"))

	assert.Equal(t, 1.0, delta(mLogins, "outcome", "wrong_password"))
	assert.Equal(t, 1.0, delta(mLogins, "outcome", "success"))
	assert.Equal(t, 2.0, delta(mLogins))

	// Two password verifications, each one argon2 computation; no hash
	// was made (no rehash, no new password).
	assert.Equal(t, uint64(2), s.app.Hasher().Verifications()-verifications)
	assert.Equal(t, 2.0, delta(mHash))
	// Two durable writes: the session created at login and deleted at
	// logout; each request waited for its own.
	assert.Equal(t, 2.0, delta(mStoreWrite))

	assert.Equal(t, before.value(mSessions), after.value(mSessions))
	assert.Equal(t, countSessions(), after.value(mSessions))

	// Requests that match no route are one series, whatever their path;
	// unknown methods are "other".
	s.do("GET", "/api/v1/a/b/c", "", withCookie(s.adminCookie()))
	s.do("GET", "/nowhere/"+strings.Repeat("x", 50), "")
	s.do("BREW", "/api/v1/status", "")
	last := scrape(t, s.app.Metrics())
	for _, m := range last[mRequests].GetMetric() {
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "route":
				assert.True(t, lp.GetValue() == "unmatched" || strings.HasPrefix(lp.GetValue(), "/"), lp.GetValue())
				assert.NotContains(t, lp.GetValue(), "/a/b/c")
				assert.NotContains(t, lp.GetValue(), "xxxx")
			case "method":
				assert.NotEqual(t, "BREW", lp.GetValue())
			}
		}
	}
	assert.Equal(t, 2.0, last.value(mRequests, "route", "unmatched", "method", "GET")-after.value(mRequests, "route", "unmatched", "method", "GET"))
	assert.Equal(t, 1.0, last.value(mRequests, "method", "other")-after.value(mRequests, "method", "other"))
}

func TestMetricsLoginOutcomes(t *testing.T) {
	// One failure is enough to start the delay; the test clock stands
	// still, so the next attempt on that account is throttled.
	s := newSessionServer(t, "LOGIN_MAX_FAILURES", "1")
	before := scrape(t, s.app.Metrics())
	verifications := s.app.Hasher().Verifications()

	assert.Equal(t, 404, s.login("ghost@example.com", "ghost-password-1").Code)
	assert.Equal(t, 429, s.login("ghost@example.com", "ghost-password-1").Code)
	assert.Equal(t, 400, s.login(adminEmail, "").Code)
	assert.Equal(t, 400, s.login("", "some-password-1").Code)
	assert.Equal(t, 400, s.do("POST", "/api/v1/auth_session/login", `["not","an","object"]`).Code)
	assert.Equal(t, 200, s.login(adminEmail, adminPassword).Code)

	after := scrape(t, s.app.Metrics())
	want := map[string]float64{"success": 1, "unknown_email": 1, "wrong_password": 0, "throttled": 1, "invalid": 3}
	for _, o := range loginOutcomes {
		assert.Equal(t, want[o], after.value(mLogins, "outcome", o)-before.value(mLogins, "outcome", o), o)
	}
	// The unknown email costs a dummy verification, the success a real
	// one; throttled and invalid attempts cost none.
	assert.Equal(t, uint64(2), s.app.Hasher().Verifications()-verifications)
	assert.Equal(t, 2.0, after.value(mHash)-before.value(mHash))
}

func TestMetricsBasicAuthHasNoSessionGauge(t *testing.T) {
	s := newServer(t)
	require.Equal(t, 200, s.do("GET", "/api/v1/stats", "", asAdmin()).Code)
	m := scrape(t, s.app.Metrics())
	_, ok := m[mSessions]
	assert.False(t, ok, "no session gauge without sessions")
	assert.Equal(t, 1.0, m.value(mRequests, "route", "/api/v1/stats", "method", "GET", "status", "200"))
	// The admin created at start-up was hashed and written.
	assert.GreaterOrEqual(t, m.value(mHash), 2.0, "start-up hash and this request's verification")
	assert.GreaterOrEqual(t, m.value(mStoreWrite), 1.0)
	// The API itself does not serve the metrics.
	rec := s.do("GET", "/metrics", "")
	assert.Equal(t, 404, rec.Code)
	assert.NotContains(t, rec.Body.String(), "simpleapi_")
}

// ---- TLS and the metrics listener, with the real binary ----

// writeSelfSigned writes a self-signed ECDSA certificate for 127.0.0.1
// and localhost, and its key, as PEM files in dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "simpleapi test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)

	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// startServe runs "simpleapi serve" with env (JSON logs at INFO) on a
// free port and waits until /healthz answers through client. It returns
// the process, its stderr and the API's base URL.
func startServe(t *testing.T, env map[string]string, scheme string, client *http.Client) (*process, *testkit.LockedBuffer, string) {
	t.Helper()
	port := testkit.FreePort(t)
	env["API_HOST"] = "127.0.0.1"
	env["API_PORT"] = strconv.Itoa(port)
	env["LOG_LEVEL"] = "info"
	env["LOG_FORMAT"] = "json"
	cmd := exec.Command(binary, "serve")
	cmd.Env = envList(env)
	logs := &testkit.LockedBuffer{}
	cmd.Stderr = logs
	p := &process{cmd: cmd, port: port, done: make(chan error, 1)}
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p, logs, base
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server did not start:\n%s", logs.String())
	return nil, nil, ""
}

// stopProcess sends SIGTERM and waits for a clean exit.
func stopProcess(t *testing.T, p *process) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}

func TestTLSRoundTrip(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeSelfSigned(t, t.TempDir())
	env := testEnv(dir)
	env["AUTH_TYPE"] = "session_db_auth"
	env["TLS_CERT_FILE"] = certFile
	env["TLS_KEY_FILE"] = keyFile
	// COOKIE_SECURE is left at its default, auto.
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	p, stderr, base := startServe(t, env, "https", client)

	// Log in over HTTPS: the cookie is Secure.
	form := url.Values{"email": {adminEmail}, "password": {adminPassword}}
	resp, err := client.PostForm(base+"/api/v1/auth_session/login", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NotNil(t, resp.TLS, "answered over TLS")
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "_my_session_id" {
			session = c
		}
	}
	require.NotNil(t, session)
	assert.True(t, session.Secure, "COOKIE_SECURE=auto gives a Secure cookie over TLS")
	assert.True(t, session.HttpOnly)
	assert.Contains(t, resp.Header.Values("Set-Cookie")[0], "; Secure")

	// The cookie works over HTTPS.
	req, _ := http.NewRequest("GET", base+"/api/v1/users/me", nil)
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err = client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(body))
	assert.Contains(t, string(body), adminEmail)

	// Plain HTTP on the TLS port gets nowhere.
	resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", p.port))
	if err == nil {
		resp.Body.Close()
		assert.NotEqual(t, 200, resp.StatusCode)
	}

	// The health check speaks TLS when TLS_CERT_FILE is set...
	code, stdout, errOut := command(t, env, "", "healthcheck")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, stdout, "OK")
	// ...also without TLS_CERT_FILE, since it follows the address the
	// server recorded in DATA_DIR; with no recorded address, a plain
	// check of API_HOST:API_PORT fails against the TLS server.
	plain := map[string]string{}
	for k, v := range env {
		if k != "TLS_CERT_FILE" && k != "TLS_KEY_FILE" {
			plain[k] = v
		}
	}
	code, _, errOut = command(t, plain, "", "healthcheck")
	assert.Equal(t, 0, code, errOut)
	plain["DATA_DIR"] = t.TempDir()
	code, _, _ = command(t, plain, "", "healthcheck")
	assert.NotEqual(t, 0, code)

	stopProcess(t, p)
	logs := stderr.String()
	for _, secret := range []string{adminPassword, session.Value} {
		assert.NotContains(t, logs, secret)
	}
	access := accessLines(t, logs)
	found := false
	for _, lines := range access {
		for _, e := range lines {
			if e["route"] == "/api/v1/users/:id" {
				found = true
				assert.Equal(t, "127.0.0.1", e["client_ip"])
				assert.Equal(t, float64(200), e["status"])
				assert.NotEmpty(t, e["user_id"])
			}
		}
	}
	assert.True(t, found, "the process wrote access lines:\n%s", logs)
}

func TestTLSBadCertificateStopsStart(t *testing.T) {
	dir := t.TempDir()
	env := testEnv(dir)
	env["API_PORT"] = strconv.Itoa(testkit.FreePort(t))
	env["TLS_CERT_FILE"] = filepath.Join(dir, "missing-cert.pem")
	env["TLS_KEY_FILE"] = filepath.Join(dir, "missing-key.pem")
	code, _, stderr := command(t, env, "", "serve")
	assert.Equal(t, 2, code, "a bad setting")
	assert.Contains(t, stderr, "TLS_CERT_FILE")
	assert.Contains(t, stderr, "missing-cert.pem")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	assert.NotContains(t, stderr, "listening")
}

func TestMetricsListener(t *testing.T) {
	env := testEnv(t.TempDir())
	env["AUTH_TYPE"] = "session_db_auth"
	metricsAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	env["METRICS_ADDR"] = metricsAddr
	client := &http.Client{Timeout: 10 * time.Second}
	p, _, base := startServe(t, env, "http", client)

	form := url.Values{"email": {adminEmail}, "password": {"wrong-password-2"}}
	resp, err := client.PostForm(base+"/api/v1/auth_session/login", form)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)

	// The metrics listener serves /metrics...
	resp, err = client.Get("http://" + metricsAddr + "/metrics")
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	m := parseMetrics(t, resp.Body)
	resp.Body.Close()
	for _, name := range []string{mRequests, mDuration, mLogins, mSessions, mHash, mStoreWrite,
		"go_goroutines", "process_resident_memory_bytes"} {
		_, ok := m[name]
		assert.True(t, ok, name)
	}
	assert.GreaterOrEqual(t, m.value(mRequests, "route", "/healthz", "method", "GET", "status", "200"), 1.0)
	assert.Equal(t, 1.0, m.value(mLogins, "outcome", "wrong_password"))
	assert.Equal(t, 0.0, m.value(mSessions))

	// ...and nothing else.
	resp, err = client.Get("http://" + metricsAddr + "/api/v1/status")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode, "the API is not on the metrics listener")

	// The API's listener does not serve the metrics.
	for _, path := range []string{"/metrics", "/api/v1/metrics"} {
		resp, err = client.Get(base + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, []int{401, 404}, resp.StatusCode, path)
		assert.NotContains(t, string(body), "simpleapi_", path)
	}

	stopProcess(t, p)
	// Both listeners are closed after a stop.
	_, err = client.Get("http://" + metricsAddr + "/metrics")
	assert.Error(t, err)
}

func TestMetricsListenerOffByDefault(t *testing.T) {
	env := testEnv(t.TempDir())
	client := &http.Client{Timeout: 10 * time.Second}
	p, logs, _ := startServe(t, env, "http", client)
	stopProcess(t, p)
	assert.NotContains(t, logs.String(), "serving metrics")
	assert.Contains(t, logs.String(), `"msg":"listening"`)
}
