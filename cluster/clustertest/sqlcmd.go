package clustertest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
)

// sqlType is the command HandleSQL registers.
const sqlType = "test.sql"

// HandleSQL registers a test command that runs the SQL of its payload in
// the FSM's transaction. Tests of rolling upgrades use it (through
// RunSQL) to take a node's schema back to what an older log left, as
// every node applies it in the log's order.
func HandleSQL(reg *cluster.Registry) {
	reg.Handle(sqlType, 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var q string
		if err := cmd.Decode(&q); err != nil {
			return nil, err
		}
		_, err := tx.Exec(q)
		return nil, err
	})
}

// RunSQL proposes the SQL q through n as the command of HandleSQL, which
// every member's registry must have, and fails t if it is not applied.
func RunSQL(t testing.TB, n *cluster.Node, q string) {
	t.Helper()
	cmd, err := cluster.NewCommand(sqlType, 1, "", q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(context.Background(), cmd); err != nil {
		t.Fatalf("run SQL through the log: %v", err)
	}
}
