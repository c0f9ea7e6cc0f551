package testkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every connection with what it reads.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _, _ = io.Copy(c, c); c.Close() })
		}
	})
	return ln.Addr().String()
}

// exchange writes msg to c and reads as much back, giving up after a
// short time; it returns what it read and the error that stopped it.
func exchange(t *testing.T, c net.Conn, msg string) (string, error) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(200*time.Millisecond)))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	return string(buf[:n]), err
}

// echoes checks that c answers msg with msg.
func echoes(t *testing.T, c net.Conn, msg, what string) {
	t.Helper()
	got, err := exchange(t, c, msg)
	require.NoError(t, err, what)
	require.Equal(t, msg, got, what)
}

// silent checks that c stays open and answers nothing.
func silent(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_, err := exchange(t, c, "x")
	assert.True(t, timedOut(err), "%s: %v", what, err)
}

// closed checks that c was closed by the proxy.
func closed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_, err := exchange(t, c, "x")
	assert.True(t, err != nil && !timedOut(err), "%s: %v", what, err)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyModes(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	assert.Equal(t, "freeze", Freeze.String())
	c := dial(t, p.Addr())
	echoes(t, c, "forward", "forwarding")

	// Freeze: the open connection stays open and silent, a new one is
	// accepted and never answered; back to Forward, what was held arrives
	// and the new one is closed.
	p.Set(Freeze)
	silent(t, c, "frozen")
	stalled := dial(t, p.Addr())
	silent(t, stalled, "accepted while frozen")
	p.Set(Forward)
	require.NoError(t, c.SetDeadline(time.Now().Add(time.Second)))
	held := make([]byte, 1)
	_, err := io.ReadFull(c, held)
	require.NoError(t, err)
	assert.Equal(t, "x", string(held), "delivered once thawed")
	echoes(t, c, "again", "thawed")
	closed(t, stalled, "accepted while frozen, then thawed")

	// Stall, Cut and Refuse close the open connections; a new one is
	// never answered, closed at once, or refused. Back to Forward, the
	// port answers again.
	for _, m := range []struct {
		mode  Mode
		fresh func(what string)
	}{
		{Stall, func(what string) { silent(t, dial(t, p.Addr()), what) }},
		{Cut, func(what string) { closed(t, dial(t, p.Addr()), what) }},
		{Refuse, func(what string) { _, err := net.Dial("tcp", p.Addr()); assert.Error(t, err, what) }},
	} {
		p.Set(Forward)
		c := dial(t, p.Addr())
		echoes(t, c, "forward", "forwarding before "+m.mode.String())
		p.Set(m.mode)
		closed(t, c, "open when "+m.mode.String())
		m.fresh("new while " + m.mode.String())
	}
	p.Set(Forward)
	echoes(t, dial(t, p.Addr()), "back", "after refusing")

	// Close ends every connection and waits for the proxy's goroutines.
	p.Set(Freeze)
	p.Close()
	p.Close()
	_, err = net.Dial("tcp", p.Addr())
	assert.Error(t, err, "closed")
}

func TestLockedBuffer(t *testing.T) {
	var b LockedBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 800, strings.Count(b.String(), "\n"))
	got := b.Bytes()
	got[0] = 'x'
	assert.NotEqual(t, byte('x'), b.Bytes()[0], "Bytes is a copy")
	b.Reset()
	assert.Empty(t, b.String())
	b.Discard()
	n, err := b.Write([]byte("kept?"))
	assert.Equal(t, 5, n)
	assert.NoError(t, err)
	assert.Empty(t, b.String())
}

// ping sends PING on a new connection to addr and returns the answer.
func ping(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestRedisServer(t *testing.T) {
	r := StartRedis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", r.Port())
	assert.Equal(t, "redis://"+addr+"/0", r.URL())
	answer, err := ping(addr)
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", answer)

	r.Pause()
	_, err = ping(addr)
	assert.True(t, timedOut(err), "paused: %v", err)
	r.Resume()
	answer, err = ping(addr)
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", answer)

	r.Stop()
	_, err = ping(addr)
	assert.Error(t, err, "stopped")
	r.Start()
	answer, err = ping(addr)
	require.NoError(t, err)
	assert.Equal(t, "+PONG\r\n", answer)
}

// The shared Cluster is started once: three primaries, each with a
// replica that has copied it, every slot served; a key written through it
// is read back. The shared Sentinel setup's sentinels name its primary,
// which its replica follows.
func TestRedisTopologies(t *testing.T) {
	cl := SharedCluster(t)
	require.Same(t, cl, SharedCluster(t), "started once")
	require.Len(t, cl.Nodes, 6)
	primaries := 0
	for _, n := range cl.Nodes {
		if r := cl.ReplicaOf(n); r != nil {
			primaries++
			assert.NotEqual(t, n, r)
		}
		assert.Less(t, n.Port, 55536, "the bus port is port+10000")
	}
	assert.Equal(t, 3, primaries)
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: cl.Addrs()})
	defer c.Close()
	prefix := TopologyPrefix("testkit")
	for i := range 20 { // over every primary's slots
		require.NoError(t, c.Set(t.Context(), fmt.Sprint(prefix, i), i, 0).Err())
		v, err := c.Get(t.Context(), fmt.Sprint(prefix, i)).Int()
		require.NoError(t, err)
		assert.Equal(t, i, v)
	}

	se := SharedSentinel(t)
	require.Same(t, se, SharedSentinel(t), "started once")
	require.Len(t, se.Sentinels, 3)
	for _, n := range se.Sentinels {
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: n.Addr()})
		addr, err := sc.GetMasterAddrByName(t.Context(), SentinelMaster).Result()
		_ = sc.Close()
		require.NoError(t, err)
		assert.Equal(t, []string{"127.0.0.1", fmt.Sprint(se.Primary.Port)}, addr)
	}
	rc := goredis.NewClient(&goredis.Options{Addr: se.Replica.Addr()})
	defer rc.Close()
	info, err := rc.Info(t.Context(), "replication").Result()
	require.NoError(t, err)
	assert.Contains(t, info, fmt.Sprintf("master_port:%d", se.Primary.Port))
}

func TestRedisPrefix(t *testing.T) {
	opts, err := goredis.ParseURL(RedisTestURL())
	require.NoError(t, err)
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx := context.Background()
	var prefix, withURL string
	t.Run("test", func(t *testing.T) {
		prefix = RedisPrefix(t, "simpleapi-testkit")
		assert.Regexp(t, `^simpleapi-testkit:[0-9a-f]{12}:$`, prefix)
		for i := range 1500 { // more than one batch
			require.NoError(t, c.Set(ctx, fmt.Sprintf("%s%d", prefix, i), "v", time.Hour).Err())
		}
		withURL = RedisPrefixURL(t, "simpleapi-testkit")
		assert.True(t, strings.HasPrefix(withURL, RedisTestURL()+"?key_prefix=simpleapi-testkit%3A"), withURL)
	})
	keys, err := c.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "deleted when the test ended")
}

// The service never links this package: among the module's packages only
// the test-support ones import it.
func TestOnlyTestsImportIt(t *testing.T) {
	const self = "simpleapi/internal/testkit"
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "simpleapi/...")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	require.NoError(t, err)
	allowed := map[string]bool{self: true, "simpleapi/auth/sessiontest": true, "simpleapi/store/storetest": true}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Greater(t, len(lines), 10)
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		if !allowed[pkg] {
			assert.NotContains(t, strings.Fields(deps), self, "%s depends on the test kit", pkg)
		}
	}
}
