package certs

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestLockRefresherKeepsTheLease runs the refresher for real, on a lease
// of 1 s refreshed every 100 ms: the lock stays held for several leases
// while its holder lives, and is free about a lease after the holder
// stops refreshing.
func TestLockRefresherKeepsTheLease(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, Register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sec, err := auth.NewSecrets(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	short := func(s *Storage) *Storage {
		s.lease, s.refresh, s.pollMin, s.pollMax = time.Second, 100*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
		return s
	}
	holder := short(NewStorage(nodes[1], sec, nil))
	other := short(NewStorage(nodes[2], sec, nil))
	if err := holder.Lock(ctx, "renew_cert_a.example.it"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok, err := other.TryLock(ctx, "renew_cert_a.example.it"); ok || err != nil {
			t.Fatalf("the lock of a living holder was granted to another (%v)", err)
		}
	}
	holder.Close()
	stopped := time.Now()
	if err := other.Lock(ctx, "renew_cert_a.example.it"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(stopped); waited > 3*time.Second {
		t.Errorf("the lock was free %v after its holder died, want about a lease (1 s)", waited)
	}
	if err := other.Unlock(ctx, "renew_cert_a.example.it"); err != nil {
		t.Fatal(err)
	}
}

// TestLockSurvivesALeaderChange: the leader dies while a follower holds
// a lock with a 2 s lease refreshed every 200 ms; the refresher rides
// out the election, the lock stays held past several leases, and the
// holder's Unlock goes through the new leader.
func TestLockSurvivesALeaderChange(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, Register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sec, err := auth.NewSecrets(bytes.Repeat([]byte{13}, 32))
	if err != nil {
		t.Fatal(err)
	}
	short := func(s *Storage) *Storage {
		s.lease, s.refresh, s.pollMin, s.pollMax = 2*time.Second, 200*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond
		return s
	}
	holder := short(NewStorage(nodes[2], sec, nil))
	other := short(NewStorage(nodes[1], sec, nil))
	if err := holder.Lock(ctx, "issue_cert_b.example.it"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		ok, err := other.TryLock(ctx, "issue_cert_b.example.it")
		if ok {
			t.Fatal("the lock was granted to another node across the leader change")
		}
		if err != nil {
			t.Logf("TryLock during the election: %v", err)
		}
	}
	if err := holder.Unlock(ctx, "issue_cert_b.example.it"); err != nil {
		t.Fatal(err)
	}
	if err := other.Lock(ctx, "issue_cert_b.example.it"); err != nil {
		t.Fatal(err)
	}
	if err := other.Unlock(ctx, "issue_cert_b.example.it"); err != nil {
		t.Fatal(err)
	}
}
