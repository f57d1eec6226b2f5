// Package faultproxy is a small TCP proxy for fault-injection tests: put it
// between a client and a server on loopback and make the network misbehave
// on demand.
//
//   - [Proxy.SetLatency] delays every chunk of the server's replies;
//   - [Proxy.SetDown] refuses new connections and resets open ones (a
//     partition that fails fast);
//   - [Proxy.SetBlackhole] keeps connections open but forwards nothing (a
//     partition that hangs until the client's deadline);
//   - [Proxy.CutReplyOnce] forwards one request, lets the server execute it,
//     swallows the reply and closes the client's connection: the reply to a
//     successful command is lost;
//   - [Proxy.ResetAll] closes every open connection.
//
// It is test code: it works on byte chunks as read from the sockets, not on
// protocol frames, which is enough for request/reply protocols such as RESP
// when the client sends one command at a time on a connection.
package faultproxy

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards TCP connections from its own loopback address to a target.
// It is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	latency   atomic.Int64 // nanoseconds added before each reply chunk
	down      atomic.Bool
	blackhole atomic.Bool

	mu      sync.Mutex
	conns   map[*link]struct{}
	cutWant []byte // armed CutReplyOnce match; nil when disarmed
	cutDone chan struct{}
	closed  bool

	accepted atomic.Int64
	cuts     atomic.Int64

	wg   sync.WaitGroup
	quit chan struct{}
}

// link is one proxied client connection and its upstream connection.
type link struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
	cutPending     atomic.Bool
	cutSignal      chan struct{}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// New starts a proxy on 127.0.0.1 (a free port) forwarding to target
// ("host:port").
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[*link]struct{}), quit: make(chan struct{})}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients should dial instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// SetLatency delays every chunk of data from the server to the client by d
// (0 turns it off). Data already waiting is delayed too.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// SetDown(true) refuses new connections (they are accepted and closed at
// once) and closes every open one; SetDown(false) restores service.
func (p *Proxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.ResetAll()
	}
}

// SetBlackhole(true) makes the proxy swallow all data in both directions
// while keeping connections open, like a network that silently drops
// packets: clients wait until their own deadlines. SetBlackhole(false)
// resumes forwarding (data swallowed meanwhile is lost).
func (p *Proxy) SetBlackhole(on bool) { p.blackhole.Store(on) }

// CutReplyOnce arms a one-shot fault: the next chunk from a client that
// contains match is forwarded to the server, and the server's reply to it
// is read (so the server has executed the command), discarded, and the
// client's connection is closed. The returned channel is closed once the
// cut has happened, or once the matching connection ended before any reply
// (then [Proxy.Cuts] did not grow). Arming again replaces an earlier,
// unfired arming.
func (p *Proxy) CutReplyOnce(match []byte) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutWant = bytes.Clone(match)
	p.cutDone = make(chan struct{})
	return p.cutDone
}

// ResetAll closes every open connection (clients see EOF or a reset).
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	ls := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		ls = append(ls, l)
	}
	p.mu.Unlock()
	for _, l := range ls {
		l.close()
	}
}

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Cuts is the number of replies swallowed by [Proxy.CutReplyOnce].
func (p *Proxy) Cuts() int64 { return p.cuts.Load() }

// Open is the number of connections currently proxied.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops the proxy, closes every connection and waits until all of
// its goroutines have returned.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.quit)
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-p.quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.accepted.Add(1)
		if p.down.Load() {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	l := &link{client: c, server: s, done: make(chan struct{}), cutSignal: make(chan struct{})}
	p.mu.Lock()
	if p.closed || p.down.Load() {
		p.mu.Unlock()
		l.close()
		return
	}
	p.conns[l] = struct{}{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pumpRequests(l) }()
	go func() { defer wg.Done(); p.pumpReplies(l) }()
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

// takeCut reports whether chunk fires the armed CutReplyOnce, disarming it.
func (p *Proxy) takeCut(chunk []byte) (chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutWant == nil || !bytes.Contains(chunk, p.cutWant) {
		return nil, false
	}
	p.cutWant = nil
	done := p.cutDone
	p.cutDone = nil
	return done, true
}

// pumpRequests copies client -> server.
func (p *Proxy) pumpRequests(l *link) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := l.client.Read(buf)
		if n > 0 && !p.blackhole.Load() {
			chunk := buf[:n]
			if done, ok := p.takeCut(chunk); ok {
				l.cutPending.Store(true)
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					select {
					case <-l.cutSignal:
						close(done)
					case <-l.done:
						close(done)
					}
				}()
			}
			if _, werr := l.server.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pumpReplies copies server -> client, applying latency and cuts.
func (p *Proxy) pumpReplies(l *link) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := l.server.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-l.done:
					t.Stop()
					return
				}
			}
			if l.cutPending.Load() {
				// The server has answered: the command ran. Lose the reply.
				p.cuts.Add(1)
				close(l.cutSignal)
				return
			}
			if !p.blackhole.Load() {
				if _, werr := l.client.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return // io.EOF included: the server closed
		}
	}
}
