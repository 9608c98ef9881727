package ledger_test

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
)

// proxy sits between a client and the ledger to make the failures a client must survive, deterministically: it can
// hold the ledger's answers back (many requests in flight, a context deadline), drop answers (a lost result, so the
// client resends), cut every connection (a reconnect), and stop for good (a cluster member that dies: the client
// fails over to its next endpoint).
type proxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	changed  *sync.Cond
	held     bool
	drop     int
	conns    map[net.Conn]struct{}
	dropped  int
	accepted int
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.changed = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(p.stop)
	return p
}

// stop closes the listener and every connection: connecting to it is refused from now on.
func (p *proxy) stop() {
	p.ln.Close()
	p.cut()
}

// connections is how many client connections the proxy accepted.
func (p *proxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *proxy) addr() string {
	return p.ln.Addr().String()
}

// hold stops passing answers on until release.
func (p *proxy) hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

func (p *proxy) release() {
	p.mu.Lock()
	p.held = false
	p.changed.Broadcast()
	p.mu.Unlock()
}

// dropAnswers throws the next n answers away.
func (p *proxy) dropAnswers(n int) {
	p.mu.Lock()
	p.drop += n
	p.mu.Unlock()
}

// droppedAnswers is how many answers were thrown away.
func (p *proxy) droppedAnswers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// cut closes every connection, both ways; answers held back are lost.
func (p *proxy) cut() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
	p.changed.Broadcast()
	p.mu.Unlock()
}

func (p *proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.accepted++
		p.conns[client] = struct{}{}
		p.conns[server] = struct{}{}
		p.mu.Unlock()
		go func() {
			_, _ = io.Copy(server, client)
			server.Close()
		}()
		go p.answers(server, client)
	}
}

// answers passes the ledger's frames to the client one by one, unless held or dropped.
func (p *proxy) answers(server, client net.Conn) {
	defer client.Close()
	defer server.Close()
	for {
		var prefix [4]byte
		if _, err := io.ReadFull(server, prefix[:]); err != nil {
			return
		}
		frame := make([]byte, 4+binary.LittleEndian.Uint32(prefix[:]))
		copy(frame, prefix[:])
		if _, err := io.ReadFull(server, frame[4:]); err != nil {
			return
		}
		p.mu.Lock()
		for p.held && p.open(client) {
			p.changed.Wait()
		}
		open := p.open(client)
		drop := p.drop > 0
		if drop {
			p.drop--
			p.dropped++
		}
		p.mu.Unlock()
		if !open {
			return
		}
		if drop {
			continue
		}
		if _, err := client.Write(frame); err != nil {
			return
		}
	}
}

func (p *proxy) open(c net.Conn) bool {
	_, ok := p.conns[c]
	return ok
}
