package clustertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// countBookings reads how many bookings n's local state holds.
func countBookings(t *testing.T, n *cluster.Node) int {
	t.Helper()
	var c int
	if err := n.DB().QueryRow(`SELECT count(*) FROM slots_bookings`).Scan(&c); err != nil {
		t.Fatalf("count on %s: %v", n.Config().NodeID, err)
	}
	return c
}

func followersOf(leader *cluster.Node, nodes []*cluster.Node) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

func TestBarrierSeesLeaderWrites(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const writes = 20
	var last uint64
	for i := range writes {
		res, err := book(ctx, leader, fmt.Sprintf("slot-%d", i), "anna")
		if err != nil {
			t.Fatalf("book %d: %v", i, err)
		}
		last = res.Index
	}
	for _, f := range followersOf(leader, nodes) {
		idx, err := f.Barrier(ctx)
		if err != nil {
			t.Fatalf("Barrier on %s: %v", f.Config().NodeID, err)
		}
		if idx < last {
			t.Errorf("Barrier on %s = %d, want >= %d (the last write)", f.Config().NodeID, idx, last)
		}
		if got := countBookings(t, f); got != writes {
			t.Errorf("%s after Barrier: %d bookings, want %d", f.Config().NodeID, got, writes)
		}
	}
	if err := leader.ReadFresh(ctx); err != nil {
		t.Fatalf("ReadFresh on the leader: %v", err)
	}
}

func TestStaleWhenCutOff(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	followers := followersOf(leader, nodes)
	// A healthy cluster: every node is fresh (a follower heard from the
	// leader within a heartbeat).
	deadline := time.Now().Add(5 * time.Second)
	for _, n := range nodes {
		for {
			stale, last := n.Stale()
			if !stale {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stale on a healthy cluster (last contact %s)", n.Config().NodeID, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Cut the first follower off: the leader and the other follower stop.
	kept := followers[0]
	for _, n := range []*cluster.Node{leader, followers[1]} {
		if err := n.Close(); err != nil {
			t.Fatalf("close %s: %v", n.Config().NodeID, err)
		}
	}
	threshold := kept.Config().StaleAfter
	start := time.Now()
	for {
		stale, last := kept.Stale()
		if stale {
			t.Logf("stale after %s (last contact %s ago, threshold %s)", time.Since(start), last, threshold)
			break
		}
		if time.Since(start) > threshold+2*time.Second {
			t.Fatalf("%s not stale %s after losing the leader (threshold %s)", kept.Config().NodeID, time.Since(start), threshold)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A node without a leader cannot serve a linearizable read.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := kept.Barrier(ctx); err == nil {
		t.Errorf("Barrier without a leader succeeded, want an error")
	}
}

// TestStaleLeaderWithoutQuorum checks that a leader cut off from its
// followers steps down and reports stale.
func TestStaleLeaderWithoutQuorum(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	for _, f := range followersOf(leader, nodes) {
		if err := f.Close(); err != nil {
			t.Fatalf("close %s: %v", f.Config().NodeID, err)
		}
	}
	start := time.Now()
	limit := leader.Config().StaleAfter + 2*time.Second
	for {
		if stale, _ := leader.Stale(); stale {
			break
		}
		if time.Since(start) > limit {
			t.Fatalf("leader without quorum not stale after %s", time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollowerStartCatchesUp checks that a follower restarted after
// missing writes returns from Start only once it has applied them.
func TestFollowerStartCatchesUp(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	follower := followersOf(leader, nodes)[0]
	cfg := follower.Config()
	addr := follower.RaftAddr()
	if err := follower.Close(); err != nil {
		t.Fatalf("close follower: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const writes = 200 // more than MaxAppendEntries: several rounds to catch up
	for i := range writes {
		if _, err := book(ctx, leader, fmt.Sprintf("slot-%d", i), "bruno"); err != nil {
			t.Fatalf("book %d: %v", i, err)
		}
	}
	want := leader.AppliedIndex()
	cfg.Registry = nil
	cfg.RaftAddr = addr
	restarted := clustertest.New(t, cfg, registerSlots)
	if err := restarted.Start(ctx); err != nil {
		t.Fatalf("restart follower: %v", err)
	}
	if got := restarted.AppliedIndex(); got < want {
		t.Errorf("applied index right after Start = %d, want >= %d", got, want)
	}
	if got := countBookings(t, restarted); got != writes {
		t.Errorf("bookings right after Start = %d, want %d", got, writes)
	}
}
