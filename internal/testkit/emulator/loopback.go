package emulator

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireLoopbackOnly fails tb, with fix as the remedy, unless the emulator
// called name, listening on port, can be reached on loopback addresses only:
// an emulator accepts any credentials, so one reachable from the network
// would let anyone on it read and change the test data.
func requireLoopbackOnly(tb testing.TB, name string, port int, fix string) {
	tb.Helper()
	if err := loopbackOnly(port); err != nil {
		tb.Fatalf("%s %v; it must listen on 127.0.0.1 only, for it accepts any credentials: %s", name, err, fix)
	}
}

// loopbackOnly reports, as an error, a TCP socket listening on port on an
// address other than a loopback one, or a connection to port accepted on
// one of the machine's other addresses. On Linux it reads the listening
// sockets from /proc/net/tcp and /proc/net/tcp6; elsewhere it only tries to
// connect.
func loopbackOnly(port int) error {
	addrs, err := listeners(port)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No /proc/net: the connection attempts below still check.
	case err != nil:
		return fmt.Errorf("cannot list its listening sockets: %w", err)
	case len(addrs) == 0:
		return fmt.Errorf("has no listening socket on port %d in /proc/net/tcp{,6}", port)
	default:
		for _, a := range addrs {
			if !a.Unmap().IsLoopback() {
				return fmt.Errorf("listens on %s", netip.AddrPortFrom(a, uint16(port)))
			}
		}
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("cannot list the machine's addresses: %w", err)
	}
	for _, ia := range ifaddrs {
		ipnet, ok := ia.(*net.IPNet)
		// Link-local IPv6 addresses need a zone to be dialled; a socket
		// listening on them listens on a wildcard that the other
		// addresses reveal.
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		addr := net.JoinHostPort(ipnet.IP.String(), strconv.Itoa(port))
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("accepts connections on %s", addr)
		}
	}
	return nil
}

// listeners returns the local addresses of the TCP sockets listening on
// port, from /proc/net/tcp and /proc/net/tcp6. Its error wraps
// fs.ErrNotExist where there is no /proc/net/tcp.
func listeners(port int) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			if file == "/proc/net/tcp6" && errors.Is(err, fs.ErrNotExist) {
				continue // IPv6 disabled
			}
			return nil, err
		}
		a, err := parseListeners(f, port)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		addrs = append(addrs, a...)
	}
	return addrs, nil
}

// tcpListen is the state of a listening socket in /proc/net/tcp.
const tcpListen = "0A"

// parseListeners reads a /proc/net/tcp or /proc/net/tcp6 table and returns
// the local addresses of its sockets listening on port. Each line is
// "sl local_address rem_address st ...", the address in hex as ADDR:PORT,
// ADDR being the address's 32-bit words each in the host's byte order.
func parseListeners(f *os.File, port int) ([]netip.Addr, error) {
	var addrs []netip.Addr
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != tcpListen {
			continue
		}
		hexAddr, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			return nil, fmt.Errorf("local address %q: want ADDR:PORT", fields[1])
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("local address %q: %w", fields[1], err)
		}
		if int(p) != port {
			continue
		}
		raw, err := hex.DecodeString(hexAddr)
		if err != nil || (len(raw) != 4 && len(raw) != 16) {
			return nil, fmt.Errorf("local address %q: not an IPv4 or IPv6 address", fields[1])
		}
		for i := 0; i < len(raw); i += 4 {
			binary.BigEndian.PutUint32(raw[i:], binary.NativeEndian.Uint32(raw[i:]))
		}
		a, _ := netip.AddrFromSlice(raw)
		addrs = append(addrs, a)
	}
	return addrs, sc.Err()
}
