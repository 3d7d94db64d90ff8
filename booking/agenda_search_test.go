package booking

import (
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestSearchAgendaPlan checks that the search reads the office index,
// not the Comune's whole table, in the node's own SQLite.
func TestSearchAgendaPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	s := AgendaSearch{Offices: []string{f.office.ID, "altro"}, From: startTime, To: startTime.Add(24 * time.Hour)}
	q, args := searchQuery(bari.ID, s, "maria rossi", 51)
	got := clustertest.QueryPlan(t, f.node, q, args...)
	if !strings.Contains(got, "USING INDEX booking_bookings_office (tenant=? AND office_id=? AND start_unix>? AND start_unix<?)") {
		t.Errorf("plan %q: want a search of booking_bookings_office by tenant, office and start", got)
	}
}

// TestSearchTermsEscapeWildcards checks that LIKE's wildcards in the text
// are taken as text.
func TestSearchTermsEscapeWildcards(t *testing.T) {
	got := strings.Join(searchTerms(` 50%  di_maio a\b x y z w v `), "|")
	if want := `50\%|di\_maio|a\\b|x|y`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
