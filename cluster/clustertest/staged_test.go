package clustertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// stagedCluster starts n voters with fault injection on, formed with
// direct AddVoter (the staging under test is for the node added after),
// and returns them with their CA.
func stagedCluster(t *testing.T, n int) ([]*cluster.Node, *pki.CA) {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, n)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{
			NodeID: id, Identity: clustertest.Identity(t, ca, id), Join: i > 0,
			HeartbeatTimeout: 300 * time.Millisecond, FaultInjection: true,
		}, registerSlots)
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range nodes[1:] {
		started := make(chan error, 1)
		go func() { started <- node.Start(ctx) }()
		for node.RaftAddr() == "" {
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, node.Config().NodeID, node.RaftAddr()); err != nil {
			t.Fatalf("add %s: %v", node.Config().NodeID, err)
		}
		if err := <-started; err != nil {
			t.Fatalf("start %s: %v", node.Config().NodeID, err)
		}
	}
	return nodes, ca
}

// joiner starts node id with Join and fault injection in the background
// and, once it listens, cuts it off from peers; it returns the node and
// the channel of Start's result.
func joiner(t *testing.T, ca *pki.CA, id string, peers []string) (*cluster.Node, chan error) {
	t.Helper()
	n := clustertest.New(t, cluster.Config{
		NodeID: id, Identity: clustertest.Identity(t, ca, id), Join: true,
		HeartbeatTimeout: 300 * time.Millisecond, FaultInjection: true,
	}, registerSlots)
	started := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	go func() { started <- n.Start(ctx) }()
	for n.RaftAddr() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	if err := n.Partition(peers); err != nil {
		t.Fatal(err)
	}
	return n, started
}

// serverOf returns id's entry in n's view of the configuration.
func serverOf(n *cluster.Node, id string) (cluster.ServerStatus, bool) {
	for _, s := range n.Status().Servers {
		if s.ID == id {
			return s, true
		}
	}
	return cluster.ServerStatus{}, false
}

// waitPromoted waits until n sees id as a voter that is no longer staged.
func waitPromoted(t *testing.T, n *cluster.Node, id string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if s, ok := serverOf(n, id); ok && s.Voter && !s.Staged {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, _ := serverOf(n, id)
	t.Fatalf("%s not promoted within %s: %+v", id, within, s)
	return 0
}

// TestStagedJoinPromotesOnceCaughtUp adds a node staged while it cannot
// reach the leader: it stays a non-voter, marked staged, for several
// stable periods; once it can, it catches up and is promoted, and the
// intent is cleared.
func TestStagedJoinPromotesOnceCaughtUp(t *testing.T) {
	t.Parallel()
	nodes, ca := stagedCluster(t, 1)
	leader := nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := book(ctx, leader, fmt.Sprintf("s%d", i), "ada"); err != nil {
			t.Fatal(err)
		}
	}
	n2, started := joiner(t, ca, "node2", []string{"node1"})
	if err := leader.AddStagedVoter(ctx, "node2", n2.RaftAddr()); err != nil {
		t.Fatalf("add staged: %v", err)
	}
	s, ok := serverOf(leader, "node2")
	if !ok || s.Voter || !s.Staged {
		t.Fatalf("right after the staged join: %+v (member %v), want a staged non-voter", s, ok)
	}
	// Cut off, node2 cannot catch up: no promotion over several stable
	// periods.
	hold := 4 * leader.Config().PromoteAfter
	time.Sleep(hold)
	if s, _ := serverOf(leader, "node2"); s.Voter || !s.Staged {
		t.Fatalf("node2 promoted while it could not catch up: %+v", s)
	}
	// A write while node2 is still a non-voter commits with node1 alone.
	if _, err := book(ctx, leader, "s99", "bea"); err != nil {
		t.Fatalf("book while node2 is staged: %v", err)
	}
	if err := n2.Partition(nil); err != nil {
		t.Fatal(err)
	}
	took := waitPromoted(t, leader, "node2", 20*time.Second)
	t.Logf("promoted %s after the partition healed (stable period %s)", took.Round(time.Millisecond), leader.Config().PromoteAfter)
	if took < leader.Config().PromoteAfter {
		t.Errorf("promoted after %s, before the stable period %s", took, leader.Config().PromoteAfter)
	}
	if err := <-started; err != nil {
		t.Fatalf("start node2: %v", err)
	}
	if n2.AppliedIndex() < leader.AppliedIndex()-5 {
		t.Errorf("node2 applied %d, leader %d: promoted before catching up", n2.AppliedIndex(), leader.AppliedIndex())
	}
	// The staged mark is gone on node2 too once the clearing applies.
	res, err := book(ctx, leader, "s100", "cid")
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.WaitApplied(ctx, res.Index); err != nil {
		t.Fatal(err)
	}
	if s, _ := serverOf(n2, "node2"); !s.Voter || s.Staged {
		t.Errorf("node2's own view: %+v, want a voter, not staged", s)
	}
}

// TestStagedPromotionSurvivesLeaderChange stages a node that cannot catch
// up, stops the leader that staged it, and requires that the new leader,
// from the intent in the replicated state, promotes it once it can.
func TestStagedPromotionSurvivesLeaderChange(t *testing.T) {
	t.Parallel()
	nodes, ca := stagedCluster(t, 3)
	leader := clustertest.Leader(t, nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := book(ctx, leader, "s1", "ada"); err != nil {
		t.Fatal(err)
	}
	n4, started := joiner(t, ca, "node4", []string{"node1", "node2", "node3"})
	// Through a follower: forwarded to the leader.
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	if err := follower.AddStagedVoter(ctx, "node4", n4.RaftAddr()); err != nil {
		t.Fatalf("add staged: %v", err)
	}
	if s, _ := serverOf(leader, "node4"); s.Voter || !s.Staged {
		t.Fatalf("node4 after the staged join: %+v, want a staged non-voter", s)
	}
	var rest []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	old := leader.Config().NodeID
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	next := clustertest.Leader(t, rest...)
	t.Logf("leader %s stopped, %s leads", old, next.Config().NodeID)
	if s, _ := serverOf(next, "node4"); s.Voter || !s.Staged {
		t.Fatalf("node4 on the new leader: %+v, want still a staged non-voter", s)
	}
	if err := n4.Partition(nil); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, next, "node4", 20*time.Second)
	if err := <-started; err != nil {
		t.Fatalf("start node4: %v", err)
	}
	// Three voters of four are up: a write commits.
	if _, err := book(ctx, n4, "s2", "bea"); err != nil {
		t.Fatalf("book through node4: %v", err)
	}
}

// TestAddNonvoterStaysNonvoter checks that a non-voter join is never
// promoted.
func TestAddNonvoterStaysNonvoter(t *testing.T) {
	t.Parallel()
	nodes, ca := stagedCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n2, started := joiner(t, ca, "node2", nil)
	if err := nodes[0].AddNonvoter(ctx, "node2", n2.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * nodes[0].Config().PromoteAfter)
	if s, _ := serverOf(nodes[0], "node2"); s.Voter || s.Staged {
		t.Errorf("non-voter node2: %+v, want a non-voter, not staged", s)
	}
}
