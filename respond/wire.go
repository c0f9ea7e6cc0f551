package respond

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
)

// Some requests are refused by net/http before any handler runs: a request
// line or header it cannot parse (400, e.g. a bad percent-escape in the path
// or a control character in a header), headers over MaxHeaderBytes (431),
// an unknown transfer encoding (501), an HTTP version it does not speak
// (505). It writes those answers as text/plain straight to the connection,
// in one Write, with exactly these headers and no others (every answer a
// handler writes also carries Date).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// wireMessages are the error messages of the answers net/http writes.
var wireMessages = map[int]string{
	http.StatusBadRequest:                  "Bad request",
	http.StatusRequestHeaderFieldsTooLarge: "Request header fields too large",
	http.StatusNotImplemented:              "Not implemented",
	http.StatusHTTPVersionNotSupported:     "HTTP version not supported",
}

// JSONErrors wraps a plain-TCP listener so that the errors net/http answers
// on its own go out as JSON error bodies like every other answer. It cannot
// see inside TLS: under TLS those answers stay as net/http writes them.
func JSONErrors(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return jsonErrorConn{c}, nil
}

type jsonErrorConn struct{ net.Conn }

// CloseWrite half-closes the connection, as net/http does before closing a
// connection it answered with "Connection: close", so the client reads the
// whole answer rather than a reset.
func (c jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c jsonErrorConn) Write(p []byte) (int, error) {
	out, ok := rewriteNetHTTPError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// rewriteNetHTTPError turns one of net/http's own text/plain error answers
// into the same status with a JSON error body; ok is false for anything
// else, which passes unchanged.
func rewriteNetHTTPError(p []byte) (out []byte, ok bool) {
	// "HTTP/1.1 431 Request Header Fields Too Large" + headers + text
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !found || len(rest) < 4 || rest[3] != ' ' {
		return nil, false
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	i := bytes.Index(rest, []byte(netHTTPErrorHeaders))
	if i < 0 || bytes.Contains(rest[:i], []byte("\r\n")) {
		return nil, false
	}
	msg, known := wireMessages[code]
	if !known {
		msg = http.StatusText(code)
	}
	body, _ := json.Marshal(errorBody{Error: msg})
	h := http.Header{}
	SetSecurityHeaders(h)
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Content-Type", JSONContentType)
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(code) + " " + http.StatusText(code) + "\r\n")
	_ = h.Write(&b) // sorted "Key: value\r\n" lines
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), true
}
