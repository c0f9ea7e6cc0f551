package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Coarse connection deadlines.
//
// With its timeouts set, net/http moves a connection's read and write
// deadlines five times per request (header, whole request, write, idle,
// and clearing the write deadline). Each move re-arms a runtime timer
// under the poller's and the timer heap's locks, and over loopback that
// cost about a tenth of the requests a second a bare handler serves (see
// the README's Performance section). The timeouts guard against slow or
// silent clients and are seconds to minutes long, so they need not be
// exact to the microsecond.
//
// A deadlineListener's connections therefore keep a deadline that is
// more than two ticks away in memory only, and a sweeper checks them once
// a tick: a connection whose deadline has passed has it set for real, at
// most one tick late, which ends a blocked read or write with the same
// timeout error as before. Deadlines that are near or already past (such
// as the "abort" deadline net/http uses to wake its background read) go
// straight to the connection, as they always did.

// deadlineSweeper enforces the far deadlines of the connections of the
// listeners it wraps.
type deadlineSweeper struct {
	tick time.Duration
	now  atomic.Int64 // the time of the last tick (Unix ns): never ahead of the clock
	done chan struct{}
	quit sync.WaitGroup

	mu    sync.Mutex
	conns map[*deadlineConn]struct{}
}

// startDeadlineSweeper starts a sweeper that checks deadlines every tick
// until stop.
func startDeadlineSweeper(tick time.Duration) *deadlineSweeper {
	s := &deadlineSweeper{tick: tick, done: make(chan struct{}), conns: make(map[*deadlineConn]struct{})}
	s.now.Store(time.Now().UnixNano())
	s.quit.Go(s.run)
	return s
}

// stop ends the sweeping. Connections still open keep the deadlines they
// hold but no longer have their far ones enforced, so stop it after the
// servers have shut down.
func (s *deadlineSweeper) stop() {
	close(s.done)
	s.quit.Wait()
}

func (s *deadlineSweeper) run() {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.sweep(now)
		}
	}
}

// sweep sets every far deadline that has passed at now on its connection.
func (s *deadlineSweeper) sweep(now time.Time) {
	s.now.Store(now.UnixNano())
	s.mu.Lock()
	conns := make([]*deadlineConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.expire(now)
	}
}

// tracked is the number of open connections the sweeper watches.
func (s *deadlineSweeper) tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// listener returns ln with its connections' far deadlines left to s.
func (s *deadlineSweeper) listener(ln net.Listener) net.Listener {
	return deadlineListener{Listener: ln, s: s}
}

type deadlineListener struct {
	net.Listener
	s *deadlineSweeper
}

func (l deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &deadlineConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.conns[dc] = struct{}{}
	l.s.mu.Unlock()
	return dc, nil
}

// far reports whether t is a deadline to keep in memory: more than two
// ticks after the last tick, so at least one tick ahead of the clock.
func (s *deadlineSweeper) far(t time.Time) bool {
	return t.UnixNano() > s.now.Load()+2*int64(s.tick)
}

// deadlineConn is a connection whose far deadlines the sweeper enforces.
type deadlineConn struct {
	net.Conn
	s         *deadlineSweeper
	closeOnce sync.Once

	mu sync.Mutex
	rd deadline
	wd deadline
}

// deadline is one direction's deadline: the one asked for, and whether
// the connection itself holds a deadline (near, past, or one the sweeper
// set) that a later request must replace.
type deadline struct {
	want time.Time // zero: none, or held by the connection
	set  bool
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.update(true, t) }

func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.update(false, t) }

// update records t as the read or write deadline. The lock is held while
// the connection's own deadline changes, so the sweeper never sets a
// deadline that has just been replaced. (No defer: this runs five times a
// request.)
func (c *deadlineConn) update(read bool, t time.Time) error {
	c.mu.Lock()
	d := &c.wd
	if read {
		d = &c.rd
	}
	if t.IsZero() || c.s.far(t) {
		d.want = t
		if !d.set {
			c.mu.Unlock()
			return nil
		}
		t = time.Time{} // clear what the connection holds
	} else {
		d.want = time.Time{}
	}
	d.set = !t.IsZero()
	var err error
	if read {
		err = c.Conn.SetReadDeadline(t)
	} else {
		err = c.Conn.SetWriteDeadline(t)
	}
	c.mu.Unlock()
	return err
}

// expire sets each far deadline that has passed at now on the connection.
func (c *deadlineConn) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rd.passed(now) {
		_ = c.Conn.SetReadDeadline(c.rd.want) // fails only once the connection is closed
		c.rd = deadline{set: true}
	}
	if c.wd.passed(now) {
		_ = c.Conn.SetWriteDeadline(c.wd.want)
		c.wd = deadline{set: true}
	}
}

func (d deadline) passed(now time.Time) bool { return !d.want.IsZero() && !d.want.After(now) }

func (c *deadlineConn) Close() error {
	c.closeOnce.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// CloseWrite and ReadFrom pass through what net/http looks for on a TCP
// connection: a half close before closing, and sendfile.
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *deadlineConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
