package clustertest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestVersionGateHoldsBackMigrations: a cluster.migrate whose target is
// above the schema version a member recorded is refused by the gate,
// naming that member, instead of being applied by some nodes and refused
// by the others; a target every member knows goes through.
func TestVersionGateHoldsBackMigrations(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := mixedClusterOf(t, registerSlots, registerSlots)
	if got := nodes[1].Capabilities()["schema:slots"]; got != 1 {
		t.Fatalf("node2 capabilities: schema:slots = %d, want 1", got)
	}
	migrate := func(version int) error {
		cmd, err := cluster.NewCommand("cluster.migrate", 1, "", map[string]any{
			"targets": []map[string]any{{"component": "slots", "version": version}},
		})
		if err != nil {
			return err
		}
		_, err = nodes[0].Propose(ctx, cmd)
		return err
	}
	err := migrate(2)
	var nse *cluster.NotSupportedError
	if !errors.Is(err, cluster.ErrNotSupportedByCluster) || !errors.As(err, &nse) || nse.NodeID != "node2" || !strings.Contains(err.Error(), "schema:slots") {
		t.Fatalf("migrate slots to v2: got %v, want ErrNotSupportedByCluster naming node2 and schema:slots", err)
	}
	if err := migrate(1); err != nil {
		t.Fatalf("migrate slots to v1 (known everywhere): %v", err)
	}
}

// registerSlotsV2 is registerSlots with a second schema version of
// "slots", as the next release would ship it.
func registerSlotsV2(r *cluster.Registry) {
	registerSlots(r)
	r.Migrate(cluster.Migration{Component: "slots", Version: 2,
		SQL: `CREATE TABLE slots_notes (slot TEXT PRIMARY KEY, note TEXT NOT NULL)`})
}

// schemaOf returns node's stored version of component.
func schemaOf(t *testing.T, n *cluster.Node, component string) int {
	t.Helper()
	var v int
	if err := n.DB().QueryRow(`SELECT version FROM cluster_schema WHERE component = ?`, component).Scan(&v); err != nil {
		t.Fatalf("%s: schema of %s: %v", n.Config().NodeID, component, err)
	}
	return v
}

// TestRollingUpgradeWithAMigration: a node of the next release, whose
// binary adds a schema version, starts and serves in a cluster led by the
// previous release (on the older schema); once the old node is upgraded,
// whichever node leads runs the migration, and every node ends on the new
// schema with the same rows.
func TestRollingUpgradeWithAMigration(t *testing.T) {
	t.Parallel()
	nodes := mixedClusterOf(t, registerSlots, registerSlotsV2) // node1 old and leading, node2 new
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := book(ctx, nodes[1], "u1", "through the new follower"); err != nil {
		t.Fatalf("book through the upgraded follower: %v", err)
	}
	if v := schemaOf(t, nodes[1], "slots"); v != 1 {
		t.Fatalf("new follower under an old leader: schema slots %d, want 1 (the cluster's)", v)
	}
	upgraded := clustertest.Restart(t, nodes[0], registerSlotsV2)
	all := []*cluster.Node{upgraded, nodes[1]}
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, n := range all {
			done = done && schemaOf(t, n, "slots") == 2
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("schema not migrated to 2 on every node after the upgrade: %d, %d",
				schemaOf(t, all[0], "slots"), schemaOf(t, all[1], "slots"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	leader := clustertest.Leader(t, all...)
	if _, err := book(ctx, leader, "u2", "after the migration"); err != nil {
		t.Fatal(err)
	}
	want := clustertest.Dump(t, leader)
	for _, n := range all {
		if err := n.WaitApplied(ctx, leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from the leader:\n%s", n.Config().NodeID, d)
		}
	}
}
