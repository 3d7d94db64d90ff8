package clustertest

import (
	"context"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
)

// QueryPlan returns SQLite's plan of query with args on n's database
// (EXPLAIN QUERY PLAN), one step's detail per line, for tests that check
// a query reads the index it was written for.
func QueryPlan(t testing.TB, n *cluster.Node, query string, args ...any) string {
	t.Helper()
	rows, err := n.DB().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(steps, "\n")
}
