package web

import (
	"strconv"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestNetHashes checks that the kept hashes are NetHash's, per Comune and
// address, and that the cache stays bounded.
func TestNetHashes(t *testing.T) {
	fair := booking.NewChallenges([]byte("0123456789abcdef0123456789abcdef"))
	var c netHashes
	calls := 0
	hash := func(t tenant.ID, addr string) string { calls++; return fair.NetHash(t, addr) }
	for round := range 2 {
		for _, ten := range []tenant.ID{"bari", "altamura"} {
			for _, addr := range []string{"203.0.113.7", "203.0.113.8", "2001:db8::1", "not an address", ""} {
				if got, want := c.get(ten, addr, hash), fair.NetHash(ten, addr); got != want {
					t.Fatalf("round %d, %s %q: %q, want %q", round, ten, addr, got, want)
				}
			}
		}
	}
	if calls != 10 {
		t.Fatalf("%d hashes computed for 10 keys asked twice", calls)
	}
	for i := range maxNetHashes + 10 {
		c.get("bari", "198.51.100."+strconv.Itoa(i), hash)
	}
	if len(c.m) > maxNetHashes {
		t.Fatalf("%d kept, bound %d", len(c.m), maxNetHashes)
	}
}
