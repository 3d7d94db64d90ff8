package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// registerNotes is the fake domain of the partition tests: notes appended
// to a table, so that every node's dump shows every write.
func registerNotes(r *cluster.Registry) {
	r.Migrate(cluster.Migration{Component: "notes", Version: 1, SQL: `CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`})
	r.Handle("notes.add", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var text string
		if err := cmd.Decode(&text); err != nil {
			return nil, err
		}
		_, err := tx.Exec(`INSERT INTO notes (text) VALUES (?)`, text)
		return nil, err
	})
}

func addNote(ctx context.Context, n *cluster.Node, text string) error {
	cmd, err := cluster.NewCommand("notes.add", 1, "bari", text)
	if err != nil {
		return err
	}
	_, err = n.Propose(ctx, cmd)
	return err
}

// faultCluster starts a cluster of n nodes with fault injection on, as
// clustertest.Cluster does: node1 bootstraps, the others join as voters.
func faultCluster(t *testing.T, n int) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, n)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{
			NodeID:           id,
			Identity:         clustertest.Identity(t, ca, id),
			Join:             i > 0,
			FaultInjection:   true,
			HeartbeatTimeout: 300 * time.Millisecond,
		}, registerNotes)
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for _, node := range nodes[1:] {
		go func() { errs <- node.Start(ctx) }()
	}
	for _, node := range nodes[1:] {
		for node.RaftAddr() == "" {
			if ctx.Err() != nil {
				t.Fatalf("%s did not listen", node.Config().NodeID)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, node.Config().NodeID, node.RaftAddr()); err != nil {
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

func idsOf(nodes ...*cluster.Node) []string {
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.Config().NodeID)
	}
	return ids
}

// TestPartitionRefused checks the calls Partition refuses: fault injection
// off (heal included), no mutual TLS to name the peers, the node itself.
// A refused call leaves the node whole.
func TestPartitionRefused(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   cluster.Config
		peers []string
		want  error // nil: any error
	}{
		{"off", cluster.Config{Identity: clustertest.Identity(t, ca, "node1")}, []string{"node2"}, cluster.ErrFaultInjectionOff},
		{"off, heal", cluster.Config{Identity: clustertest.Identity(t, ca, "node1")}, nil, cluster.ErrFaultInjectionOff},
		{"no TLS", cluster.Config{FaultInjection: true}, []string{"node2"}, nil},
		{"itself", cluster.Config{FaultInjection: true, Identity: clustertest.Identity(t, ca, "node1")}, []string{"node1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := clustertest.New(t, tt.cfg, registerNotes)
			clustertest.Start(t, n)
			err := n.Partition(tt.peers)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Partition(%v): got %v, want %v", tt.peers, err, tt.want)
			}
			if got := n.Partitioned(); len(got) != 0 {
				t.Errorf("Partitioned: got %v, want none", got)
			}
			// The node still works.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := addNote(ctx, n, "ok"); err != nil {
				t.Errorf("write after a refused Partition: %v", err)
			}
		})
	}
}

// TestPartitionIsolatedLeader cuts the leader off from both followers: the
// followers elect a new leader and keep accepting writes, writes through
// the isolated node fail fast, and once healed it follows the new leader,
// catches up and holds the same state as the others.
func TestPartitionIsolatedLeader(t *testing.T) {
	t.Parallel()
	nodes := faultCluster(t, 3)
	old := clustertest.Leader(t, nodes...)
	var rest []*cluster.Node
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, n := range nodes {
		if err := addNote(ctx, n, fmt.Sprintf("before %d", i)); err != nil {
			t.Fatalf("write through %s before the partition: %v", n.Config().NodeID, err)
		}
	}

	if err := old.Partition(idsOf(rest...)); err != nil {
		t.Fatalf("Partition: %v", err)
	}
	if got, want := old.Partitioned(), idsOf(rest...); !slices.Equal(got, want) {
		t.Errorf("Partitioned: got %v, want %v", got, want)
	}
	cut := time.Now()

	// Writes through the isolated node fail, each before its context
	// ends, until it has stepped down; then at once with ErrNoLeader.
	stepped := false
	for i := 0; !stepped; i++ {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		err := addNote(wctx, old, fmt.Sprintf("isolated %d", i))
		took := time.Since(start)
		wcancel()
		switch {
		case err == nil:
			t.Fatalf("write through the isolated node %s succeeded %v after the cut", old.Config().NodeID, time.Since(cut))
		case took > 2*time.Second+time.Second: // slack for a loaded machine; a hang would be far longer
			t.Fatalf("write through the isolated node took %v, past its 2s context: %v", took, err)
		}
		// A write caught by the step-down may still commit under the next
		// leader: its outcome is unknown. raft reports it as leadership
		// lost, which Propose does not wrap in ErrOutcomeUnknown yet.
		if !errors.Is(err, cluster.ErrNoLeader) && !errors.Is(err, cluster.ErrOutcomeUnknown) &&
			!errors.Is(err, cluster.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("write through the isolated node: got %v, want no leader or outcome unknown", err)
		}
		if i == 0 {
			t.Logf("first write through the isolated node: %v after %v", err, took.Round(time.Millisecond))
		}
		if !old.IsLeader() && errors.Is(err, cluster.ErrNoLeader) {
			stepped = true
			if took > 100*time.Millisecond {
				t.Errorf("write through the isolated follower took %v, want it to fail fast: %v", took, err)
			}
			t.Logf("isolated node refuses writes with %q, %v after the cut", err, time.Since(cut).Round(time.Millisecond))
		}
		if time.Since(cut) > 10*time.Second {
			t.Fatalf("isolated node still leads or answers %v, 10s after the cut", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The two others elect a leader and keep accepting writes.
	leader := clustertest.Leader(t, rest...)
	t.Logf("new leader %s, %v after the cut", leader.Config().NodeID, time.Since(cut).Round(time.Millisecond))
	for i := range 20 {
		n := rest[i%2]
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		err := addNote(wctx, n, fmt.Sprintf("majority %d", i))
		wcancel()
		if err != nil {
			t.Fatalf("write %d through %s during the partition: %v", i, n.Config().NodeID, err)
		}
	}
	if st := old.Status(); st.State == "Leader" || st.LeaderID != "" {
		t.Errorf("isolated node: state %s, leader %q; want no leader known", st.State, st.LeaderID)
	}

	// Heal: the old leader follows, catches up, and every node holds the
	// same rows.
	if err := old.Partition(nil); err != nil {
		t.Fatalf("heal: %v", err)
	}
	if got := old.Partitioned(); len(got) != 0 {
		t.Errorf("Partitioned after heal: got %v, want none", got)
	}
	healed := time.Now()
	if err := addNote(ctx, leader, "after heal"); err != nil {
		t.Fatalf("write after heal: %v", err)
	}
	for {
		if st := old.Status(); st.State == "Follower" && st.LeaderID == leader.Config().NodeID && old.AppliedIndex() >= leader.AppliedIndex() {
			break
		}
		if time.Since(healed) > 15*time.Second {
			t.Fatalf("healed node did not catch up: %+v; leader applied %d", old.Status(), leader.AppliedIndex())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("healed node caught up %v after the heal", time.Since(healed).Round(time.Millisecond))
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := addNote(wctx, old, "through the healed node"); err != nil {
		t.Fatalf("write through the healed node: %v", err)
	}
	waitSameDumps(t, nodes...)
}

// TestPartitionFollowerOneSide cuts one follower off by calling Partition
// on the leader only, naming the follower: the cut holds both ways (the
// follower loses the leader), the cluster keeps writing with the other
// follower, and after the heal the follower catches up.
func TestPartitionFollowerOneSide(t *testing.T) {
	t.Parallel()
	nodes := faultCluster(t, 3)
	leader := clustertest.Leader(t, nodes...)
	var followers []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			followers = append(followers, n)
		}
	}
	cutOff, kept := followers[0], followers[1]
	// Only the leader and cutOff are cut apart: cutOff still reaches kept,
	// a partial partition.
	if err := leader.Partition(idsOf(cutOff)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 10 {
		if err := addNote(ctx, []*cluster.Node{leader, kept}[i%2], fmt.Sprintf("w%d", i)); err != nil {
			t.Fatalf("write %d with one follower cut off: %v", i, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if cutOff.AppliedIndex() >= leader.AppliedIndex() {
		t.Errorf("cut-off follower applied %d, leader %d: want it behind", cutOff.AppliedIndex(), leader.AppliedIndex())
	}
	if err := leader.Partition(nil); err != nil {
		t.Fatal(err)
	}
	if err := addNote(ctx, kept, "after heal"); err != nil {
		t.Fatalf("write after heal: %v", err)
	}
	waitSameDumps(t, nodes...)
}

// waitSameDumps waits until every node has applied the same index and
// then requires equal dumps.
func waitSameDumps(t *testing.T, nodes ...*cluster.Node) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		same := true
		for _, n := range nodes[1:] {
			same = same && n.AppliedIndex() == nodes[0].AppliedIndex()
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not reach the same index: %v", appliedOf(nodes))
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := clustertest.Dump(t, nodes[0])
	for _, n := range nodes[1:] {
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from %s: %s", n.Config().NodeID, nodes[0].Config().NodeID, d)
		}
	}
}

func appliedOf(nodes []*cluster.Node) map[string]uint64 {
	m := map[string]uint64{}
	for _, n := range nodes {
		m[n.Config().NodeID] = n.AppliedIndex()
	}
	return m
}
