package turn

import (
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestReservationLapses(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	us := newUsers(1, -1, c.now)
	if !us.reserve("alice") {
		t.Fatal("first reservation refused")
	}
	if us.reserve("alice") {
		t.Fatal("second reservation granted over a quota of 1")
	}
	// The first request never produced an allocation: its slot lapses.
	c.t = c.t.Add(reservationTTL + time.Second)
	if !us.reserve("alice") {
		t.Fatal("reservation refused after the pending one lapsed")
	}
	u := us.created("alice", "k1")
	if u.bucket != nil {
		t.Error("bucket with a negative rate, want no cap")
	}
	if us.reserve("alice") {
		t.Fatal("reservation granted with the live allocation at quota")
	}
	us.deleted("alice", "k1")
	if len(us.m) != 0 {
		t.Errorf("users kept %d entries after the last allocation, want 0", len(us.m))
	}
	if !us.reserve("alice") {
		t.Fatal("reservation refused after the allocation was deleted")
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	b := newBucket(1000, now)
	if !b.take(1000, now) {
		t.Fatal("a full second's burst refused")
	}
	if b.take(1, now) {
		t.Fatal("took from an empty bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if !b.take(500, now) || b.take(1, now) {
		t.Fatal("half a second should refill exactly 500 bytes")
	}
	now = now.Add(time.Hour)
	if !b.take(1000, now) || b.take(1, now) {
		t.Fatal("the bucket must hold at most one second's worth")
	}
}
