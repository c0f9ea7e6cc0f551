package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Browsers send cached Basic credentials with cross-site requests, and a
// form can post any body as text/plain: neither may change anything.
func TestCrossSiteRefusedWhateverAuthenticates(t *testing.T) {
	s := newServer(t) // basic_auth
	bob := s.createUser("bob@example.com")
	body := `{"email":"x@example.com","password":"x-password-1","role":"admin"}`

	assertError(t, s.do("POST", "/api/v1/users", body, asAdmin(), header("Content-Type", "text/plain"),
		header("Origin", "https://evil.example"), header("Sec-Fetch-Site", "cross-site")), 403, "Forbidden")
	assertError(t, s.do("POST", "/api/v1/users", body, asAdmin(), header("Origin", "https://evil.example")), 403, "Forbidden")
	assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, asAdmin(),
		header("Sec-Fetch-Site", "cross-site")), 403, "Forbidden")
	assertError(t, s.do("DELETE", "/api/v1/users/"+bob.ID, "", asAdmin(), header("Sec-Fetch-Site", "cross-site")), 403, "Forbidden")

	// Same site, but not sent as JSON.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		rec := s.do("POST", "/api/v1/users", body, asAdmin(), header("Content-Type", ct))
		assertError(t, rec, 400, "Wrong format")
		assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, `{"role":"admin"}`, asAdmin(), header("Content-Type", ct)), 400, "Wrong format")
	}
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":2}`)
	assert.Equal(t, "user", s.userByEmail("bob@example.com").Role)

	// JSON types, safe methods and same-site requests still work.
	assert.Equal(t, 201, s.do("POST", "/api/v1/users", `{"email":"y@example.com","password":"y-password-1"}`, asAdmin(),
		header("Content-Type", "application/json; charset=utf-8"), header("Sec-Fetch-Site", "same-origin")).Code)
	assert.Equal(t, 200, s.do("PUT", "/api/v1/users/"+bob.ID, `{"last_name":"B"}`, asAdmin(),
		header("Content-Type", "application/merge-patch+json")).Code)
	assert.Equal(t, 200, s.do("GET", "/api/v1/users/me", "", asAdmin(), header("Sec-Fetch-Site", "cross-site")).Code)
}

func TestDuplicateKeysRefused(t *testing.T) {
	s := newServer(t)
	assertError(t, s.do("POST", "/api/v1/users",
		`{"email":"x@example.com","password":"x-password-1","role":"user","role":"admin"}`, asAdmin()), 400, "Wrong format")
	assertError(t, s.do("POST", "/api/v1/users",
		`{"email":"x@example.com","password":"x-password-1","\u0065mail":"y@example.com"}`, asAdmin()), 400, "Wrong format")
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":1}`)
	bob := s.createUser("bob@example.com")
	assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":"A","first_name":"B"}`, asAdmin()), 400, "Wrong format")
	assert.Nil(t, s.userByEmail("bob@example.com").FirstName)
}

func TestLoneSurrogateRefused(t *testing.T) {
	s := newServer(t)
	bob := s.createUser("bob@example.com")
	for _, name := range []string{`\ud800`, `\udfff`, `x\ud83dy`, `\ude00\ud83d`} {
		assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":"`+name+`"}`, asAdmin()), 400, "Wrong format")
		assertError(t, s.do("POST", "/api/v1/users", `{"email":"x@example.com","password":"x-password-1","first_name":"`+name+`"}`,
			asAdmin()), 400, "Wrong format")
	}
	// The same mistake as raw bytes gets the same answer.
	assertError(t, s.do("PUT", "/api/v1/users/"+bob.ID, "{\"first_name\":\"\xed\xa0\x80\"}", asAdmin()), 400, "Wrong format")
	assert.Nil(t, s.userByEmail("bob@example.com").FirstName)
	assertBody(t, s.do("GET", "/api/v1/stats", "", asAdmin()), 200, `{"users":2}`)

	// A proper pair is one character.
	rec := s.do("PUT", "/api/v1/users/"+bob.ID, `{"first_name":"\ud83d\ude00"}`, asAdmin())
	assert.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, "😀", *s.userByEmail("bob@example.com").FirstName)
}

// Requests net/http refuses before any handler runs are answered by
// net/http itself, in plain text, and the connection is closed.
func TestMalformedRequestsAnsweredByNetHTTP(t *testing.T) {
	p := startProcess(t, testEnv(t.TempDir()))
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)
	for _, tc := range []struct {
		raw    string
		status int
		text   string
	}{
		{"GET /api/v1/users/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "400 Bad Request"},
		{"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400, "400 Bad Request"},
		{"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", 431,
			"431 Request Header Fields Too Large"},
		{"POST /api/v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"GET /api/v1/status HTTP/2.0\r\nHost: x\r\n\r\n", 505, "505 HTTP Version Not Supported"},
	} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = io.WriteString(conn, tc.raw)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		conn.Close()
		assert.Equal(t, tc.status, resp.StatusCode, "%.40q", tc.raw)
		assert.Contains(t, string(body), tc.text, "%.40q", tc.raw)
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.True(t, resp.Close, "Connection: close")
	}
	// Request heads of up to 64 KiB (request line, headers and the blank
	// line), as the README says, and not a byte more.
	const start = "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Big: "
	for size, status := range map[int]int{64 << 10: 200, 64<<10 + 1: 431, 66_000: 431} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		go io.WriteString(conn, start+strings.Repeat("a", size-len(start)-len("\r\n\r\n"))+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		conn.Close()
		assert.Equal(t, status, resp.StatusCode, "a head of %d bytes", size)
	}

	// Ordinary requests are untouched.
	resp, err := http.Get(p.url("/api/v1/status"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, `{"status":"OK"}`, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}
