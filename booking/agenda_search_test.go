package booking

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSearchAgendaPlan checks that the search reads the office index,
// not the Comune's whole table, in the node's own SQLite.
func TestSearchAgendaPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	s := AgendaSearch{Offices: []string{f.office.ID, "altro"}, From: startTime, To: startTime.Add(24 * time.Hour)}
	q, args := searchQuery(bari.ID, s, "maria rossi", 51)
	rows, err := f.node.DB().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
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
