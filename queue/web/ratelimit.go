package web

import (
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
)

// RateLimit limits how many tickets one client address may take: a token
// bucket refilled at PerMinute a minute holding at most Burst. The zero
// value means the defaults (6 a minute, burst 3: a family at a kiosk
// takes a few tickets at once, nobody needs dozens); a negative PerMinute
// disables the limit. A kiosk behind one address needs a higher limit,
// or TrustProxyHeaders with per-kiosk addresses.
type RateLimit struct {
	PerMinute float64
	Burst     int
	// MaxClients bounds the addresses remembered; 0 means 10,000.
	MaxClients int
}

// newLimiter returns the limiter of c, with the defaults for zero values
// (6 a minute, burst 3, 10,000 addresses) and no limit for a negative
// PerMinute.
func newLimiter(c RateLimit) *ratelimit.Limiter {
	if c.PerMinute < 0 {
		return ratelimit.New(0, 0, 0)
	}
	if c.PerMinute == 0 {
		c.PerMinute = 6
	}
	if c.Burst <= 0 {
		c.Burst = 3
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 10000
	}
	return ratelimit.New(c.PerMinute, c.Burst, c.MaxClients)
}
