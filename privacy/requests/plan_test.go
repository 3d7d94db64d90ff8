package requests

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// The access secret's lookup reads the partial index on the access hash,
// not every link of the Comune.
func TestAccessEmailUsesItsIndex(t *testing.T) {
	t.Parallel()
	n := clustertest.Cluster(t, 1, Register)[0]
	got := clustertest.QueryPlan(t, n, accessEmailQuery, "bari", "x", 0)
	if !strings.Contains(got, "INDEX privacyreq_links_access") {
		t.Errorf("plan of the access lookup:\n%s\nwant privacyreq_links_access", got)
	}
}
