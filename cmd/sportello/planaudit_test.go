package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/planaudit"
)

// TestQueryPlansAgainstTheReviewedList plans every SQL statement of the
// repository on the schema of every package (a fresh node of this
// binary's registry) and fails on a statement that reads a whole Comune
// or table and is not allowed by internal/planaudit/allowed.txt, the
// list of the reviewed statements and tables with their reasons, and on
// an entry no statement needs any more (the list stays true). A new tenant-wide read in apply stalls
// every booking on every node (cluster/DESIGN.md, session 16).
func TestQueryPlansAgainstTheReviewedList(t *testing.T) {
	node := clustertest.New(t, cluster.Config{}, registerAll)
	clustertest.Start(t, node)
	root := filepath.Join("..", "..")
	list, err := os.Open(filepath.Join(root, "internal", "planaudit", "allowed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	allowed, err := planaudit.ReadList(list)
	list.Close()
	if err != nil {
		t.Fatalf("allowed.txt: %v", err)
	}
	found, err := planaudit.Audit(node.DB(), root)
	if err != nil {
		t.Fatal(err)
	}
	var unlisted strings.Builder
	for _, f := range found {
		if len(f.Wide) > 0 && !allowed.Allows(f) {
			f.Write(&unlisted)
		}
	}
	if unlisted.Len() > 0 {
		t.Errorf("statements that read a whole Comune or table, not in internal/planaudit/allowed.txt "+
			"(make an index answer them, or list the key with the reason they may):\n%s", unlisted.String())
	}
	for _, k := range allowed.Stale(found) {
		t.Errorf("internal/planaudit/allowed.txt lists %s, which no statement reads so any more", k)
	}
}
