package booking

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// The back-office lists (an office's day, every office's) read the office
// index over the window, not every booking of the Comune, and list what
// they did: the office's bookings or every office's, active and
// cancelled, by start, nothing outside the window.
func TestBookingsUseTheOfficeIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	for _, c := range []struct {
		name, q string
		args    []any
	}{
		{"office", bookingsOfOfficeQuery, []any{bari.ID, "", 0, 1}},
		{"Comune", bookingsOfComuneQuery, []any{bari.ID, 0, 1}},
	} {
		name := c.name
		got := clustertest.QueryPlan(t, f.node, c.q, c.args...)
		if !strings.Contains(got, "USING INDEX booking_bookings_office (tenant=? AND office_id=? AND start_unix>? AND start_unix<?)") {
			t.Errorf("plan of the %s's list:\n%s\nwant a range of booking_bookings_office", name, got)
		}
	}
	ctx := context.Background()
	other, err := f.book.SaveOffice(ctx, bari.ID, Office{Name: "URP", Address: "Via Roma 1", Hours: f.office.Hours})
	if err != nil {
		t.Fatal(err)
	}
	svc := f.svc
	svc.ID, svc.OfficeID = "", other.ID
	if svc, err = f.book.SaveService(ctx, bari.ID, svc); err != nil {
		t.Fatal(err)
	}
	book := func(svc string, day, h, citizen int) Created {
		t.Helper()
		c, err := f.book.Create(ctx, bari, f.request(svc, f.at(2026, 3, day, h, 0), citizen), "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := book(f.svc.ID, 16, 9, 1)
	cancelled := book(f.svc.ID, 16, 10, 2)
	b := book(svc.ID, 16, 11, 3)
	book(f.svc.ID, 17, 9, 4) // the next day
	if _, err := f.book.Cancel(ctx, bari, cancelled.Booking.Code, cancelled.ManageToken, ""); err != nil {
		t.Fatal(err)
	}
	from := f.at(2026, 3, 16, 0, 0)
	codes := func(office string) string {
		bks, err := f.book.Bookings(ctx, bari.ID, office, from, from.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, bk := range bks {
			out = append(out, bk.Code)
		}
		return strings.Join(out, " ")
	}
	if got, want := codes(f.office.ID), a.Booking.Code+" "+cancelled.Booking.Code; got != want {
		t.Errorf("the office's day: %s, want %s", got, want)
	}
	if got, want := codes(""), a.Booking.Code+" "+cancelled.Booking.Code+" "+b.Booking.Code; got != want {
		t.Errorf("every office's day: %s, want %s", got, want)
	}
}
