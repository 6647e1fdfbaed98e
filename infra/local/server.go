package main

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// serverLimits bounds what one client can hold of the runner's HTTP server:
// time to send a request, to read a response, to keep a connection idle,
// and how many connections are open at once.
type serverLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers: a client that
	// opens a connection and sends nothing is dropped after it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response: reading the body, the handler's work and
	// writing the response to a client that may read it slowly.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	IdleTimeout time.Duration
	// MaxConns caps the connections open at once (WIRESK_MAX_CONNS); once
	// it is reached, new connections wait in the kernel's backlog until
	// one closes.
	MaxConns int
}

// defaultLimits are the runner's limits.
//
// A request has a minute (ReadTimeout): the default webhook limit of 256 KiB
// then needs about 4.4 KiB/s, slower than any link a webhook sender uses;
// a larger WIRESK_MAX_BODY_BYTES needs proportionally more. WriteTimeout
// adds half a minute to that for the handler and the response (a Run Once,
// the slowest handler, waits up to 25 s for its Run). A kept-alive
// connection may wait two minutes for its next request. 1024 connections
// are far more than a developer's machine or a load test needs, and fewer
// file descriptors than the usual limit.
var defaultLimits = serverLimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       time.Minute,
	WriteTimeout:      90 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxConns:          1024,
}

// newServer returns the HTTP server of h with the limits lim; it serves on
// a listener from limitListener.
func newServer(h http.Handler, lim serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
	}
}

// limitListener returns a listener that accepts from l at most n
// connections open at once: Accept waits while n are open. Closing it also
// ends a waiting Accept, so that a server shutdown is not held up.
func limitListener(l net.Listener, n int) net.Listener {
	return &connLimiter{Listener: l, slots: make(chan struct{}, n), closed: make(chan struct{})}
}

// connLimiter is the listener of limitListener.
type connLimiter struct {
	net.Listener
	slots     chan struct{} // one element per open connection
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
}

func (l *connLimiter) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitedConn frees its slot when it is closed, once however many times
// Close is called.
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
