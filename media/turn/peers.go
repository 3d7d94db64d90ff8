package turn

import (
	"net"
	"net/netip"

	"github.com/sportello-virtuale/sportello/internal/netguard"
)

// The peers a TURN client must not reach through the relay are
// netguard's internal addresses: the relay sits inside the Comune's
// network, so a permission towards them would let anyone holding a
// credential (every citizen with a join link) send UDP to internal hosts,
// cloud metadata services (169.254.169.254) or the node itself.

// peerFilter decides which peer addresses a client may create permissions
// and channels towards. It is immutable after Start, so it needs no lock
// (more, when set, is safe for concurrent use).
type peerFilter struct {
	allow map[netip.Addr]bool
	more  func() []netip.Addr
}

func newPeerFilter(allow []netip.Addr, more func() []netip.Addr) *peerFilter {
	f := &peerFilter{allow: make(map[netip.Addr]bool, len(allow)), more: more}
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
	if !internal(ip) {
		return true
	}
	if f.more != nil {
		for _, a := range f.more() {
			if a.Unmap().WithZone("") == ip {
				return true
			}
		}
	}
	return false
}

// allowedIP is allowed for the net.IP that pion hands to its
// PermissionHandler.
func (f *peerFilter) allowedIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && f.allowed(a)
}

// internal reports whether ip is an address that must never be relayed
// to.
func internal(ip netip.Addr) bool { return netguard.Internal(ip) }
