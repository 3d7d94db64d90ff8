package web

import (
	"math"
	"net"
	"sync"
	"time"
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

// limiter is a per-address token bucket with bounded memory and no
// goroutine.
type limiter struct {
	rate, burst float64 // rate in tokens per second; 0 means unlimited
	maxClients  int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(c RateLimit) *limiter {
	l := &limiter{buckets: map[string]*bucket{}}
	if c.PerMinute < 0 {
		return l
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
	l.rate, l.burst, l.maxClients = c.PerMinute/60, float64(c.Burst), c.MaxClients
	return l
}

// allow takes a token for addr at now; when none is left it says how
// long until the next one.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	if l.rate == 0 {
		return true, 0
	}
	key := addr
	// One subscriber usually holds a whole IPv6 /64: count it as one.
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		key = ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
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
	if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// evict forgets the addresses whose bucket is full again (forgetting
// them changes nothing), or else the least recently seen. Called with mu
// held.
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
