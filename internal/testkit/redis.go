package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of the test's own, on a free port, in a
// directory of its own, keeping nothing on disk. The test stops and
// starts it again (empty) at will; it is killed when the test ends. The
// redis-server binary must be installed: without it the test fails.
type RedisServer struct {
	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
}

// StartRedis starts a private redis-server and waits until it listens.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	r := &RedisServer{t: t, port: FreePort(t), dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Port is the server's port on 127.0.0.1.
func (r *RedisServer) Port() int { return r.port }

// URL is the server's URL, database 0.
func (r *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Start starts the server (again, after Stop) on its port and waits until
// it listens.
func (r *RedisServer) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", fmt.Sprint(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server must be installed: %v", err)
	}
	// The process's start is awaited, not a clock.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not start on port %d: %v", r.port, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server; what it held is lost.
func (r *RedisServer) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Pause stops the process (SIGSTOP): its sockets stay open and nothing
// answers, as a server that hangs. Resume lets it go on.
func (r *RedisServer) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (r *RedisServer) Resume() { r.signal(syscall.SIGCONT) }

func (r *RedisServer) signal(sig syscall.Signal) {
	r.t.Helper()
	if r.cmd == nil {
		r.t.Fatalf("redis-server: %v while stopped", sig)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("redis-server: %v: %v", sig, err)
	}
}

// RedisTestURL is the shared Redis of the test machines, database 0;
// the variable REDIS_TEST_URL overrides it.
func RedisTestURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RedisPrefix returns a key prefix of the test's own in the shared Redis,
// label:<random>:, under which every key is deleted when the test ends.
func RedisPrefix(t testing.TB, label string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := label + ":" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteKeys(t, prefix) })
	return prefix
}

// RedisPrefixURL is RedisTestURL with key_prefix set to a RedisPrefix of
// the test's own: the REDIS_URL of a service under test.
func RedisPrefixURL(t testing.TB, label string) string {
	t.Helper()
	u, err := url.Parse(RedisTestURL())
	if err != nil {
		t.Fatalf("REDIS_TEST_URL: %v", err)
	}
	q := u.Query()
	q.Set("key_prefix", RedisPrefix(t, label))
	u.RawQuery = q.Encode()
	return u.String()
}

// deleteKeys removes every key under prefix from the shared Redis.
func deleteKeys(t testing.TB, prefix string) {
	t.Helper()
	opts, err := goredis.ParseURL(RedisTestURL())
	if err != nil {
		t.Fatalf("REDIS_TEST_URL: %v", err)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				t.Fatalf("deleting the keys under %s: %v", prefix, err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("listing the keys under %s: %v", prefix, err)
	}
	if len(batch) > 0 {
		if err := c.Unlink(ctx, batch...).Err(); err != nil {
			t.Fatalf("deleting the keys under %s: %v", prefix, err)
		}
	}
}
