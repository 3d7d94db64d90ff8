package booking

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// Schema 8 drops booking_bookings_start; the reminder scan it served reads
// booking_bookings_slot instead, one range per service, and still finds
// the bookings of a service archived after they were made.
func TestSchemaV8RemindersWithoutStartIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	var n int
	if err := f.node.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'booking_bookings_start'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("booking_bookings_start still exists after schema 8")
	}

	if got := clustertest.QueryPlan(t, f.node, dueRemindersQuery, bari.ID, 0, 1); !strings.Contains(got, "USING INDEX booking_bookings_slot (tenant=? AND service_id=? AND start_unix>? AND start_unix<?)") {
		t.Errorf("plan of the reminder scan:\n%s\nwant a range of booking_bookings_slot per service", got)
	}

	w := f.worker(t)
	start := f.at(2026, 3, 11, 10, 0)
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.ArchiveService(ctx, bari.ID, f.svc.ID, true); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(start.Add(-24 * time.Hour).Add(time.Minute))
	if n := tick(t, w); n != 1 {
		t.Errorf("24 h before, service archived: %d reminders, want 1", n)
	}
}
