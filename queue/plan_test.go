package queue

import (
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// A booking's ticket is looked up, by the waiting room and by apply of a
// check-in, through the partial unique index on the booking code, not by
// reading every ticket of the Comune.
func TestBookingTicketUsesItsIndex(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, register)
	for name, q := range map[string]string{"waiting room": bookingTicketQuery, "check-in": checkedInQuery} {
		got := clustertest.QueryPlan(t, n, q, "bari", "ABC123")
		if !strings.Contains(got, "INDEX queue_tickets_booking") {
			t.Errorf("plan of the %s's lookup:\n%s\nwant queue_tickets_booking", name, got)
		}
	}
}
