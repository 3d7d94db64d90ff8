package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	l := New(6, 2, 100) // one token every 10 s
	for i := range 2 {
		if ok, _ := l.Allow("192.0.2.7", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("192.0.2.7", now)
	if ok || wait != 10*time.Second {
		t.Fatalf("third request: got %t, wait %v; want refused, 10s", ok, wait)
	}
	if ok, _ := l.Allow("192.0.2.8", now); !ok {
		t.Error("another address shares the bucket")
	}
	if ok, _ := l.Allow("192.0.2.7", now.Add(10*time.Second)); !ok {
		t.Error("no token after 10 s")
	}
}

func TestIPv6SubnetSharesOneBucket(t *testing.T) {
	now := time.Now()
	l := New(1, 1, 100)
	l.Allow("2001:db8:1:2::1", now)
	if ok, _ := l.Allow("2001:db8:1:2:ffff::9", now); ok {
		t.Error("a second address of the same /64 got its own bucket")
	}
	if ok, _ := l.Allow("2001:db8:1:3::1", now); !ok {
		t.Error("another /64 was refused")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	now := time.Now()
	l := New(1, 1, 50)
	for i := range 1000 {
		l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := l.Size(); n > 50 {
		t.Errorf("remembers %d addresses, want at most 50", n)
	}
}

func TestUnlimited(t *testing.T) {
	l := New(0, 0, 0)
	for range 1000 {
		if ok, _ := l.Allow("192.0.2.1", time.Now()); !ok {
			t.Fatal("an unlimited limiter refused")
		}
	}
}
