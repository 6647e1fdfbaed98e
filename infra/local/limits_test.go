package main_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMaxConns runs the runner with WIRESK_MAX_CONNS=1: a second connection
// is served only once the first closes.
func TestMaxConns(t *testing.T) {
	r := startRunner(t, t.TempDir(), true, "WIRESK_MAX_CONNS=1")
	// startRunner's own probe may still hold the one slot.
	http.DefaultClient.CloseIdleConnections()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	get := func(c net.Conn, br *bufio.Reader, wait time.Duration) (*http.Response, error) {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: wiresk\r\n\r\n"); err != nil {
			return nil, err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}

	first, firstR := dial()
	if resp, err := get(first, firstR, 10*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first connection: %v, %v; want 200", resp, err)
	}
	second, secondR := dial()
	if resp, err := get(second, secondR, 500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection while the first is open: %v, %v; want no answer", resp, err)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(secondR, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("second connection once the first closed: %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
}

func TestMaxConnsMustBePositive(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "WIRESK_ADDR=127.0.0.1:0", "WIRESK_DATA_DIR="+t.TempDir(), "WIRESK_MAX_CONNS=0")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "-max-conns") {
		t.Fatalf("runner with WIRESK_MAX_CONNS=0: %v, output %q; want exit status 2 naming -max-conns", err, out)
	}
}
