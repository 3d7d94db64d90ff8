package netguard

import (
	"net/netip"
	"testing"
)

func TestInternal(t *testing.T) {
	for _, c := range []struct {
		addr     string
		internal bool
	}{
		{"127.0.0.1", true},
		{"0.0.0.0", true},
		{"::1", true},
		{"::", true},
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.1.2.3", true},
		{"10.0.0.1", true},
		{"172.16.5.4", true},
		{"192.168.1.1", true},
		{"169.254.169.254", true},
		{"224.0.0.1", true},
		{"255.255.255.255", true},
		{"100.64.0.1", true},
		{"198.51.100.7", true},
		{"fd00::1", true},
		{"fe80::1%eth0", true},
		{"ff02::1", true},
		{"2001:db8::1", true},
		{"64:ff9b::7f00:1", true},   // NAT64 of 127.0.0.1
		{"2002:a00:1::1", true},     // 6to4 of 10.0.0.1
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", false},  // 6to4 of 8.8.8.8
		{"8.8.8.8", false},
		{"151.101.1.140", false},
		{"::ffff:8.8.4.4", false},
		{"2a00:1450:4002:80a::200e", false},
	} {
		a := netip.MustParseAddr(c.addr)
		if got := Internal(a); got != c.internal {
			t.Errorf("Internal(%s) = %v, want %v", c.addr, got, c.internal)
		}
	}
	if !Internal(netip.Addr{}) {
		t.Error("the zero address must be internal")
	}
}
