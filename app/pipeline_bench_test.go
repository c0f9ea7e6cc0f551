package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"simpleapi/config"
	"simpleapi/metrics"
)

// BenchmarkPipeline serves the requests of bench/http.sh's throughput
// rounds in process, through the whole server: net/http's connection
// handling (parsing, response headers), the router and every middleware,
// with the logger serve builds (LOG_FORMAT=text, here into a file) and a
// metrics registry. Only the socket is
// replaced, by a connection that hands out the same keep-alive request
// b.N times and throws the answers away, so the figures leave out the
// system calls that a bare handler pays too. "bare" is bench/baregin's
// handler over the same connection, the yardstick. Run with
//
//	go test -run '^$' -bench Pipeline -benchmem ./app
//
// Instruction counts per request (repeatable on a busy machine): run
// the test binary under valgrind --tool=callgrind with two values of
// -test.benchtime=Nx and divide the difference by the difference of N.
func BenchmarkPipeline(b *testing.B) {
	bare := gin.New()
	bare.GET("/api/v1/status", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "OK"}) })
	b.Run("bare", func(b *testing.B) { benchServe(b, bare, "/api/v1/status", "") })

	warn := newBenchService(b, "warn")
	info := newBenchService(b, "info")
	b.Run("status_warn", func(b *testing.B) { benchServe(b, warn.handler, "/api/v1/status", "") })
	b.Run("users_me_warn", func(b *testing.B) { benchServe(b, warn.handler, "/api/v1/users/me", warn.cookie) })
	// The same request by personal access token: one lookup by hash, no
	// argon2id, no store write (its last use is written once a minute).
	b.Run("users_me_token_warn", func(b *testing.B) { benchServe(b, warn.handler, "/api/v1/users/me", warn.token) })
	b.Run("users_me_info", func(b *testing.B) {
		before := info.logSize(b)
		benchServe(b, info.handler, "/api/v1/users/me", info.cookie)
		// Each access-log line is over 200 bytes.
		if n := info.logSize(b) - before; n < 200*int64(b.N) {
			b.Fatalf("%d bytes of log for %d requests", n, b.N)
		}
	})
}

type benchService struct {
	handler http.Handler
	cookie  string // the Cookie header of a signed-in admin's session
	token   string // the Authorization header of that admin's access token
	logFile string
}

// logSize is the size of the log written so far. (Reading the log to
// count its lines would add to the instructions counted per request.)
func (s benchService) logSize(b *testing.B) int64 {
	fi, err := os.Stat(s.logFile)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// newBenchService starts the service as bench/http.sh does (session_db_auth
// with its default stores, TRUSTED_PROXIES=127.0.0.1) at logLevel, its log
// going to a file.
func newBenchService(b *testing.B, logLevel string) benchService {
	b.Helper()
	dir := b.TempDir()
	env := map[string]string{
		"DATA_DIR":          filepath.Join(dir, "data"),
		"ADMIN_EMAIL":       "bench@example.com",
		"ADMIN_PASSWORD":    "bench-password-1",
		"ARGON2_MEMORY_KIB": "64", // only the login hashes
		"ARGON2_ITERATIONS": "1",
		"TRUSTED_PROXIES":   "127.0.0.1",
		"LOG_LEVEL":         logLevel,
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	svc, err := New(context.Background(), cfg, Options{Logger: newLogger(cfg, f), Metrics: metrics.New()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })

	form := url.Values{"email": {env["ADMIN_EMAIL"]}, "password": {env["ADMIN_PASSWORD"]}}.Encode()
	req := httptest.NewRequest("POST", "/api/v1/auth_session/login", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cookies) == 0 {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cookie := "Cookie: " + cookies[0].Name + "=" + cookies[0].Value
	req = httptest.NewRequest("POST", "/api/v1/users/me/tokens", strings.NewReader(`{"name":"bench","scope":"read"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookies[0].Name+"="+cookies[0].Value)
	rec = httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, req)
	var tok struct{ Token string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &tok) != nil {
		b.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return benchService{handler: svc.Handler(), cookie: cookie, token: "Authorization: Bearer " + tok.Token,
		logFile: f.Name()}
}

// benchServe answers b.N keep-alive requests for path (with the
// credentials header, "Name: value", when set) on one connection of a
// server made by newHTTPServer.
func benchServe(b *testing.B, h http.Handler, path, credentials string) {
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if credentials != "" {
		req += credentials + "\r\n"
	}
	req += "\r\n"

	ln := &benchListener{conns: make(chan net.Conn)}
	srv := newHTTPServer(h, slog.New(slog.DiscardHandler))
	served := make(chan struct{})
	go func() { srv.Serve(ln); close(served) }()
	defer func() { srv.Close(); <-served }()

	// One request first: it must succeed, and the connection's set-up is
	// not part of the figures.
	check := newBenchConn(req, 1)
	ln.conns <- check
	<-check.closed
	if !bytes.HasPrefix(check.first, []byte("HTTP/1.1 200 ")) {
		b.Fatalf("answer: %q", check.first)
	}

	b.ReportAllocs()
	b.ResetTimer()
	c := newBenchConn(req, b.N)
	ln.conns <- c
	<-c.closed
	b.StopTimer()
	if c.answers != b.N || c.ok != b.N {
		b.Fatalf("%d answers, %d of them 200, to %d requests", c.answers, c.ok, b.N)
	}
}

// benchConn is a client connection that sends one request n times,
// each once the answer to the one before has arrived, as each of wrk's
// connections does. Like a socket, a read waits while the client waits
// for an answer, and fails with a timeout once the read deadline has
// passed (net/http's background read between requests relies on both).
type benchConn struct {
	mu          sync.Mutex
	cond        sync.Cond
	req         []byte
	left        int    // requests not yet sent
	pending     []byte // rest of the request being sent
	outstanding int    // requests sent and not yet answered
	expired     bool   // the read deadline has passed
	answers     int
	ok          int    // answers with status 200
	first       []byte // the first answer's first bytes
	once        sync.Once
	closed      chan struct{}
}

func newBenchConn(req string, n int) *benchConn {
	c := &benchConn{req: []byte(req), left: n, closed: make(chan struct{})}
	c.cond.L = &c.mu
	return c
}

func (c *benchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case len(c.pending) > 0:
			n := copy(p, c.pending)
			c.pending = c.pending[n:]
			return n, nil
		case c.outstanding == 0 && c.left > 0:
			c.left--
			c.outstanding++
			c.pending = c.req
		case c.outstanding == 0:
			return 0, io.EOF
		case c.expired:
			return 0, os.ErrDeadlineExceeded
		default:
			c.cond.Wait()
		}
	}
}

func (c *benchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == nil {
		c.first = append([]byte(nil), p[:min(len(p), 64)]...)
	}
	if bytes.HasPrefix(p, []byte("HTTP/1.1 ")) { // each answer is one write
		c.answers++
		if bytes.HasPrefix(p, []byte("HTTP/1.1 200 ")) {
			c.ok++
		}
		c.outstanding--
		c.cond.Broadcast()
	}
	return len(p), nil
}

func (c *benchConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expired = !t.IsZero() && !t.After(time.Now())
	c.cond.Broadcast()
	return nil
}

func (c *benchConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *benchConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *benchConn) LocalAddr() net.Addr              { return benchAddr }
func (c *benchConn) RemoteAddr() net.Addr             { return benchAddr }
func (c *benchConn) SetWriteDeadline(time.Time) error { return nil }

var benchAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

// benchListener hands the server the connections sent on conns.
type benchListener struct {
	conns chan net.Conn
	once  sync.Once
}

func (l *benchListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

func (l *benchListener) Close() error {
	l.once.Do(func() { close(l.conns) })
	return nil
}

func (l *benchListener) Addr() net.Addr { return benchAddr }
