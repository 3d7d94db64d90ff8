package web

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/tenant/site"
)

// LoginLimit bounds how many logins may begin per minute on one node,
// from one client address and in all. Every login begun is a replicated
// write (auth.flow.begin) that anyone can cause without credentials; the
// limits keep a flood of them from filling the log. Zero fields mean the
// defaults (20 per client, 600 per node); a negative field disables that
// limit.
type LoginLimit struct {
	PerClient int
	PerNode   int
}

// Default login limits, per minute.
const (
	defaultLoginsPerClient = 20
	defaultLoginsPerNode   = 600
	// maxTrackedClients bounds the memory of the limiter; past it, new
	// addresses share the node-wide limit only.
	maxTrackedClients = 10000
)

// windowLimiter counts logins in fixed one-minute windows. It keeps no
// goroutine: a request that finds the window over starts a new one.
type windowLimiter struct {
	perClient, perNode int

	mu     sync.Mutex
	window time.Time
	total  int
	counts map[string]int
}

func newWindowLimiter(c LoginLimit) *windowLimiter {
	l := &windowLimiter{perClient: c.PerClient, perNode: c.PerNode, counts: map[string]int{}}
	if l.perClient == 0 {
		l.perClient = defaultLoginsPerClient
	}
	if l.perNode == 0 {
		l.perNode = defaultLoginsPerNode
	}
	return l
}

// allow counts one login from client at now and reports whether it is
// within the limits.
func (l *windowLimiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := now.Truncate(time.Minute); !w.Equal(l.window) {
		l.window, l.total = w, 0
		clear(l.counts)
	}
	if l.perNode > 0 && l.total >= l.perNode {
		return false
	}
	if l.perClient > 0 {
		n, tracked := l.counts[client]
		if n >= l.perClient {
			return false
		}
		if tracked || len(l.counts) < maxTrackedClients {
			l.counts[client] = n + 1
		}
	}
	l.total++
	return true
}

// clientKey is the address a request is counted under: the connection's
// address, or the last X-Forwarded-For entry (the one the trusted proxy
// added) when proxy headers are trusted. IPv6 addresses count per /64,
// which one client usually holds whole.
func (h *Handler) clientKey(r *http.Request) string {
	addr := site.ClientIP(r, h.trustProxy)
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String()
}
