// Package testkit holds the test helpers that the tests of several
// packages share, once: a TCP proxy that fails a backend on demand
// (Proxy), a private redis-server (StartRedis), a key prefix of a test's
// own in the shared Redis (RedisPrefix, RedisPrefixURL), a buffer safe
// for concurrent writers (LockedBuffer) and a free port (FreePort).
//
// Only tests import it, and the test-support packages auth/sessiontest
// and store/storetest; the service itself never does (TestOnlyTestsImportIt
// checks).
package testkit

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
