package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// generous is how long a test waits for something that should happen at
// once: far longer than it takes, so that a slow machine does not fail it.
const generous = 10 * time.Second

// serve runs newServer(h, lim) on a loopback limitListener and returns its
// address.
func serve(t *testing.T, h http.Handler, lim serverLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(h, lim)
	go srv.Serve(limitListener(ln, lim.MaxConns))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// client is one raw HTTP/1.1 connection.
type client struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{Conn: c, r: bufio.NewReader(c)}
}

// send writes a keep-alive GET of path.
func (c *client) send(t *testing.T, path string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: wiresk\r\n\r\n"); err != nil {
		t.Fatalf("send GET %s: %v", path, err)
	}
}

// response reads one response within d, body included; a timeout is
// returned as an error wrapping os.ErrDeadlineExceeded.
func (c *client) response(d time.Duration) (*http.Response, error) {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// minute is a limit long enough never to be reached in a test.
var minute = serverLimits{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxConns: 100}

func TestDefaultLimits(t *testing.T) {
	lim := defaultLimits
	for _, c := range []struct {
		name string
		d    time.Duration
	}{
		{"ReadHeaderTimeout", lim.ReadHeaderTimeout},
		{"ReadTimeout", lim.ReadTimeout},
		{"WriteTimeout", lim.WriteTimeout},
		{"IdleTimeout", lim.IdleTimeout},
	} {
		if c.d <= 0 {
			t.Errorf("%s = %v, want a limit", c.name, c.d)
		}
	}
	// The write deadline runs from the end of the headers, so it must
	// leave a slow sender the whole ReadTimeout for its body, and time to
	// answer after it.
	if lim.WriteTimeout <= lim.ReadTimeout {
		t.Errorf("WriteTimeout %v <= ReadTimeout %v: a body sent slowly within ReadTimeout would be cut before its answer", lim.WriteTimeout, lim.ReadTimeout)
	}
	if lim.MaxConns < 1 {
		t.Errorf("MaxConns = %d, want a cap", lim.MaxConns)
	}
	srv := newServer(http.NotFoundHandler(), lim)
	if srv.ReadHeaderTimeout != lim.ReadHeaderTimeout || srv.ReadTimeout != lim.ReadTimeout || srv.WriteTimeout != lim.WriteTimeout || srv.IdleTimeout != lim.IdleTimeout {
		t.Errorf("newServer timeouts = %v %v %v %v, want %+v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, lim)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	lim := minute
	lim.IdleTimeout = 200 * time.Millisecond
	c := dial(t, serve(t, http.HandlerFunc(ok), lim))
	c.send(t, "/")
	if resp, err := c.response(generous); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v, %v", resp, err)
	}
	// Idle from now on: the server must hang up, long before generous.
	c.SetReadDeadline(time.Now().Add(generous))
	n, err := c.r.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection = %d bytes, %v; want io.EOF (closed by the server after its idle timeout)", n, err)
	}
}

func TestSlowReaderIsCut(t *testing.T) {
	const size = 64 << 20 // more than any socket buffers hold
	lim := minute
	lim.WriteTimeout = 300 * time.Millisecond
	c := dial(t, serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(make([]byte, size))
	}), lim))
	c.send(t, "/")
	// A client that does not read: the server's writes block, and the write
	// deadline must end them.
	time.Sleep(2 * time.Second)
	c.SetReadDeadline(time.Now().Add(generous))
	n, err := io.Copy(io.Discard, c.r)
	if n >= size || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a client that did not read got %d of %d bytes (%v); want the connection cut short by WriteTimeout", n, size, err)
	}
}

func TestConnectionCap(t *testing.T) {
	lim := minute
	lim.MaxConns = 2
	addr := serve(t, http.HandlerFunc(ok), lim)
	var held []*client
	for i := range lim.MaxConns {
		c := dial(t, addr)
		c.send(t, "/")
		if resp, err := c.response(generous); err != nil || resp.StatusCode != 200 {
			t.Fatalf("connection %d: %v, %v", i+1, resp, err)
		}
		held = append(held, c)
	}

	extra := dial(t, addr) // accepted by the kernel, not by the server
	extra.send(t, "/")
	if resp, err := extra.response(500 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection %d beyond the cap of %d: %v, %v; want no answer while the others are open", lim.MaxConns+1, lim.MaxConns, resp, err)
	}

	held[0].Close()
	if resp, err := extra.response(generous); err != nil || resp.StatusCode != 200 {
		t.Fatalf("connection %d once another closed: %v, %v; want 200", lim.MaxConns+1, resp, err)
	}
	// The slot of a connection the server closes is freed too.
	held[1].send(t, "/")
	if _, err := held[1].response(generous); err != nil {
		t.Fatalf("held connection: %v", err)
	}
}

// TestClosingTheListenerEndsAWaitingAccept: at the cap, Accept waits for a
// slot; a server shutdown closes the listener, which must end that wait,
// or Serve would never return.
func TestClosingTheListenerEndsAWaitingAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := limitListener(ln, 1)
	dial(t, ln.Addr().String())
	held, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(generous):
		t.Fatal("Accept still waiting for a slot after the listener was closed")
	}
}
