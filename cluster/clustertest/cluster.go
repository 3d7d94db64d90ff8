package clustertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// clusterHeartbeat is the heartbeat of multi-node test clusters (raft's
// heartbeat, election and leader-lease timeouts): shorter than a
// service's second so that elections are quick, long enough that several
// nodes sharing two busy cores do not lose their leader for nothing. It
// was 300 ms until a CI run on a slow machine, with the race detector and
// other packages' tests beside, saw a leader go 329 and 407 ms without
// hearing from its followers, step down, and answer 503 in two tests.
//
// The period before a staged node is promoted and the silence after which
// a node calls itself stale stay at what 300 ms gave them (3 ×), so that
// building a cluster takes no longer and the staleness tests keep their
// timing.
const (
	clusterHeartbeat = 600 * time.Millisecond
	clusterPromote   = 900 * time.Millisecond
	clusterStale     = 900 * time.Millisecond
)

// Cluster starts n nodes ("node1" … "nodeN") in one process, each in its
// own t.TempDir() on 127.0.0.1:0, all with mutual TLS under a CA made for
// the test: node1 bootstraps and leads, the others join as voters. Every
// node has the apply functions and migrations that register adds (it is
// called once per node, on a fresh Registry). It returns when every node
// serves; the nodes are closed in t.Cleanup.
func Cluster(t testing.TB, n int, register ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	return ClusterWith(t, n, nil, register...)
}

// ClusterWith is Cluster with setup called on each node before it starts
// (to register outbox deliverers, which must come before Start); setup
// may be nil.
func ClusterWith(t testing.TB, n int, setup func(*cluster.Node), register ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	return clusterAt(t, n, nil, setup, register...)
}

// ClusterAt is Cluster with every node's clock (Config.Now) set to now, a
// Clock's Now for a test that moves time.
func ClusterAt(t testing.TB, n int, now func() time.Time, register ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	return clusterAt(t, n, now, nil, register...)
}

func clusterAt(t testing.TB, n int, now func() time.Time, setup func(*cluster.Node), register ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	regs := make([][]func(*cluster.Registry), n)
	for i := range regs {
		regs[i] = register
	}
	return clusterOf(t, regs, now, setup)
}

// clusterOf starts one node per entry of regs, each registered with its
// own functions (node1 bootstraps and leads, the others join as voters).
func clusterOf(t testing.TB, regs [][]func(*cluster.Registry), now func() time.Time, setup func(*cluster.Node)) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatalf("new CA: %v", err)
	}
	n := len(regs)
	nodes := make([]*cluster.Node, n)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = New(t, cluster.Config{
			NodeID:           id,
			Identity:         Identity(t, ca, id),
			Join:             i > 0,
			HeartbeatTimeout: clusterHeartbeat,
			PromoteAfter:     clusterPromote,
			StaleAfter:       clusterStale,
			Now:              now,
		}, regs[i]...)
		if setup != nil {
			setup(nodes[i])
		}
	}
	Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for _, node := range nodes[1:] {
		go func() { errs <- node.Start(ctx) }()
	}
	for _, node := range nodes[1:] {
		addr := waitAddr(ctx, node)
		if addr == "" {
			t.Fatalf("%s did not listen", node.Config().NodeID)
		}
		if err := nodes[0].AddVoter(ctx, node.Config().NodeID, addr); err != nil {
			t.Fatalf("add %s: %v", node.Config().NodeID, err)
		}
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			t.Fatalf("start joining node: %v", err)
		}
	}
	return nodes
}

// Identity makes a TLS identity for node id signed by ca, valid a day.
func Identity(t testing.TB, ca *pki.CA, id string) *pki.Identity {
	t.Helper()
	return IdentityValid(t, ca, id, 24*time.Hour)
}

// IdentityValid makes a TLS identity for node id signed by ca, valid for
// validity from now: short ones test certificate renewal.
func IdentityValid(t testing.TB, ca *pki.CA, id string, validity time.Duration) *pki.Identity {
	t.Helper()
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNode(csr, id, []string{"127.0.0.1"}, time.Now(), validity)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	ident, err := pki.ParseIdentity(certPEM, keyPEM, ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	return ident
}

// Restart closes node and starts it again on the same data dir, identity
// and address, with a fresh Registry filled by register; it returns the
// new node once it serves (closed in t.Cleanup).
func Restart(t testing.TB, node *cluster.Node, register ...func(*cluster.Registry)) *cluster.Node {
	t.Helper()
	cfg := node.Config()
	addr := node.RaftAddr()
	if err := node.Close(); err != nil {
		t.Fatalf("close %s: %v", cfg.NodeID, err)
	}
	cfg.Registry = nil
	cfg.RaftAddr = addr
	n := New(t, cfg, register...)
	Start(t, n)
	return n
}

// Leader returns the node that leads among nodes, waiting up to 30 s for
// one that every other open node agrees on.
func Leader(t testing.TB, nodes ...*cluster.Node) *cluster.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.IsLeader() {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no leader among %d nodes after 30s", len(nodes))
	return nil
}

// LeaderAndFollower waits for a leader among nodes and returns it with
// one of the others.
func LeaderAndFollower(t testing.TB, nodes ...*cluster.Node) (leader, follower *cluster.Node) {
	t.Helper()
	leader = Leader(t, nodes...)
	for _, n := range nodes {
		if n != leader {
			return leader, n
		}
	}
	t.Fatal("no follower")
	return nil, nil
}

// waitAddr waits until node's transport listens and returns its address.
func waitAddr(ctx context.Context, node *cluster.Node) string {
	for {
		if a := node.RaftAddr(); a != "" {
			return a
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TwoMembers starts a two-node cluster whose members have different
// registries, as in a rolling upgrade (first leads, second joins as a
// voter), with the leader's clock now, and returns both. Commands that
// the second member does not know at some version are refused at that
// version by the version gate.
func TwoMembers(t testing.TB, now func() time.Time, first, second func(*cluster.Registry)) (leader, member *cluster.Node) {
	t.Helper()
	nodes := clusterOf(t, [][]func(*cluster.Registry){{first}, {second}}, now, nil)
	return nodes[0], nodes[1]
}
