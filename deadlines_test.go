package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out the server ends of in-memory connections, so the
// tests run inside a synctest bubble (real sockets would not let its
// clock advance).
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
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

// dial returns the client end of a new connection to l.
func (l *pipeListener) dial() net.Conn {
	server, client := net.Pipe()
	l.conns <- server
	return client
}

// sweptConn returns the server end (as the sweeper's listener wraps it) and
// the client end of a new connection.
func sweptConn(t *testing.T, s *deadlineSweeper) (server, client net.Conn) {
	t.Helper()
	pl := newPipeListener()
	ln := s.listener(pl)
	go func() { client = pl.dial() }()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// withSweptConn runs f in a synctest bubble, with a sweeper ticking every
// second and a connection it watches.
func withSweptConn(t *testing.T, f func(t *testing.T, server, client net.Conn)) {
	synctest.Test(t, func(t *testing.T) {
		s := startDeadlineSweeper(time.Second)
		defer s.stop()
		server, client := sweptConn(t, s)
		f(t, server, client)
	})
}

// readResult is when a blocked read returned, and with what.
type readResult struct {
	at  time.Duration
	err error
}

// blockedRead reads from c in the background; the result arrives once the
// read returns.
func blockedRead(c net.Conn) <-chan readResult {
	start := time.Now()
	done := make(chan readResult, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- readResult{time.Since(start), err}
	}()
	return done
}

// await is the result of a blocked read, failing the test if the read is
// still blocked after limit (a broken sweeper would leave it blocked for
// ever while its ticks moved the bubble's clock on).
func await(t *testing.T, done <-chan readResult, limit time.Duration) readResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(limit):
		t.Fatalf("read still blocked after %v", limit)
		return readResult{}
	}
}

// ended is the result of a blocked read once every goroutine of the
// bubble has settled; ok is false while the read is still blocked.
func ended(done <-chan readResult) (r readResult, ok bool) {
	synctest.Wait()
	select {
	case r = <-done:
		return r, true
	default:
		return readResult{}, false
	}
}

// wantTimeout fails unless the read has ended with a timeout between lo
// and hi after it began.
func wantTimeout(t *testing.T, done <-chan readResult, lo, hi time.Duration) {
	t.Helper()
	r, ok := ended(done)
	if !ok {
		t.Fatalf("read still blocked, want a timeout at %v to %v", lo, hi)
	}
	if !isTimeout(r.err) || r.at < lo || r.at > hi {
		t.Fatalf("read ended after %v with %v, want a timeout at %v to %v", r.at, r.err, lo, hi)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

func TestDeadlineFarIsEnforcedWithinATick(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, _ net.Conn) {

		if err := server.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		done := blockedRead(server)
		time.Sleep(10*time.Second - time.Millisecond)
		if r, ok := ended(done); ok {
			t.Fatalf("read ended after %v, before its deadline: %v", r.at, r.err)
		}
		time.Sleep(time.Second + time.Millisecond)
		wantTimeout(t, done, 10*time.Second, 11*time.Second)
	})
}

func TestDeadlineNearOrPastIsExact(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, client net.Conn) {

		// Within two ticks: set on the connection itself.
		server.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		if r := await(t, blockedRead(server), time.Hour); !isTimeout(r.err) || r.at != 1500*time.Millisecond {
			t.Fatalf("near deadline: read ended after %v with %v, want a timeout after 1.5s", r.at, r.err)
		}

		// Past, as net/http's abort of its background read: at once.
		server.SetReadDeadline(time.Unix(1, 0))
		if r := await(t, blockedRead(server), time.Hour); !isTimeout(r.err) || r.at != 0 {
			t.Fatalf("past deadline: read ended after %v with %v, want an immediate timeout", r.at, r.err)
		}

		// Cleared: reads work again and wait for data as long as it takes.
		server.SetReadDeadline(time.Time{})
		done := blockedRead(server)
		time.Sleep(time.Hour)
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if r := await(t, done, 2*time.Hour); r.err != nil || r.at != time.Hour {
			t.Fatalf("cleared deadline: read ended after %v with %v, want data after an hour", r.at, r.err)
		}
	})
}

func TestDeadlineMovedLaterIsNotEnforcedEarly(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, _ net.Conn) {

		start := time.Now()
		server.SetReadDeadline(start.Add(10 * time.Second))
		done := blockedRead(server)
		time.Sleep(9 * time.Second)
		server.SetReadDeadline(start.Add(20 * time.Second))
		time.Sleep(5 * time.Second) // well past the first deadline
		if r, ok := ended(done); ok {
			t.Fatalf("read ended at %v by a deadline that was moved: %v", r.at, r.err)
		}
		time.Sleep(7 * time.Second)
		wantTimeout(t, done, 20*time.Second, 21*time.Second)
	})
}

func TestDeadlineReplacedByANearOneIsForgotten(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, _ net.Conn) {

		// Ticks come at 1s, 2s, 3s... A far deadline at 2.5s is replaced at
		// 2.5s by a near one at 3.9s: the tick at 3s must not enforce the
		// first.
		start := time.Now()
		server.SetReadDeadline(start.Add(2500 * time.Millisecond))
		time.Sleep(2500 * time.Millisecond)
		server.SetReadDeadline(start.Add(3900 * time.Millisecond))
		if r := await(t, blockedRead(server), time.Hour); !isTimeout(r.err) || r.at != 1400*time.Millisecond {
			t.Fatalf("read ended after %v with %v, want a timeout after 1.4s", r.at, r.err)
		}
	})
}

func TestDeadlineNewOneRevivesAnExpiredConnection(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, client net.Conn) {

		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		if r := await(t, blockedRead(server), time.Hour); !isTimeout(r.err) {
			t.Fatalf("read ended with %v, want a timeout", r.err)
		}
		// A later deadline replaces the one the sweeper set.
		server.SetReadDeadline(time.Now().Add(time.Minute))
		done := blockedRead(server)
		time.Sleep(30 * time.Second)
		client.Write([]byte("x"))
		if r := await(t, done, time.Hour); r.err != nil {
			t.Fatalf("read after a new deadline: %v", r.err)
		}
	})
}

func TestDeadlineFarWriteIsEnforced(t *testing.T) {
	withSweptConn(t, func(t *testing.T, server, _ net.Conn) {

		// The client never reads, so the write blocks as on a full socket.
		server.SetWriteDeadline(time.Now().Add(time.Minute))
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := server.Write([]byte("answer"))
			done <- err
		}()
		select {
		case err := <-done:
			if took := time.Since(start); !isTimeout(err) || took < time.Minute || took > time.Minute+time.Second {
				t.Fatalf("write ended after %v with %v, want a timeout at 60s to 61s", took, err)
			}
		case <-time.After(time.Hour):
			t.Fatal("write still blocked an hour after its deadline")
		}
	})
}

func TestDeadlineClosedConnectionsAreForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := startDeadlineSweeper(time.Second)
		defer s.stop()
		a, _ := sweptConn(t, s)
		b, _ := sweptConn(t, s)
		if n := s.tracked(); n != 2 {
			t.Fatalf("tracking %d connections, want 2", n)
		}
		a.Close()
		a.Close()
		b.SetReadDeadline(time.Now().Add(time.Hour))
		b.Close()
		time.Sleep(2 * time.Hour) // sweeps over closed connections do nothing
		if n := s.tracked(); n != 0 {
			t.Fatalf("tracking %d connections after both closed, want 0", n)
		}
	})
}

// TestDeadlineServerTimeouts runs the API's http.Server (newHTTPServer)
// over the sweeper: a client that never finishes its request headers is
// cut off after ReadHeaderTimeout, an idle keep-alive connection after
// IdleTimeout, each within a tick, and a prompt client is served.
func TestDeadlineServerTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := startDeadlineSweeper(time.Second)
		defer s.stop()
		pl := newPipeListener()
		srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}), slog.New(slog.DiscardHandler))
		go srv.Serve(s.listener(pl))
		defer srv.Close()

		// closedAfter writes req on a new connection, reads every answer,
		// and returns them and how long the server kept the connection.
		closedAfter := func(req string) (time.Duration, string) {
			c := pl.dial()
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

		if took, got := closedAfter("GET / HTTP/1.1\r\nHost: x\r\n"); got != "" || took < srv.ReadHeaderTimeout || took > srv.ReadHeaderTimeout+time.Second {
			t.Errorf("unfinished headers: connection closed after %v with answers %q, want none and %v to %v",
				took, got, srv.ReadHeaderTimeout, srv.ReadHeaderTimeout+time.Second)
		}
		if took, got := closedAfter("GET / HTTP/1.1\r\nHost: x\r\n\r\n"); got != "200 OK ok;" || took < srv.IdleTimeout || took > srv.IdleTimeout+time.Second {
			t.Errorf("idle keep-alive: connection closed after %v with answers %q, want one 200 and %v to %v",
				took, got, srv.IdleTimeout, srv.IdleTimeout+time.Second)
		}
	})
}
