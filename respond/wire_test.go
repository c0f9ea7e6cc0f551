package respond

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startWireServer serves h behind JSONErrors on a loopback port.
func startWireServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, MaxHeaderBytes: 64 << 10}
	go func() { _ = srv.Serve(JSONErrors(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// rawRequest sends raw bytes and reads one answer.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestNetHTTPErrorsAnswerJSON(t *testing.T) {
	var reached atomic.Bool
	addr := startWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Store(true)
	}))
	cases := []struct {
		name, raw string
		status    int
		msg       string
	}{
		{"bad percent-escape", "GET /api/v1/users/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad request"},
		{"control character in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400, "Bad request"},
		{"malformed header line", "GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400, "Bad request"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "Bad request"},
		{"100 KB header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", 431,
			"Request header fields too large"},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP version not supported"},
		{"unknown transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Not implemented"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, addr, tc.raw)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, `{"error":"`+tc.msg+`"}`, body)
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.True(t, resp.Close, "Connection: close")
		})
	}
	assert.False(t, reached.Load(), "none of these reaches a handler")
}

func TestHandlerAnswersPassUnchanged(t *testing.T) {
	// Even a handler's own text/plain 400 is left alone: only net/http's
	// answers (no Date header) are rewritten.
	addr := startWireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "400 Bad Request")
	}))
	resp, body := rawRequest(t, addr, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "400 Bad Request", body)
}

func TestRewriteNetHTTPErrorLeavesOtherWrites(t *testing.T) {
	for _, p := range []string{
		"",
		"HTTP/1.1 200 OK" + netHTTPErrorHeaders + "ok",
		"HTTP/1.1 4x0 Bad" + netHTTPErrorHeaders,
		"HTTP/1.1 400 Bad Request\r\nDate: x" + netHTTPErrorHeaders,
		"HTTP/1.0 400 Bad Request" + netHTTPErrorHeaders,
		`{"error":"x"}`,
	} {
		_, ok := rewriteNetHTTPError([]byte(p))
		assert.False(t, ok, "%q", p)
	}
}

func TestJSONErrorConnHalfCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	wrapped := JSONErrors(ln)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			_, _ = io.ReadAll(c) // until the server half-closes
		}
	}()
	conn, err := wrapped.Accept()
	require.NoError(t, err)
	defer conn.Close()
	cw, ok := conn.(interface{ CloseWrite() error })
	require.True(t, ok, "net/http half-closes through CloseWrite")
	require.NoError(t, cw.CloseWrite())
	_, err = conn.Write([]byte("x"))
	assert.Error(t, err, "writing after the half-close fails")
}
