package web

import (
	"github.com/sportello-virtuale/sportello/internal/ratelimit"
)

// RateLimit limits how many bookings one client address may create: a
// token bucket refilled at PerMinute tokens a minute holding at most Burst.
// The zero value means the defaults (10 a minute, burst 5); a negative
// PerMinute disables the limit.
type RateLimit struct {
	PerMinute float64
	Burst     int
	// MaxClients bounds the addresses remembered; 0 means 10,000. When the
	// table is full, addresses whose bucket has refilled are forgotten
	// first, then the least recently seen.
	MaxClients int
}

// newLimiter returns the limiter of c, with the defaults for zero values
// (10 a minute, burst 5, 10,000 addresses) and no limit for a negative
// PerMinute.
func newLimiter(c RateLimit) *ratelimit.Limiter {
	if c.PerMinute < 0 {
		return ratelimit.New(0, 0, 0)
	}
	if c.PerMinute == 0 {
		c.PerMinute = 10
	}
	if c.Burst <= 0 {
		c.Burst = 5
	}
	if c.MaxClients <= 0 {
		c.MaxClients = 10000
	}
	return ratelimit.New(c.PerMinute, c.Burst, c.MaxClients)
}
