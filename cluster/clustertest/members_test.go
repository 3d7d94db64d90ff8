package clustertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestMembersReportEveryNode: any node gathers every member's own state
// (role, term, indexes, lag); a stopped member is reported unreachable,
// quickly, and does not hide the others.
func TestMembersReportEveryNode(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerSlots)
	leader := clustertest.Leader(t, nodes...)
	for i := range 5 {
		if _, err := book(context.Background(), nodes[i%3], fmt.Sprintf("m%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	ms := follower.Members(context.Background())
	if len(ms) != 3 {
		t.Fatalf("%d members, want 3: %+v", len(ms), ms)
	}
	leaders := 0
	for _, m := range ms {
		if !m.Reachable || m.Term == 0 || m.AppliedIndex == 0 || m.CommitIndex < m.AppliedIndex {
			t.Errorf("member %+v: want reachable, with a term and indexes", m)
		}
		if m.State == "Leader" {
			leaders++
			if m.ID != leader.Config().NodeID || !m.IsLeader {
				t.Errorf("member %s reports Leader, want %s", m.ID, leader.Config().NodeID)
			}
		}
		if m.IsSelf != (m.ID == follower.Config().NodeID) {
			t.Errorf("member %s: IsSelf %v", m.ID, m.IsSelf)
		}
	}
	if leaders != 1 {
		t.Errorf("%d members report Leader, want 1", leaders)
	}

	// A stopped member: unreachable, with the reason, in about the
	// member timeout.
	var stopped *cluster.Node
	for _, n := range nodes {
		if n != leader && n != follower {
			stopped = n
		}
	}
	if err := stopped.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ms = leader.Members(context.Background())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Members took %v with one node down", took)
	}
	for _, m := range ms {
		down := m.ID == stopped.Config().NodeID
		if m.Reachable == down || (down && m.Error == "") {
			t.Errorf("member %s: reachable %v, error %q; want reachable %v", m.ID, m.Reachable, m.Error, !down)
		}
		if down && strings.Contains(m.Error, "leader") {
			t.Errorf("member %s: error %q speaks of a leader", m.ID, m.Error)
		}
	}
}
