package docs

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// The documents of a reference are read through the partial index on
// the reference, not by scanning every document of the Comune.
func TestListRefUsesItsIndex(t *testing.T) {
	t.Parallel()
	n := clustertest.Cluster(t, 1, Register)[0]
	got := clustertest.QueryPlan(t, n, listQuery(refCond, "d.expires > ?"), "bari", "booking:x", 0)
	if !strings.Contains(got, "INDEX media_docs_ref") {
		t.Errorf("plan of the documents of a reference:\n%s\nwant media_docs_ref", got)
	}
}
