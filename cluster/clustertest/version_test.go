package clustertest_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// registerNew adds the command type only the newer binary knows, on top
// of registerSlots.
func registerNew(r *cluster.Registry) {
	registerSlots(r)
	r.Handle("test.new", 1, func(*sql.Tx, cluster.Command) (any, error) { return nil, nil })
}

// mixedCluster starts node1 with the newer registry, leading, and node2
// with the older one, joined as a voter.
func mixedCluster(t *testing.T) (newer, older *cluster.Node) {
	t.Helper()
	nodes := mixedClusterOf(t, registerNew, registerSlots)
	return nodes[0], nodes[1]
}

// mixedClusterOf starts one node per registration: node1 leads, the others
// join as voters.
func mixedClusterOf(t *testing.T, regs ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nodes := make([]*cluster.Node, len(regs))
	for i, reg := range regs {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{NodeID: id, Identity: clustertest.Identity(t, ca, id),
			Join: i > 0, HeartbeatTimeout: 300 * time.Millisecond}, reg)
		if i == 0 {
			clustertest.Start(t, nodes[0])
			continue
		}
		errc := make(chan error, 1)
		go func() { errc <- nodes[i].Start(ctx) }()
		for nodes[i].RaftAddr() == "" {
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, id, nodes[i].RaftAddr()); err != nil {
			t.Fatalf("add %s: %v", id, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
	}
	return nodes
}

func proposeNew(ctx context.Context, n *cluster.Node) error {
	cmd, err := cluster.NewCommand("test.new", 1, "bari", struct{}{})
	if err != nil {
		return err
	}
	_, err = n.Propose(ctx, cmd)
	return err
}

func wantNotSupported(t *testing.T, err error, node string) {
	t.Helper()
	var nse *cluster.NotSupportedError
	if !errors.Is(err, cluster.ErrNotSupportedByCluster) || !errors.As(err, &nse) {
		t.Fatalf("propose test.new: got %v, want ErrNotSupportedByCluster", err)
	}
	if nse.NodeID != node || !strings.Contains(err.Error(), node) {
		t.Errorf("refusal names %q (%v), want %q", nse.NodeID, err, node)
	}
}

func TestVersionGate(t *testing.T) {
	t.Parallel()
	t.Run("upgrade the older node", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		newer, older := mixedCluster(t)
		wantNotSupported(t, proposeNew(ctx, newer), "node2")
		// Commands every node knows still go through.
		if _, err := book(ctx, newer, "s1", "anna"); err != nil {
			t.Fatalf("book: %v", err)
		}
		upgraded := clustertest.Restart(t, older, registerNew)
		if err := proposeNew(ctx, newer); err != nil {
			t.Fatalf("propose test.new after the upgrade: %v", err)
		}
		// Forwarded from the upgraded follower too.
		if err := proposeNew(ctx, upgraded); err != nil {
			t.Fatalf("propose test.new from the upgraded follower: %v", err)
		}
	})
	t.Run("remove the older node", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		newer, older := mixedCluster(t)
		wantNotSupported(t, proposeNew(ctx, newer), "node2")
		if err := newer.RemoveServer(ctx, "node2"); err != nil {
			t.Fatalf("remove node2: %v", err)
		}
		if err := older.Close(); err != nil {
			t.Fatal(err)
		}
		if err := proposeNew(ctx, clustertest.Leader(t, newer)); err != nil {
			t.Fatalf("propose test.new after removing node2: %v", err)
		}
	})
	t.Run("refusal forwarded from a follower", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		nodes := mixedClusterOf(t, registerNew, registerSlots, registerNew)
		// node3 knows test.new and forwards it to node1, which refuses it
		// because of node2; the sentinel crosses the RPC.
		err := proposeNew(ctx, nodes[2])
		if !errors.Is(err, cluster.ErrNotSupportedByCluster) || !strings.Contains(err.Error(), "node2") {
			t.Fatalf("forwarded propose: got %v, want ErrNotSupportedByCluster naming node2", err)
		}
	})
}

// TestVersionGateNoticesADowngrade: once a command was let through, a
// member restarted on an older binary (it records that it no longer knows
// the type) makes the leader refuse the command again, though the gate
// keeps its positive answers in a cache.
func TestVersionGateNoticesADowngrade(t *testing.T) {
	t.Parallel()
	nodes := mixedClusterOf(t, registerNew, registerNew)
	propose := func() error {
		cmd, err := cluster.NewCommand("test.new", 1, "bari", struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = nodes[0].Propose(ctx, cmd)
		return err
	}
	// Both nodes record their capabilities once they serve; then the
	// command passes (and the answer is cached).
	deadline := time.Now().Add(10 * time.Second)
	for err := propose(); err != nil; err = propose() {
		if time.Now().After(deadline) {
			t.Fatalf("propose test.new on two new nodes: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	clustertest.Restart(t, nodes[1], registerSlots)
	deadline = time.Now().Add(10 * time.Second)
	for err := propose(); !errors.Is(err, cluster.ErrNotSupportedByCluster); err = propose() {
		if time.Now().After(deadline) {
			t.Fatalf("propose test.new after node2 went back to the older binary: %v, want ErrNotSupportedByCluster", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
