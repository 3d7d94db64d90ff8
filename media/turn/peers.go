package turn

import (
	"net"
	"net/netip"
)

// blockedPrefixes are the peer ranges a TURN client must not reach through
// the relay: the relay sits inside the Comune's network, so a permission
// towards these would let anyone holding a credential (every citizen with
// a join link) send UDP to internal hosts, cloud metadata services
// (169.254.169.254) or the node itself. IPv4-mapped IPv6 peers are unmapped
// before the check; NAT64 and 6to4 peers are checked by the IPv4 address
// they embed.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network", includes the unspecified address
	netip.MustParsePrefix("10.0.0.0/8"),     // RFC 1918
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),  // RFC 1918
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // RFC 1918
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking, used inside labs
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, includes broadcast
	netip.MustParsePrefix("::/96"),          // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("2001::/32"),      // Teredo: the IPv4 inside is obfuscated
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215)
}

// Embedded IPv4 in translation prefixes: the packet ends up at that IPv4
// address, so it is judged by it.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// peerFilter decides which peer addresses a client may create permissions
// and channels towards. It is immutable after Start, so it needs no lock.
type peerFilter struct {
	allow map[netip.Addr]bool
}

func newPeerFilter(allow []netip.Addr) *peerFilter {
	f := &peerFilter{allow: make(map[netip.Addr]bool, len(allow))}
	for _, a := range allow {
		f.allow[a.Unmap().WithZone("")] = true
	}
	return f
}

// allowed reports whether the relay may send to ip.
func (f *peerFilter) allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if f.allow[ip] {
		return true
	}
	return !internal(ip)
}

// allowedIP is allowed for the net.IP that pion hands to its
// PermissionHandler.
func (f *peerFilter) allowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && f.allowed(a)
}

// internal reports whether ip (already unmapped) is an address that must
// never be relayed to.
func internal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64Prefix.Contains(ip):
			return internal(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(ip):
			return internal(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}
