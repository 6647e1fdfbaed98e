package egress_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"wiresk/internal/egress"
)

func TestGuardDefault(t *testing.T) {
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"172.32.0.1", true},
		{"100.128.0.1", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.0.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"ff02::1", false},
		{"fec0::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", false},           // any IPv4-mapped address
		{"::ffff:0:808:808", false},         // IPv4-translated 8.8.8.8
		{"64:ff9b:1::808:808", false},       // local-use NAT64
		{"64:ff9b:1:ffff::1", false},        // local-use NAT64
		{"2001:0:4136:e378:8000::1", false}, // Teredo
		{"2001:db9::1", true},               // outside Teredo's /32
		{"::127.0.0.1", false},
		{"64:ff9b::a00:1", false},    // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true},   // NAT64 of 8.8.8.8
		{"2002:a9fe:a9fe::1", false}, // 6to4 of 169.254.169.254
		{"2002:808:808::1", true},    // 6to4 of 8.8.8.8
	}
	for _, g := range []*egress.Guard{nil, {}} {
		for _, tt := range tests {
			err := g.Check(netip.MustParseAddr(tt.addr))
			if got := err == nil; got != tt.allowed {
				t.Errorf("Check(%s) = %v, want allowed %v", tt.addr, err, tt.allowed)
			}
			var re *egress.RefusedError
			if err != nil && !errors.As(err, &re) {
				t.Errorf("Check(%s) error = %#v, want a *egress.RefusedError", tt.addr, err)
			}
		}
	}
}

func TestGuardAllow(t *testing.T) {
	g, err := egress.NewGuard("10.1.0.0/16, 192.168.5.7", "fd00::/8 169.254.169.254/32", "")
	if err != nil {
		t.Fatalf("NewGuard: %v", err)
	}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"10.2.0.1", false},
		{"192.168.5.7", true},
		{"192.168.5.8", false},
		{"fd00::1", true},
		{"fc00::1", false},
		{"169.254.169.254", true},
		{"169.254.169.253", false},
		{"127.0.0.1", false},
		{"8.8.8.8", true},
	}
	for _, tt := range tests {
		if got := g.Check(netip.MustParseAddr(tt.addr)) == nil; got != tt.allowed {
			t.Errorf("Check(%s) allowed = %v, want %v", tt.addr, got, tt.allowed)
		}
	}
}

func TestNewGuardErrors(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "not-an-ip", "10.0.0.1/8/2", "10.0.0"} {
		_, err := egress.NewGuard(s)
		if err == nil || !strings.Contains(err.Error(), "WIRESK_HTTP_ALLOW_CIDRS") {
			t.Errorf("NewGuard(%q) error = %v, want one naming WIRESK_HTTP_ALLOW_CIDRS", s, err)
		}
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	err := (*egress.Guard)(nil).Check(netip.MustParseAddr("169.254.169.254"))
	for _, want := range []string{"destination address 169.254.169.254 is not allowed", "link-local", "169.254.169.254/32", "WIRESK_HTTP_ALLOW_CIDRS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check error = %v, want it to contain %q", err, want)
		}
	}
}
