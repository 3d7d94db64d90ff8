package booking

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// Waiting-list schema 2: the count of an email's places in the waiting lists reads
// the email index, not every entry of the Comune's lists. (The caps
// themselves are TestWaitlistCaps.)
func TestWaitlistEmailCountUsesItsIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	got := clustertest.QueryPlan(t, f.node, waitlistEmailCountQuery, f.svc.ID, bari.ID, "Maria@Example.it")
	if !strings.Contains(got, "INDEX booking_waitlist_email (tenant=? AND email=?") {
		t.Errorf("plan of the email's count:\n%s\nwant booking_waitlist_email", got)
	}
}
