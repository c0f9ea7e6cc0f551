package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The access log and the audit log name the same client: the peer, or
// what X-Forwarded-For says when the peer is a trusted proxy. X-Real-IP is
// not believed, even from a trusted proxy.
func TestLogsNameTheClientBehindTrustedProxies(t *testing.T) {
	s := newSessionServer(t, "TRUSTED_PROXIES", "10.0.0.0/8")
	s.logs.Reset()
	for _, tc := range []struct {
		id   string
		opts []option
		want string
	}{
		{"ip-direct", []option{remoteAddr("192.0.2.44:4000")}, "192.0.2.44"},
		{"ip-proxy", []option{remoteAddr("10.0.0.1:4000"), header("X-Forwarded-For", "198.51.100.7")}, "198.51.100.7"},
		{"ip-chain", []option{remoteAddr("10.0.0.1:4000"), header("X-Forwarded-For", "203.0.113.9, 10.0.0.2")}, "203.0.113.9"},
		{"ip-spoofed", []option{remoteAddr("192.0.2.45:4000"), header("X-Forwarded-For", "198.51.100.8")}, "192.0.2.45"},
		{"ip-real-ip", []option{remoteAddr("10.0.0.1:4000"), header("X-Real-IP", "198.51.100.9")}, "10.0.0.1"},
		{"ip-ipv6", []option{remoteAddr("[2001:db8::1]:4000")}, "2001:db8::1"},
	} {
		// Unknown accounts, one each: no account's throttling starts.
		rec := s.login(tc.id+"@example.com", "wrong-secret-5", append(tc.opts, header("X-Request-ID", tc.id))...)
		require.Equal(t, 404, rec.Code, tc.id)

		var audit, access []map[string]any
		for _, e := range logEntries(t, s.logs.String()) {
			if e["request_id"] != tc.id {
				continue
			}
			if e["event"] == "login_failed" {
				audit = append(audit, e)
			} else if e["msg"] == "request" {
				access = append(access, e)
			}
		}
		require.Len(t, audit, 1, tc.id)
		require.Len(t, access, 1, tc.id)
		assert.Equal(t, tc.want, audit[0]["client_ip"], tc.id)
		assert.Equal(t, tc.want, access[0]["client_ip"], tc.id)
	}
}
