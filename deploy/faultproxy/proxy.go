// Package faultproxy is a TCP proxy that can cut the network it stands in
// for: the chaos tests put one between the services and the broker (the
// broker advertises the proxy's address, so clients never go around it)
// and one in front of service replicas (round robin, skipping a replica
// that refuses). It is a test tool, loopback only.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is how a cut looks to the peers.
type Mode int

const (
	// Reset closes every connection and each new one at once: peers see
	// resets, as when a host is down.
	Reset Mode = iota
	// Blackhole keeps the peers' connections open and silent: nothing
	// arrives and nothing is refused, as when packets are dropped; peers
	// find out only through their timeouts. Restore closes those.
	Blackhole
)

// Proxy forwards connections to its targets until it is cut.
type Proxy struct {
	ln      net.Listener
	targets []string

	mu     sync.Mutex
	cut    bool
	mode   Mode
	next   int
	conns  map[net.Conn]net.Conn // client -> upstream (nil while held)
	wg     sync.WaitGroup
	closed bool
}

// Start listens on listen (127.0.0.1:0 picks a port) and forwards to the
// targets in turn.
func Start(listen string, targets ...string) (*Proxy, error) {
	if len(targets) == 0 {
		return nil, errors.New("faultproxy: no target")
	}
	for _, a := range append([]string{listen}, targets...) {
		host, _, err := net.SplitHostPort(a)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("faultproxy: %q is not a loopback host:port", a)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, targets: targets, conns: map[net.Conn]net.Conn{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where the proxy listens.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut cuts the network in the given mode.
func (p *Proxy) Cut(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut, p.mode = true, m
	for c, up := range p.conns {
		if up != nil {
			up.Close()
			p.conns[c] = nil
		}
		if m == Reset {
			c.Close()
			delete(p.conns, c)
		}
	}
}

// Restore ends a cut: held connections are closed (their peers reconnect)
// and new ones are forwarded again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c, up := range p.conns {
		if up == nil {
			c.Close()
			delete(p.conns, c)
		}
	}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	for c, up := range p.conns {
		c.Close()
		if up != nil {
			up.Close()
		}
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	if p.closed || p.cut && p.mode == Reset {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.cut { // blackhole: hold it, silent, until Restore
		p.conns[c] = nil
		p.mu.Unlock()
		_, _ = io.Copy(io.Discard, c)
		return
	}
	targets, start := p.targets, p.next
	p.next++
	p.mu.Unlock()
	var up net.Conn
	var err error
	for i := range targets {
		if up, err = net.DialTimeout("tcp", targets[(start+i)%len(targets)], 2*time.Second); err == nil {
			break
		}
	}
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.closed || p.cut {
		p.mu.Unlock()
		up.Close()
		c.Close()
		return
	}
	p.conns[c] = up
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	// One direction ended: unless a blackhole holds the client, end both.
	p.mu.Lock()
	held := p.cut && p.mode == Blackhole
	if cur, ok := p.conns[c]; ok && cur == nil && held {
		p.mu.Unlock()
		<-done // the client side ends at Restore or Close
		return
	}
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
	up.Close()
	<-done
}
