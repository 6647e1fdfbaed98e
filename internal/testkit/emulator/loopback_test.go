package emulator

import (
	"net"
	"net/url"
	"strconv"
	"testing"
)

// TestLoopbackOnly checks the check itself on sockets this test opens.
func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		network, addr string
		exposed       bool
	}{
		{"tcp4", "127.0.0.1:0", false},
		{"tcp6", "[::1]:0", false},
		{"tcp4", "0.0.0.0:0", true},
		{"tcp", "[::]:0", true},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			l, err := net.Listen(c.network, c.addr)
			if err != nil {
				t.Fatalf("listen on %s: %v", c.addr, err)
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			err = loopbackOnly(port)
			if got := err != nil; got != c.exposed {
				t.Fatalf("loopbackOnly of a socket on %s = %v, want exposed = %v", l.Addr(), err, c.exposed)
			}
		})
	}
}

// TestEmulatorsListenOnLoopbackOnly starts each emulator and checks that no
// other machine can reach it.
func TestEmulatorsListenOnLoopbackOnly(t *testing.T) {
	cases := []struct {
		name  string
		start func(testing.TB) string
	}{
		{"DynamoDB Local", DynamoDB},
		{"goaws", GoAWS},
		{"S3 (gofakes3)", S3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			endpoint := c.start(t)
			u, err := url.Parse(endpoint)
			if err != nil {
				t.Fatal(err)
			}
			if host := u.Hostname(); host != "127.0.0.1" {
				t.Errorf("endpoint %s: host %s, want 127.0.0.1", endpoint, host)
			}
			port, err := strconv.Atoi(u.Port())
			if err != nil {
				t.Fatalf("endpoint %s: %v", endpoint, err)
			}
			if err := loopbackOnly(port); err != nil {
				t.Fatalf("%s at %s %v, want loopback only", c.name, endpoint, err)
			}
			// It still answers on loopback.
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatalf("connect to %s on loopback: %v", c.name, err)
			}
			conn.Close()
		})
	}
}
