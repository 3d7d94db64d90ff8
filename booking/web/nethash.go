package web

import (
	"sync"

	"github.com/sportello-virtuale/sportello/tenant"
)

// netHashes keeps the network hashes (booking.Challenges.NetHash) of the
// client addresses seen lately. The hash is an HMAC under the node's
// fixed key of the Comune and the address's network, so a kept one is
// always right; computing it took about 2–3 µs of every booking, and the
// API's clients are mostly a Comune's integrators calling from a few
// addresses.
type netHashes struct {
	mu sync.Mutex
	m  map[netHashKey]string
}

type netHashKey struct {
	t    tenant.ID
	addr string
}

// maxNetHashes bounds the addresses kept; the map is emptied when full.
const maxNetHashes = 4096

// get returns the hash of addr for t, computing it with hash when it is
// not kept.
func (c *netHashes) get(t tenant.ID, addr string, hash func(tenant.ID, string) string) string {
	k := netHashKey{t, addr}
	c.mu.Lock()
	h, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return h
	}
	h = hash(t, addr)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxNetHashes {
		c.m = make(map[netHashKey]string)
	}
	c.m[k] = h
	c.mu.Unlock()
	return h
}
