// Package emulator starts the real local emulators the AWS adapters' contract
// suites run against (design §4): Amazon DynamoDB Local and goaws (SQS),
// which the Makefile fetches into .cache/ (`make emulators`), and gofakes3
// (S3), a Go module served in the test process. Tests start each on a free
// loopback port and stop it when they end. A missing emulator fails the
// test with instructions; it never skips.
package emulator

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitTCP waits until process pid listens on addr's port and addr accepts
// connections, or fails tb after d.
func waitTCP(tb testing.TB, pid int, addr string, d time.Duration, exited <-chan struct{}, logs func() string) {
	tb.Helper()
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			tb.Fatalf("emulator at %s exited before it was ready:\n%s", addr, logs())
		default:
		}
		if mine, _ := ownsListener(pid, port); mine {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("emulator at %s not ready after %s:\n%s", addr, d, logs())
}

// locate returns the path of a fetched emulator file: the environment
// variable env if set (the Makefile sets it), else rel under the module
// root's .cache directory. It fails tb with instructions if the file is
// missing.
func locate(tb testing.TB, env, rel string) string {
	tb.Helper()
	path := os.Getenv(env)
	if path == "" {
		root, err := moduleRoot()
		if err != nil {
			tb.Fatalf("find the module root: %v", err)
		}
		path = filepath.Join(root, ".cache", rel)
	}
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("%s not found (%v): run `make emulators` (needs npm and a JDK 17+), or set %s", path, err, env)
	}
	return path
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
