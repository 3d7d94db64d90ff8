package booking

import (
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestStatsMatchSeededHistory seeds a day of bookings with every fate
// through the real commands and checks each count and the lead time.
func TestStatsMatchSeededHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	op := Operator{ID: "u-1", Name: "Olga Verdi"}
	wed := func(hh, mm int) time.Time { return f.at(2026, time.March, 11, hh, mm) }
	other, err := f.book.SaveOffice(ctx, bari.ID, Office{Name: "Tributi", Address: "Via Roma 1", Hours: f.office.Hours})
	if err != nil {
		t.Fatal(err)
	}
	otherSvc, err := f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: other.ID, Name: "Rateizzazione TARI", Duration: 30 * time.Minute, Channels: []Channel{InPerson},
		Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	create := func(svc string, start time.Time, citizen int) Created {
		t.Helper()
		c, err := f.book.Create(ctx, bari, f.request(svc, start, citizen), "https://bari.example.it")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return c
	}
	// Made on Monday 10:00, for Wednesday: lead times 47 h, 47 h,
	// 47.5 h, 47.5 h, 48 h.
	served := create(f.svc.ID, wed(9, 0), 1)
	absent := create(f.svc.ID, wed(9, 0), 2)
	byCitizen := create(f.svc.ID, wed(9, 30), 3)
	byOffice := create(f.svc.ID, wed(9, 30), 4)
	create(f.svc.ID, wed(10, 0), 5)
	create(f.svc.ID, f.at(2026, time.March, 12, 9, 0), 6) // Thursday: outside the period
	create(otherSvc.ID, wed(9, 0), 7)
	if _, err := f.book.Cancel(ctx, bari, byCitizen.Booking.Code, byCitizen.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.CancelByOffice(ctx, bari, f.office.ID, byOffice.Booking.ID, op, "Chiusura straordinaria", "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(wed(9, 20))
	if _, err := f.book.Serve(ctx, bari, f.office.ID, served.Booking.ID, op, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.NoShow(ctx, bari, f.office.ID, absent.Booking.ID, op); err != nil {
		t.Fatal(err)
	}

	day := civil.Date{Year: 2026, Month: time.March, Day: 11}
	st, err := f.book.Stats(ctx, bari, []string{f.office.ID}, day, day)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if len(st.Rows) != 1 {
		t.Fatalf("%d rows for one office, want 1: %+v", len(st.Rows), st.Rows)
	}
	r := st.Rows[0]
	want := StatsRow{OfficeID: f.office.ID, OfficeName: "Anagrafe", ServiceID: f.svc.ID, ServiceName: f.svc.Name,
		Made: 5, CancelledByCitizen: 1, CancelledByOffice: 1, Served: 1, NoShow: 1, LeadTime: 47*time.Hour + 24*time.Minute}
	r.leadSum = 0
	if r != want {
		t.Errorf("row\n %+v\nwant\n %+v", r, want)
	}
	if st.Total.Made != 5 || st.Total.LeadTime != want.LeadTime {
		t.Errorf("total %+v, want 5 made, lead time %v", st.Total, want.LeadTime)
	}

	all, err := f.book.Stats(ctx, bari, nil, day, day.AddDays(1))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if len(all.Rows) != 2 || all.Total.Made != 7 || all.Rows[0].OfficeName != "Anagrafe" || all.Rows[1].ServiceName != "Rateizzazione TARI" {
		t.Errorf("every office over two days: %+v, want Anagrafe (6) and Tributi (1)", all)
	}
	none, err := f.book.Stats(ctx, bari, []string{}, day, day)
	if err != nil || len(none.Rows) != 0 {
		t.Errorf("no offices: %+v, %v; want no rows", none, err)
	}
}
