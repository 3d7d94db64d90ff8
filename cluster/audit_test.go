package cluster_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// registerAuditedKV is registerKV with a describer for kv.put that names
// the key (never the value, which stands for a citizen's data).
func registerAuditedKV(r *cluster.Registry) {
	registerKV(r)
	r.Describe("kv.put", func(cmd cluster.Command) string {
		var p putPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return ""
		}
		return "key=" + p.Key
	})
}

// putAs proposes kv.put on n with actor a in the context.
func putAs(t *testing.T, n *cluster.Node, a cluster.Actor, p putPayload) (cluster.Result, error) {
	t.Helper()
	cmd, err := cluster.NewCommand("kv.put", 1, "bari", p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.ID != "" {
		ctx = cluster.WithActor(ctx, a)
	}
	return n.Propose(ctx, cmd)
}

// auditOf reads the whole audit log of bari on n once n applied index.
func auditOf(t *testing.T, n *cluster.Node, index uint64, f cluster.AuditFilter) []cluster.AuditEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitApplied(ctx, index); err != nil {
		t.Fatal(err)
	}
	es, err := n.Audit(ctx, "bari", f)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestAuditSameOnEveryNode: a command proposed with an actor (here through
// a follower) writes one audit row, the same on all three nodes; commands
// without actor, and commands refused by apply, write none.
func TestAuditSameOnEveryNode(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerAuditedKV)
	anna := cluster.Actor{ID: "u-anna", Name: "Anna Bianchi", Tenant: "bari", Addr: "192.0.2.7"}
	res, err := putAs(t, nodes[1], anna, putPayload{Key: "k1", Value: "Mario Rossi, RSSMRA85T10A562S"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putAs(t, nodes[2], cluster.Actor{}, putPayload{Key: "k2", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	// Refused by apply (the key exists): nothing changed, nothing audited.
	if _, err := putAs(t, nodes[0], anna, putPayload{Key: "k1", Value: "again"}); err == nil {
		t.Fatal("second put of k1 without overwrite: got no error")
	}
	last := put(t, nodes[0], "k3", "v").Index
	for _, n := range nodes {
		es := auditOf(t, n, last, cluster.AuditFilter{})
		if len(es) != 1 {
			t.Fatalf("audit rows on %s: got %d (%+v), want 1", n.Config().NodeID, len(es), es)
		}
		e := es[0]
		if e.Index != res.Index || e.Tenant != "bari" || e.Actor != anna || e.Type != "kv.put" || e.Summary != "key=k1" {
			t.Errorf("audit row on %s: got %+v, want index %d, actor %+v, kv.put, key=k1", n.Config().NodeID, e, res.Index, anna)
		}
		if e.Time.IsZero() || time.Since(e.Time) > time.Minute {
			t.Errorf("audit row time on %s: got %v, want the command's time", n.Config().NodeID, e.Time)
		}
	}
	want := clustertest.Dump(t, nodes[0])
	for _, n := range nodes[1:] {
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from node1: %s", n.Config().NodeID, d)
		}
	}
	// Filters: by actor, by time, by page.
	if es := auditOf(t, nodes[0], last, cluster.AuditFilter{ActorID: "someone-else"}); len(es) != 0 {
		t.Errorf("rows of another actor: got %d, want 0", len(es))
	}
	if es := auditOf(t, nodes[0], last, cluster.AuditFilter{From: time.Now().Add(time.Hour)}); len(es) != 0 {
		t.Errorf("rows from an hour ahead: got %d, want 0", len(es))
	}
	if es, err := nodes[0].Audit(context.Background(), "altamura", cluster.AuditFilter{}); err != nil || len(es) != 0 {
		t.Errorf("rows of another Comune: got %d, %v; want none", len(es), err)
	}
}

// TestAuditGate: while a member does not advertise the audit log (an
// older binary), Propose sends no actor and no node writes a row; the
// states stay identical.
func TestAuditGate(t *testing.T) {
	t.Parallel()
	nodes := clustertest.ClusterWith(t, 3, func(n *cluster.Node) {
		if n.Config().NodeID == "node3" {
			cluster.ForgetAuditForTest(n)
		}
	}, registerAuditedKV)
	anna := cluster.Actor{ID: "u-anna", Name: "Anna Bianchi", Tenant: "bari"}
	res, err := putAs(t, nodes[0], anna, putPayload{Key: "k1", Value: "v"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if es := auditOf(t, n, res.Index, cluster.AuditFilter{}); len(es) != 0 {
			t.Errorf("audit rows on %s with an older member: got %+v, want none", n.Config().NodeID, es)
		}
	}
	want := clustertest.Dump(t, nodes[0])
	for _, n := range nodes[1:] {
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from node1: %s", n.Config().NodeID, d)
		}
	}
}

// TestAuditRetention: rows older than a year (leader time) are deleted by
// the prune that an audited command triggers once a day; younger rows
// stay.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(time.Now().UTC())
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, registerAuditedKV)
	clustertest.Start(t, n)
	anna := cluster.Actor{ID: "u-anna", Name: "Anna Bianchi", Tenant: "bari"}
	for _, k := range []string{"old", "mid"} {
		if _, err := putAs(t, n, anna, putPayload{Key: k, Value: "v"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(200 * 24 * time.Hour)
	}
	// 400 days after "old", 200 after "mid": the prune before this
	// command deletes "old" only.
	res, err := putAs(t, n, anna, putPayload{Key: "new", Value: "v"})
	if err != nil {
		t.Fatal(err)
	}
	es := auditOf(t, n, res.Index, cluster.AuditFilter{})
	var got []string
	for _, e := range es {
		got = append(got, e.Summary)
	}
	if len(got) != 2 || got[0] != "key=new" || got[1] != "key=mid" {
		t.Errorf("audit rows after a year: got %v, want [key=new key=mid]", got)
	}
	if deleted, err := n.PruneAudit(context.Background(), 100*24*time.Hour); err != nil || deleted != 1 {
		t.Errorf("prune with 100 days: got %d, %v; want 1 (mid)", deleted, err)
	}
}
