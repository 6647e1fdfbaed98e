package emulator

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// lockPorts serializes, across every test process of this machine, the
// time from choosing a free port to the emulator listening on it: two
// packages tested at once (go test runs them in parallel) could otherwise
// choose the same port, and the one that loses the bind would send its
// tests to the other's emulator. The returned unlock may be called more
// than once.
func lockPorts(tb testing.TB) (unlock func()) {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "wiresk-emulator-ports.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		tb.Fatalf("open the emulators' port lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		tb.Fatalf("take the emulators' port lock: %v", err)
	}
	return sync.OnceFunc(func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	})
}

// ownsListener reports whether process pid holds the socket listening on
// port (by the socket inodes of /proc/net/tcp{,6} and the process's file
// descriptors), so that a test never talks to an emulator it did not start.
func ownsListener(pid, port int) (bool, error) {
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue // no IPv6
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header line
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != tcpListen {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
		f.Close()
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[link] {
			return true, nil
		}
	}
	return false, nil
}
