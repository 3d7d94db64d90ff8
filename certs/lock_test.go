package certs_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestLockMutualExclusion: two nodes of three (a follower and the
// leader), two goroutines on each, take one lock in turns; no two are
// ever inside at once, and every round is counted.
func TestLockMutualExclusion(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 6)
	storages := []*certs.Storage{certs.NewStorage(nodes[0], sec, nil), certs.NewStorage(nodes[2], sec, nil)}
	const rounds = 12
	var inside, entered atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range storages {
		for range 2 {
			wg.Go(func() {
				for range rounds {
					if err := s.Lock(ctx, "issue_cert_servizi.comune.esempio.it"); err != nil {
						t.Errorf("%v: Lock: %v", s, err)
						return
					}
					if !inside.CompareAndSwap(0, 1) {
						t.Errorf("%v: two holders inside at once", s)
					}
					entered.Add(1)
					time.Sleep(20 * time.Millisecond)
					inside.Store(0)
					if err := s.Unlock(ctx, "issue_cert_servizi.comune.esempio.it"); err != nil {
						t.Errorf("%v: Unlock: %v", s, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if got := entered.Load(); got != 4*rounds {
		t.Errorf("%d critical sections, want %d", got, 4*rounds)
	}
	t.Logf("%d lock hand-overs in %v", 4*rounds, time.Since(start).Round(time.Millisecond))
	// Everything released: the table is empty on every node.
	for _, n := range nodes {
		fresh(t, ctx, n)
		var held int
		if err := n.DB().QueryRow(`SELECT count(*) FROM certs_locks`).Scan(&held); err != nil || held != 0 {
			t.Errorf("%s: %d locks left (%v)", n.Config().NodeID, held, err)
		}
	}
}

// TestLockLeaseExpiresWhenTheHolderDies: a holder that stops refreshing
// (its Storage closed, as when its node dies) keeps the lock until its
// lease ends by the proposers' clocks, and not a moment longer; a lease
// renewed moves that moment; a late Unlock of the old holder leaves the
// new holder's lock alone.
func TestLockLeaseExpiresWhenTheHolderDies(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 7)
	clock := clustertest.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	dying := certs.NewStorage(nodes[1], sec, clock.Now)
	other := certs.NewStorage(nodes[2], sec, clock.Now)

	if err := dying.Lock(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	dying.Close() // stops the refresher, releases nothing
	if ok, err := other.TryLock(ctx, "a"); ok || err != nil {
		t.Fatalf("TryLock of a held lock = %v, %v", ok, err)
	}
	clock.Advance(2*time.Minute - time.Second)
	if ok, err := other.TryLock(ctx, "a"); ok || err != nil {
		t.Fatalf("TryLock a second before the lease ends = %v, %v", ok, err)
	}
	// Lock (not TryLock) waits: it must be granted as soon as the
	// proposer's clock passes the lease.
	got := make(chan error, 1)
	go func() { got <- other.Lock(ctx, "a") }()
	select {
	case err := <-got:
		t.Fatalf("Lock returned %v while the lease runs", err)
	case <-time.After(time.Second):
	}
	clock.Advance(2 * time.Second)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lock not granted after the dead holder's lease ended")
	}
	if err := other.Unlock(ctx, "a"); err != nil {
		t.Fatal(err)
	}

	// A renewed lease holds past the first one's end.
	holder := certs.NewStorage(nodes[0], sec, clock.Now)
	if err := holder.Lock(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Second)
	if err := holder.RenewLockLease(ctx, "b", time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Second)
	if ok, _ := other.TryLock(ctx, "b"); ok {
		t.Fatal("a renewed lease was taken over")
	}
	// The long lease certmagic asked for is not granted: a holder
	// that dies now blocks the others for the normal lease only.
	clock.Advance(31 * time.Second)
	if ok, err := other.TryLock(ctx, "b"); !ok || err != nil {
		t.Fatalf("TryLock after the renewed lease ended = %v, %v", ok, err)
	}
	// The old holder learns it lost the lock; its late Unlock does not
	// free the new holder's lock.
	if err := holder.RenewLockLease(ctx, "b", time.Minute); !errors.Is(err, certs.ErrLockLost) {
		t.Errorf("RenewLockLease after a take-over: %v, want ErrLockLost", err)
	}
	if err := holder.Unlock(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := certs.NewStorage(nodes[1], sec, clock.Now).TryLock(ctx, "b"); ok {
		t.Fatal("the old holder's Unlock freed the new holder's lock")
	}
	if err := other.Unlock(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	sameDumps(t, ctx, nodes)
}

// TestUnlockByANonHolderDoesNothing: Unlock of a lock another node holds
// (through Storage, or a release command naming another holder) leaves it
// held.
func TestUnlockByANonHolderDoesNothing(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 8)
	holder := certs.NewStorage(nodes[2], sec, nil)
	stranger := certs.NewStorage(nodes[1], sec, nil)
	if err := holder.Lock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := stranger.Unlock(ctx, "x"); err != nil {
		t.Errorf("Unlock by a non-holder: %v, want nil", err)
	}
	var name, who string
	if err := nodes[2].DB().QueryRow(`SELECT name, holder FROM certs_locks`).Scan(&name, &who); err != nil {
		t.Fatal(err)
	}
	cmd, err := cluster.NewCommand(certs.CmdLockRelease, 1, "", map[string]string{"name": "x", "holder": "node2/0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].Propose(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if ok, err := stranger.TryLock(ctx, "x"); ok || err != nil {
		t.Fatalf("TryLock after a stranger's release = %v, %v: the lock was freed", ok, err)
	}
	// Lock honours its context while it waits.
	short, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	if err := stranger.Lock(short, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock of a held lock until the context ends: %v", err)
	}
	if err := holder.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if ok, err := stranger.TryLock(ctx, "x"); !ok || err != nil {
		t.Fatalf("TryLock after the holder's Unlock = %v, %v", ok, err)
	}
	if err := stranger.Unlock(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if name != "x" || len(who) < len("node3/") || who[:6] != "node3/" {
		t.Errorf("lock row %q held by %q, want the holder named after node3", name, who)
	}
}
