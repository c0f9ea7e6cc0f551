package tests

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store/postgres/pgtest"
)

// redisServer is a redis-server of the test's own on a free port, which
// the test stops and starts again (empty: it keeps nothing on disk).
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startRedisServer(t *testing.T) *redisServer {
	r := &redisServer{t: t, port: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	require.NoError(r.t, r.cmd.Start(), "redis-server must be installed")
	waitFor(r.t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (r *redisServer) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// tcpProxy forwards a local port to target until cut, and again once
// restored, as a network outage would.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// cut closes the listener and every connection through it.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// statuses records every status the test saw, to check that none was a
// 500.
type statuses struct {
	mu   sync.Mutex
	seen []int
}

func (s *statuses) add(r httpResult) httpResult {
	s.mu.Lock()
	s.seen = append(s.seen, r.status)
	s.mu.Unlock()
	return r
}

// Redis and PostgreSQL go away during traffic and come back: the API
// answers 503 (never 500, never a hang), /readyz says so without naming
// anything secret, and service resumes by itself.
func TestBackendOutagesThroughTheAPI(t *testing.T) {
	rs := startRedisServer(t)
	schemaURL, err := url.Parse(pgtest.Schema(t))
	require.NoError(t, err)
	pg := startProxy(t, schemaURL.Host)
	schemaURL.Host = pg.addr
	schemaURL.User = url.UserPassword("postgres", "not-shown-anywhere")
	env := sharedEnv(t, schemaURL.String(), fmt.Sprintf("redis://127.0.0.1:%d/0", rs.port))
	p := startProcess(t, env)

	var seen statuses
	get := func(path, cookie string) httpResult {
		start := time.Now()
		r := seen.add(call(t, p, "GET", path, cookie, ""))
		assert.Less(t, time.Since(start), 8*time.Second, "bounded: %s", path)
		return r
	}
	login := func() httpResult {
		return seen.add(call(t, p, "POST", "/api/v1/auth_session/login", "",
			fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, adminPassword)))
	}
	unavailable := func(r httpResult, what string) {
		t.Helper()
		assert.Equal(t, 503, r.status, what)
		assert.JSONEq(t, `{"error":"Service unavailable"}`, r.body, what)
	}
	notReady := func(what string) {
		t.Helper()
		r := get("/readyz", "")
		assert.Equal(t, 503, r.status, what)
		for _, secret := range []string{"not-shown-anywhere", schemaURL.Host, fmt.Sprint(rs.port), sharedSecret} {
			assert.NotContains(t, r.body, secret, what)
		}
	}

	cookie := loginOn(t, p, adminEmail, adminPassword)
	require.Equal(t, 200, get("/api/v1/users/me", cookie).status)
	require.Equal(t, 200, get("/readyz", "").status)

	// Redis away: sessions and login limits cannot be read.
	rs.stop()
	unavailable(get("/api/v1/users/me", cookie), "session lookup, Redis down")
	unavailable(login(), "login, Redis down")
	notReady("Redis down")
	assert.Equal(t, 200, get("/healthz", "").status, "the process itself is fine")

	// Back, empty: the old session is gone, a new login works.
	rs.start()
	waitFor(t, func() bool { return get("/readyz", "").status == 200 })
	assert.Equal(t, 403, get("/api/v1/users/me", cookie).status)
	r := login()
	require.Equal(t, 200, r.status, r.body)
	cookie = loginOn(t, p, adminEmail, adminPassword)

	// PostgreSQL away: the caller is read fresh from the users store.
	pg.cut()
	unavailable(get("/api/v1/users/me", cookie), "PostgreSQL down")
	unavailable(get("/api/v1/users", cookie), "PostgreSQL down")
	notReady("PostgreSQL down")
	pg.restore()
	waitFor(t, func() bool { return get("/readyz", "").status == 200 })
	assert.Equal(t, 200, get("/api/v1/users/me", cookie).status, "recovered")

	seen.mu.Lock()
	defer seen.mu.Unlock()
	assert.NotContains(t, seen.seen, 500)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done // the log is complete and no longer written
	assert.NotContains(t, p.stderr.String(), "not-shown-anywhere", "no secret in a log")
}
