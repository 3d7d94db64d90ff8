package clustertest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

func register(r *cluster.Registry) {
	r.Migrate(cluster.Migration{Component: "note", Version: 1, SQL: `CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT NOT NULL)`})
	r.Handle("note.add", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var text string
		if err := cmd.Decode(&text); err != nil {
			return nil, err
		}
		res, err := tx.Exec(`INSERT INTO note (text) VALUES (?)`, text)
		if err != nil {
			return nil, err
		}
		return res.LastInsertId()
	})
}

func TestNode(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, register)
	cmd, err := cluster.NewCommand("note.add", 1, "bari", "Ufficio Anagrafe")
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Propose(context.Background(), cmd)
	if err != nil {
		t.Fatalf("Propose: %v", err)
	}
	if res.Value != int64(1) {
		t.Errorf("Value: got %v, want 1", res.Value)
	}
	if err := n.WaitApplied(context.Background(), res.Index); err != nil {
		t.Fatal(err)
	}
	if dump := clustertest.Dump(t, n); !strings.Contains(dump, `note rowid=1 id=1 text="Ufficio Anagrafe"`) {
		t.Errorf("dump lacks the note:\n%s", dump)
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
		same      bool
	}{
		{"a\nb", "a\nb", true},
		{"a\nb", "a\nc", false},
		{"a", "a\nb", false},
	}
	for _, tt := range tests {
		if d := clustertest.Diff(tt.got, tt.want); (d == "") != tt.same {
			t.Errorf("Diff(%q, %q) = %q, want same=%v", tt.got, tt.want, d, tt.same)
		}
	}
}
