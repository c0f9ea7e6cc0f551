package redis

import (
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// privateRedis runs a redis-server of the test's own on a free port; stop
// ends it and start starts it again on the same port.
type privateRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startPrivateRedis(t *testing.T) *privateRedis {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	r := &privateRedis{t: t, port: port}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) start() {
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	require.NoError(r.t, r.cmd.Start(), "redis-server must be installed")
	// Wait for it to listen (the process start, not a clock, is awaited).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			_ = c.Close()
			return
		}
		require.True(r.t, time.Now().Before(deadline), "redis-server did not start")
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *privateRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Down, stalled and back: every operation answers EUNAVAILABLE within a
// bounded time while Redis is away, works again once it is back, and
// leaves no goroutine behind.
func TestOutage(t *testing.T) {
	before := runtime.NumGoroutine()
	r := startPrivateRedis(t)
	c, _, err := Open(r.url())
	require.NoError(t, err)
	ss := NewSessions(c, Options{Prefix: "outage:"})
	lim := NewLimiter(c, testLimits, Options{Prefix: "outage:"})
	ctx := t.Context()
	s := session(1, "alice")
	s.ExpiresAt = time.Now().Add(time.Hour)
	require.NoError(t, ss.CreateSession(ctx, s))

	ops := map[string]func() error{
		"lookup": func() error { _, err := ss.SessionByFamily(ctx, s.Family); return err },
		"byID":   func() error { _, err := ss.SessionByID(ctx, s.ID); return err },
		"list":   func() error { _, err := ss.ListSessions(ctx, "alice"); return err },
		"touch":  func() error { return ss.TouchSession(ctx, s.ID, time.Now(), time.Time{}) },
		"rotate": func() error {
			_, err := ss.RotateToken(ctx, s.ID, s.TokenHash, store.Rotation{Family: s.Family, TokenHash: session(3, "x").TokenHash, RotatedAt: time.Now()})
			return err
		},
		"count":  func() error { _, err := ss.CountSessions(ctx); return err },
		"create": func() error { return ss.CreateSession(ctx, session(2, "bob")) },
		"allow":  func() error { _, _, err := lim.Allow(ctx, "bob", "198.51.100.1"); return err },
		"ping":   func() error { return Ping(ctx, c) },
	}
	expectUnavailable := func(what string) {
		for name, op := range ops {
			start := time.Now()
			err := op()
			assert.Equal(t, store.EUNAVAILABLE, store.ErrorCode(err), "%s %s: %v", what, name, err)
			assert.Less(t, time.Since(start), OpTimeout+time.Second, "%s %s: bounded", what, name)
		}
	}

	r.stop()
	expectUnavailable("down")

	r.start()
	_, err = ss.SessionByID(ctx, s.ID)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err), "back (empty: it kept nothing)")
	require.NoError(t, ss.CreateSession(ctx, s))
	_, err = ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err)

	// Stalled: the server accepts nothing more but keeps its sockets open.
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGSTOP))
	expectUnavailable("stalled")
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGCONT))
	_, err = ss.SessionByFamily(ctx, s.Family)
	require.NoError(t, err, "recovered after the stall")

	require.NoError(t, c.Close())
	r.stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
}
