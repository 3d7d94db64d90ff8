// Package netguard says which IP addresses Sportello may reach on a
// stranger's say-so. Three places connect to an address someone else
// chose: the Web Push sender (a browser's endpoint), the logo fetcher (a
// Comune's logo URL) and the TURN relay (a citizen's peer). The nodes sit
// inside the Comune's network, so each of those would otherwise be a way
// in: to internal hosts, to the cloud's metadata service, to the node
// itself. One function decides for all three, so that a range added for
// one protects the others.
package netguard

import "net/netip"

// special returns the ranges that are not the public Internet beyond the
// ones netip's predicates name. It is a function, not a package variable,
// so that nothing can change the list at run time; the callers are rare
// (a dial, a permission), so building it each time costs nothing that
// matters.
func special() [18]netip.Prefix {
	p := netip.MustParsePrefix
	return [...]netip.Prefix{
		p("0.0.0.0/8"),       // "this network"
		p("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
		p("192.0.0.0/24"),    // IETF protocol assignments
		p("192.0.2.0/24"),    // documentation
		p("198.18.0.0/15"),   // benchmarking, used inside labs
		p("198.51.100.0/24"), // documentation
		p("203.0.113.0/24"),  // documentation
		p("240.0.0.0/4"),     // reserved, includes broadcast
		p("::/96"),           // unspecified, loopback, IPv4-compatible
		p("100::/64"),        // discard-only
		p("fc00::/7"),        // unique local
		p("fec0::/10"),       // deprecated site-local
		p("2001:db8::/32"),   // documentation
		p("2001::/32"),       // Teredo: the IPv4 inside is obfuscated
		p("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215)
		p("169.254.0.0/16"),  // link-local, cloud metadata
		p("224.0.0.0/4"),     // multicast
		p("ff00::/8"),        // multicast
	}
}

// Internal reports whether ip must not be reached on a stranger's say-so:
// loopback, private (RFC 1918, unique local), link-local (169.254.169.254
// included), multicast, unspecified and the special ranges above.
// IPv4-mapped IPv6 addresses are judged as their IPv4 address, NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) addresses by the IPv4 address they
// carry, since that is where the packets end up. An invalid address is
// internal.
func Internal(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsGlobalUnicast() {
		return true
	}
	for _, p := range special() {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
			return Internal(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case netip.MustParsePrefix("2002::/16").Contains(ip):
			return Internal(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}
