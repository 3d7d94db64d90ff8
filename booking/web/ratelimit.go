package web

import (
	"math"
	"net"
	"sync"
	"time"
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

// Default rate limit values.
const (
	defaultPerMinute  = 10
	defaultBurst      = 5
	defaultMaxClients = 10000
)

// limiter is a per-address token bucket. Its memory is bounded by
// maxClients; it keeps no goroutine.
type limiter struct {
	rate       float64 // tokens per second; 0 means unlimited
	burst      float64
	maxClients int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(c RateLimit) *limiter {
	l := &limiter{buckets: make(map[string]*bucket)}
	if c.PerMinute < 0 {
		return l
	}
	perMinute, burst := c.PerMinute, c.Burst
	if perMinute == 0 {
		perMinute = defaultPerMinute
	}
	if burst <= 0 {
		burst = defaultBurst
	}
	l.rate = perMinute / 60
	l.burst = float64(burst)
	l.maxClients = c.MaxClients
	if l.maxClients <= 0 {
		l.maxClients = defaultMaxClients
	}
	return l
}

// allow takes a token for addr at now. When none is left it returns false
// and how long until the next one.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	if l.rate == 0 {
		return true, 0
	}
	key := limitKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxClients {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// evict makes room in a full table: it drops every address whose bucket
// has refilled by now (forgetting it changes nothing), and if none has, the
// least recently seen one. Called with mu held.
func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	var oldest string
	var oldestAt time.Time
	for k, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, k)
			continue
		}
		if oldest == "" || b.last.Before(oldestAt) {
			oldest, oldestAt = k, b.last
		}
	}
	if len(l.buckets) >= l.maxClients && oldest != "" {
		delete(l.buckets, oldest)
	}
}

// size returns the number of remembered addresses.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limitKey groups IPv6 addresses by their /64, which one subscriber
// usually holds whole, so rotating addresses inside it gains nothing.
func limitKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
