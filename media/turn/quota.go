package turn

import (
	"sync"
	"sync/atomic"
	"time"
)

// reservationTTL bounds how long a quota slot granted to an Allocate
// request waits for pion to report the allocation created. Allocations are
// created right after the quota check, in the same goroutine; a slot still
// pending after this long belongs to a request that failed (no relay port).
const reservationTTL = 5 * time.Second

// users holds the per-user allocation counts and bandwidth buckets. The
// "user" is the part of the REST username after the colon, so the quota
// follows the person (one call participant) and not the credential's
// expiry or the client's address.
type users struct {
	max  int
	rate int // bytes per second; < 0 means no cap
	now  func() time.Time

	dropped atomic.Uint64 // packets dropped over the bandwidth cap, all users

	mu sync.Mutex
	m  map[string]*user
}

// user is one REST user's state. allocs and pending are guarded by
// users.mu; the bucket has its own lock because the relay goroutines take
// from it on every packet.
type user struct {
	name    string
	allocs  map[string]bool // five-tuple keys of live allocations
	pending []time.Time     // quota slots granted, allocation not yet reported
	bucket  *bucket

	drops      atomic.Uint64 // packets dropped over the cap
	loggedDrop atomic.Int64  // unix nanoseconds of the last drop log line
}

func newUsers(max, rate int, now func() time.Time) *users {
	return &users{max: max, rate: rate, now: now, m: make(map[string]*user)}
}

func (us *users) get(name string) *user {
	u := us.m[name]
	if u == nil {
		u = &user{name: name, allocs: make(map[string]bool)}
		if us.rate > 0 {
			u.bucket = newBucket(us.rate, us.now())
		}
		us.m[name] = u
	}
	return u
}

// reserve is called for each Allocate request: it grants a slot when the
// user's live and pending allocations are below the quota.
func (us *users) reserve(name string) bool {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.get(name)
	now := us.now()
	live := u.pending[:0]
	for _, t := range u.pending {
		if now.Sub(t) < reservationTTL {
			live = append(live, t)
		}
	}
	u.pending = live
	if len(u.allocs)+len(u.pending) >= us.max {
		us.drop(u)
		return false
	}
	u.pending = append(u.pending, now)
	return true
}

// created turns the user's oldest pending slot into a live allocation and
// returns the user, whose bucket the relay socket then draws from.
func (us *users) created(name, key string) *user {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.get(name)
	if len(u.pending) > 0 {
		u.pending = u.pending[1:]
	}
	u.allocs[key] = true
	return u
}

// deleted releases the allocation's slot.
func (us *users) deleted(name, key string) {
	us.mu.Lock()
	defer us.mu.Unlock()
	u := us.m[name]
	if u == nil {
		return
	}
	delete(u.allocs, key)
	us.drop(u)
}

// drop forgets a user with nothing live, so the map only holds users in a
// call. Called with us.mu held.
func (us *users) drop(u *user) {
	if len(u.allocs) == 0 && len(u.pending) == 0 {
		delete(us.m, u.name)
	}
}

// bucket is a token bucket of bytes: it refills at rate bytes per second
// and holds at most one second's worth, so a user may burst to the cap
// for a second (a key frame) but not sustain more.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate int, now time.Time) *bucket {
	return &bucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// take removes n bytes' worth of tokens, or reports false (and removes
// nothing) when the user is over the cap.
func (b *bucket) take(n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * b.rate
		if b.tokens > b.rate {
			b.tokens = b.rate
		}
		b.last = now
	}
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
