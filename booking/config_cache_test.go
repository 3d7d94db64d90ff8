package booking

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestConfigChangesReachApply checks that apply, which keeps the services'
// configuration in memory, sees every kind of change at the next booking:
// each step changes the configuration after bookings have filled the
// cache, then books under the new rules.
func TestConfigChangesReachApply(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	base := "https://bari.example.it"
	citizen := 0
	book := func(start time.Time) error {
		citizen++
		_, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, citizen), base)
		return err
	}
	// Fill the cache: Tuesday 10 March 09:00 has two desks.
	if err := book(f.at(2026, 3, 10, 9, 0)); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		change func() error
		start  time.Time
		want   error
	}{
		{"service down to one desk", func() error {
			svc := f.svc
			svc.Capacity = 1
			_, err := f.book.SaveService(ctx, bari.ID, svc)
			return err
		}, f.at(2026, 3, 10, 9, 0), ErrSlotFull},
		{"office closed on Wednesdays", func() error {
			o := f.office
			o.Hours[time.Wednesday] = nil
			_, err := f.book.SaveOffice(ctx, bari.ID, o)
			return err
		}, f.at(2026, 3, 11, 9, 0), ErrNotASlot},
		{"extra opening on a Saturday", func() error {
			_, err := f.book.AddOpening(ctx, bari.ID, Opening{OfficeID: f.office.ID,
				Date: civil.Date{Year: 2026, Month: 3, Day: 14}, Intervals: []Interval{{hm(10, 0), hm(11, 0)}}, Reason: "Open day"})
			return err
		}, f.at(2026, 3, 14, 10, 0), nil},
		{"closure on a Thursday", func() error {
			_, err := f.book.AddClosure(ctx, bari.ID, Closure{OfficeID: f.office.ID,
				From: civil.Date{Year: 2026, Month: 3, Day: 12}, To: civil.Date{Year: 2026, Month: 3, Day: 12}, Reason: "Inventario"})
			return err
		}, f.at(2026, 3, 12, 9, 0), ErrClosed},
	}
	for i, st := range steps {
		// A booking before the change keeps the cache warm with the old
		// configuration (Friday 13 March stays open throughout).
		if err := book(f.at(2026, 3, 13, 8, 30).Add(time.Duration(i) * 30 * time.Minute)); err != nil {
			t.Fatalf("%s: booking before the change: %v", st.name, err)
		}
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if err := book(st.start); !errors.Is(err, st.want) {
			t.Errorf("%s: booking %s: got %v, want %v", st.name, st.start.In(f.loc).Format(time.RFC3339), err, st.want)
		}
	}
}
