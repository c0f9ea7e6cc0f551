package app

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out the server ends of in-memory connections, so a
// server runs inside a synctest bubble (real sockets would not let its
// clock advance).
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.closed); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// TestServerTimeouts runs newHTTPServer's net/http timeouts: a client that
// never finishes its request headers is cut off after ReadHeaderTimeout,
// an idle keep-alive connection after IdleTimeout, and a prompt client is
// served.
func TestServerTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pl := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
		srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}), slog.New(slog.DiscardHandler))
		if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second ||
			srv.WriteTimeout != 60*time.Second || srv.IdleTimeout != 120*time.Second {
			t.Fatalf("timeouts: header %v, request %v, write %v, idle %v",
				srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
		}
		go srv.Serve(pl)
		defer srv.Close()

		// closedAfter writes req on a new connection, reads every answer,
		// and returns them and how long the server kept the connection.
		closedAfter := func(req string) (time.Duration, string) {
			server, c := net.Pipe()
			pl.conns <- server
			defer c.Close()
			start := time.Now()
			c.SetDeadline(start.Add(time.Hour)) // fail rather than hang if the server never closes
			go io.WriteString(c, req)
			var got strings.Builder
			r := bufio.NewReader(c)
			for {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					return time.Since(start), got.String()
				}
				body, _ := io.ReadAll(resp.Body)
				got.WriteString(resp.Status + " " + string(body) + ";")
			}
		}

		if took, got := closedAfter("GET / HTTP/1.1\r\nHost: x\r\n"); got != "" || took != srv.ReadHeaderTimeout {
			t.Errorf("unfinished headers: connection closed after %v with answers %q, want none after %v",
				took, got, srv.ReadHeaderTimeout)
		}
		if took, got := closedAfter("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); got != "200 OK ok;" || took != srv.IdleTimeout {
			t.Errorf("idle keep-alive: connection closed after %v with answers %q, want one 200 after %v",
				took, got, srv.IdleTimeout)
		}
	})
}

func TestDefaultGOGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	restore := useDefaultGOGC(func(string) string { return "" })
	if got := debug.SetGCPercent(defaultGOGC); got != defaultGOGC {
		t.Errorf("GOGC unset: %d, want %d", got, defaultGOGC)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("after restore: %d, want 100", got)
	}

	restore = useDefaultGOGC(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the operator: changed to %d", got)
	}
	restore()
}
