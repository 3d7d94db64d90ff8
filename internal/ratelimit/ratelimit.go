// Package ratelimit is the per-client token bucket of the public pages and
// APIs (bookings, queue tickets): bounded memory, no goroutine, IPv6
// clients grouped by their /64.
package ratelimit

import (
	"math"
	"net"
	"sync"
	"time"
)

// Limiter is a token bucket per client address, refilled at a fixed rate
// up to a burst. Its memory is bounded by the number of addresses it
// remembers; it keeps no goroutine. The zero value is not usable: see New.
type Limiter struct {
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

// New returns a limiter that grants perMinute tokens a minute to each
// address, holding at most burst, and remembers at most maxClients
// addresses. perMinute <= 0 means no limit. Callers choose their own
// defaults before calling.
func New(perMinute float64, burst, maxClients int) *Limiter {
	l := &Limiter{buckets: make(map[string]*bucket)}
	if perMinute <= 0 {
		return l
	}
	l.rate = perMinute / 60
	l.burst = float64(max(burst, 1))
	l.maxClients = max(maxClients, 1)
	return l
}

// Allow takes a token for addr at now. When none is left it returns false
// and how long until the next one.
func (l *Limiter) Allow(addr string, now time.Time) (bool, time.Duration) {
	if l.rate == 0 {
		return true, 0
	}
	key := Key(addr)
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
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// evict makes room in a full table: it drops every address whose bucket
// has refilled by now (forgetting it changes nothing), and if none has,
// the least recently seen one. Called with mu held.
func (l *Limiter) evict(now time.Time) {
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

// Size returns the number of remembered addresses.
func (l *Limiter) Size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Key is the bucket of addr: IPv6 addresses are grouped by their /64,
// which one subscriber usually holds whole, so rotating addresses inside
// it gains nothing.
func Key(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return addr
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
