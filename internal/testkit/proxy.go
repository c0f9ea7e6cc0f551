package testkit

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// Mode is what a Proxy does with the connections through it.
type Mode int

const (
	// Forward passes everything both ways: the network is fine.
	Forward Mode = iota
	// Cut closes every open connection and every new one at once: a
	// network that resets.
	Cut
	// Refuse closes the proxy's port and every open connection: new
	// connections are refused, as by a host whose server is down.
	Refuse
	// Stall closes every open connection; new ones are accepted and never
	// answered: a network that drops packets.
	Stall
	// Freeze accepts new connections as Stall does, and keeps the open
	// ones open but passes nothing through them: a server that hangs.
	// What was sent meanwhile is delivered once the mode changes.
	Freeze
)

// String names the mode in lower case ("forward", "cut", ...).
func (m Mode) String() string {
	switch m {
	case Forward:
		return "forward"
	case Cut:
		return "cut"
	case Refuse:
		return "refuse"
	case Stall:
		return "stall"
	case Freeze:
		return "freeze"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy forwards a port of its own on 127.0.0.1 to a target address, and
// fails the connections through it as a test switches its mode. It is
// closed when the test ends.
type Proxy struct {
	t      testing.TB
	target string
	addr   string

	mu       sync.Mutex
	thaw     *sync.Cond // on mu: broadcast when the mode changes
	mode     Mode
	ln       net.Listener          // nil while refusing, and once closed
	conns    map[net.Conn]struct{} // forwarded, both ends
	stalled  map[net.Conn]struct{} // accepted and never answered
	closed   bool
	serving  sync.WaitGroup
	forwards sync.WaitGroup
}

// NewProxy starts a proxy to target, forwarding.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{t: t, target: target, addr: ln.Addr().String(), ln: ln,
		conns: map[net.Conn]struct{}{}, stalled: map[net.Conn]struct{}{}}
	p.thaw = sync.NewCond(&p.mu)
	p.serving.Go(func() { p.serve(ln) })
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port, the same in every mode.
func (p *Proxy) Addr() string { return p.addr }

// Set switches the mode. Stalled connections are closed at every switch
// (as a network coming back resets them); Cut, Refuse and Stall also
// close every forwarded connection, while Freeze leaves them open and
// silent until the next switch. Leaving Refuse listens on the same port
// again.
func (p *Proxy) Set(mode Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(mode)
}

// set is Set with mu held.
func (p *Proxy) set(mode Mode) {
	p.mode = mode
	p.thaw.Broadcast()
	for c := range p.stalled {
		c.Close()
		delete(p.stalled, c)
	}
	if mode != Forward && mode != Freeze {
		for c := range p.conns {
			c.Close()
			delete(p.conns, c)
		}
	}
	switch {
	case mode == Refuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
	case mode != Refuse && p.ln == nil && !p.closed:
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			p.t.Fatalf("proxy: listening again on %s: %v", p.addr, err)
		}
		p.ln = ln
		p.serving.Go(func() { p.serve(ln) })
	}
}

// Close stops the proxy: its port is closed, every connection through it
// too, and it returns once none of its goroutines is left. It is safe to
// call more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.serving.Wait()
	p.Set(Cut)
	p.forwards.Wait()
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		switch p.mode {
		case Cut, Refuse:
			c.Close()
		case Stall, Freeze:
			p.stalled[c] = struct{}{} // never answered, closed at the next switch
		default:
			p.conns[c] = struct{}{}
			p.forwards.Go(func() { p.forward(c) })
		}
		p.mu.Unlock()
	}
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if _, open := p.conns[c]; !open { // cut while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, c); done <- struct{}{} }()
	go func() { p.pipe(c, up); done <- struct{}{} }()
	<-done
	p.drop(c, up)
	<-done
}

// drop closes conns and forgets them.
func (p *Proxy) drop(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// pipe copies src to dst, holding what it reads while the proxy is
// frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.mode == Freeze {
				p.thaw.Wait()
			}
			p.mu.Unlock()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
