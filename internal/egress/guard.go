package egress

import (
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// AllowEnv is the configuration variable that lists the CIDRs outgoing HTTP
// requests may reach although they are refused by default.
const AllowEnv = "WIRESK_HTTP_ALLOW_CIDRS"

// Guard decides which addresses outgoing HTTP requests may connect to, to
// stop a Flow from reaching the private network of the server (SSRF). By
// default it refuses loopback, private (RFC 1918, fc00::/7), link-local
// (169.254.0.0/16, which holds the cloud metadata endpoint, and fe80::/10),
// unspecified, "this network" (0.0.0.0/8), multicast, reserved
// (240.0.0.0/4) and shared (CGNAT, 100.64.0.0/10) addresses, including
// their IPv4-compatible, NAT64 and 6to4 IPv6 forms, and every IPv4-mapped
// (::ffff:0:0/96), IPv4-translated, local-use NAT64 (64:ff9b:1::/48) and
// Teredo (2001::/32) address, unless
// the address is inside a prefix of Allow. A nil *Guard is the default guard.
type Guard struct {
	Allow []netip.Prefix
}

// NewGuard returns a Guard that allows the given CIDRs. Each argument may
// hold several CIDRs separated by commas or blanks (the format of
// WIRESK_HTTP_ALLOW_CIDRS), and a bare address stands for itself alone.
func NewGuard(allow ...string) (*Guard, error) {
	g := &Guard{}
	for _, a := range allow {
		for _, f := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			if p, err := netip.ParsePrefix(f); err == nil {
				g.Allow = append(g.Allow, p.Masked())
				continue
			}
			addr, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a CIDR like 10.1.0.0/16 or an IP address", AllowEnv, f)
			}
			g.Allow = append(g.Allow, netip.PrefixFrom(addr.WithZone(""), addr.BitLen()))
		}
	}
	return g, nil
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	reserved    = netip.MustParsePrefix("240.0.0.0/4")
	siteLocal   = netip.MustParsePrefix("fec0::/10")
	v4Compat    = netip.MustParsePrefix("::/96")
	nat64       = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
	// localNAT64 is the local-use NAT64 prefix (RFC 8215): what it
	// translates to is the operator's choice, so it is refused whole.
	localNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")
	// v4Translated (RFC 2765, SIIT) reaches IPv4 hosts like v4-mapped.
	v4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	// teredo tunnels to an IPv4 host the address only hints at.
	teredo = netip.MustParsePrefix("2001::/32")
)

// Check returns nil when the guard lets requests connect to addr, and an
// error saying why not and how to allow it otherwise.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.WithZone("")
	why := refusal(addr)
	if why == "" {
		return nil
	}
	if g != nil {
		for _, p := range g.Allow {
			if p.Contains(addr) || p.Contains(addr.Unmap()) {
				return nil
			}
		}
	}
	return &RefusedError{Addr: addr, Reason: why}
}

// refusal returns why addr is refused by default, or "" when it is not.
func refusal(addr netip.Addr) string {
	if addr.Is4In6() {
		// A dialer is given plain IPv4 addresses for IPv4 hosts; a mapped
		// form (::ffff:0:0/96) reaches whatever IPv4 host it names through
		// the IPv6 stack, so it is refused unless allow-listed.
		if why := refusal(addr.Unmap()); why != "" {
			return why + " (IPv4-mapped)"
		}
		return "an IPv4-mapped address"
	}
	switch {
	case !addr.IsValid():
		return "an invalid address"
	case addr.IsUnspecified():
		return "the unspecified address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate():
		return "a private address"
	case addr.IsLinkLocalUnicast():
		return "a link-local address, such as the cloud metadata endpoint"
	case addr.IsMulticast():
		return "a multicast address"
	}
	if addr.Is4() {
		switch {
		case cgnat.Contains(addr):
			return "a shared (CGNAT) address"
		case thisNetwork.Contains(addr):
			return `a "this network" address`
		case reserved.Contains(addr):
			return "a reserved or broadcast address"
		}
		return ""
	}
	switch {
	case siteLocal.Contains(addr):
		return "a site-local address"
	case v4Compat.Contains(addr):
		return "an IPv4-compatible address"
	case v4Translated.Contains(addr):
		return "an IPv4-translated address"
	case localNAT64.Contains(addr):
		return "a local-use NAT64 address"
	case teredo.Contains(addr):
		return "a Teredo tunnel address"
	case nat64.Contains(addr):
		b := addr.As16()
		if why := refusal(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
			return why + " (NAT64)"
		}
	case sixToFour.Contains(addr):
		b := addr.As16()
		if why := refusal(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return why + " (6to4)"
		}
	}
	return ""
}

// RefusedError is the error of a connection the Guard refused.
type RefusedError struct {
	Addr   netip.Addr
	Reason string
}

// Error says which address was refused, why, and how to allow it.
func (e *RefusedError) Error() string {
	bits := 32
	if e.Addr.Is6() {
		bits = 128
	}
	return fmt.Sprintf("destination address %s is not allowed: it is %s; to allow it, add it (for example %s/%d) to %s",
		e.Addr, e.Reason, e.Addr, bits, AllowEnv)
}

// control is the net.Dialer Control function of the guard: it runs on the
// address about to be connected to, after name resolution, for every
// connection, redirects included, so DNS tricks cannot get around it.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("cannot check destination %q: %w", address, err)
	}
	return g.Check(ap.Addr())
}
