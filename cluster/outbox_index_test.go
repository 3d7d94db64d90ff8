package cluster_test

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// dueIndexed counts the rows the outbox's partial due index holds.
func dueIndexed(t *testing.T, n *cluster.Node) (indexed, all int) {
	t.Helper()
	db := n.DB()
	if err := db.QueryRow(`SELECT count(*) FROM cluster_outbox INDEXED BY cluster_outbox_due WHERE status <> 'sent'`).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM cluster_outbox`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	return indexed, all
}

// TestOutboxDueIndex checks what schema version 6 of the cluster
// component promises: the worker's queries read the due index in order
// (no sort of their own, no scan of the table), and the index holds the
// items still to deliver, not the delivered ones.
func TestOutboxDueIndex(t *testing.T) {
	t.Parallel()
	sender := deliveringNode(t, newRecorder(0))
	held := clustertest.Node(t, registerKV) // no deliverer: its items stay pending

	for _, q := range []string{cluster.OutboxDueQuery, cluster.OutboxNextQuery} {
		args := []any{int64(1), "test", 64}
		if q == cluster.OutboxNextQuery {
			args = []any{"test"}
		}
		plan := clustertest.QueryPlan(t, sender, q, args...)
		if !strings.Contains(plan, "USING INDEX cluster_outbox_due") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("plan of %q:\n%s\nwant a search of cluster_outbox_due and no sort", q, plan)
		}
	}
	for _, n := range []*cluster.Node{sender, held} {
		for _, k := range []string{"a", "b", "c"} {
			if _, err := propose(n, putPayload{Key: k, Value: "1", Outbox: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		waitStatus(t, sender, "kv/"+k+"/1", cluster.OutboxSent)
	}
	if indexed, all := dueIndexed(t, sender); indexed != 0 || all != 3 {
		t.Errorf("after delivery: %d of %d rows in the due index, want 0 of 3", indexed, all)
	}
	if indexed, all := dueIndexed(t, held); indexed != 3 || all != 3 {
		t.Errorf("pending: %d of %d rows in the due index, want 3 of 3", indexed, all)
	}
}
