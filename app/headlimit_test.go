package app

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestHead is a GET request head of exactly size bytes: request line,
// Host, fields "X-Fill-NNNNN: aaa…" of about line bytes each (CRLF
// included; the last takes what is left), and the blank line.
func requestHead(t *testing.T, size, line int) string {
	t.Helper()
	const name = len("X-Fill-00000: ")
	const shortest = name + len("a\r\n")
	var b strings.Builder
	b.WriteString("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")
	for i := 0; b.Len() < size-len("\r\n"); i++ {
		n := size - len("\r\n") - b.Len() // what is left for fields
		if n >= line+shortest {
			n = line // and at least one more field after this one
		}
		require.GreaterOrEqual(t, n, shortest, "no room for a field")
		fmt.Fprintf(&b, "X-Fill-%05d: %s\r\n", i, strings.Repeat("a", n-shortest+1))
	}
	b.WriteString("\r\n")
	require.Equal(t, size, b.Len())
	return b.String()
}

// The README documents request heads of at most 64 KiB: the API's server
// (newHTTPServer) accepts a head of exactly 65,536 bytes, however it is
// split into fields, and answers 431 to one byte more. Without taking
// net/http's 4096 bytes of slack off MaxHeaderBytes it would take up to
// 69,632.
func TestLargestRequestHeadIs64KiB(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	send := func(head string) (int, string) {
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		go io.WriteString(conn, head)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		size, line int
		status     int
	}{
		{1 << 10, 100, 200},
		{60_000, 8 << 10, 200},
		{65_000, 60_000, 200},
		{maxRequestHead - 1, 1 << 10, 200},
		{maxRequestHead, 64 << 10, 200}, // one big field
		{maxRequestHead, 4 << 10, 200},
		{maxRequestHead, 100, 200},
		{maxRequestHead + 1, 64 << 10, 431},
		{maxRequestHead + 1, 1 << 10, 431},
		{66_000, 8 << 10, 431},
		{maxRequestHead + netHTTPHeaderSlack, 8 << 10, 431}, // accepted before
		{100 << 10, 8 << 10, 431},
	} {
		status, body := send(requestHead(t, tc.size, tc.line))
		assert.Equal(t, tc.status, status, "head of %d bytes in fields of about %d", tc.size, tc.line)
		if tc.status == 431 {
			assert.Equal(t, "431 Request Header Fields Too Large", body, "net/http's own answer")
		} else {
			assert.Equal(t, "ok", body)
		}
	}
}
