package booking

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// Schema 9 keeps the per-citizen index to the bookings of capped
// services: a booking of a service without the cap is not in it, the
// cap's count uses it, and a cap turned on later marks the bookings still
// to come, so it counts those made before it.
func TestSchemaV9CitizenIndexForCappedServices(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	if got := clustertest.QueryPlan(t, f.node, createSettingsQuery, bari.ID, f.svc.ID, testFiscalCode(1), 0, 0); !strings.Contains(got, "USING COVERING INDEX booking_bookings_citizen") {
		t.Errorf("plan of the citizen's count:\n%s\nwant booking_bookings_citizen", got)
	}
	svc := f.svc
	svc.MaxActivePerCitizen = 0
	svc, err := f.book.SaveService(ctx, bari.ID, svc)
	if err != nil {
		t.Fatal(err)
	}
	capped := func(id string) (c int) {
		if err := f.node.DB().QueryRow(`SELECT capped FROM booking_bookings WHERE tenant = ? AND id = ?`, bari.ID, id).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var made []Created
	for i, day := range []int{16, 17} {
		c, err := f.book.Create(ctx, bari, f.request(svc.ID, f.at(2026, 3, day, 9, 0), 1), "https://bari.example.it")
		if err != nil {
			t.Fatalf("booking %d without a cap: %v", i, err)
		}
		if capped(c.Booking.ID) != 0 {
			t.Errorf("booking %d of a service without a cap is marked capped", i)
		}
		made = append(made, c)
	}
	svc.MaxActivePerCitizen = 2
	if _, err := f.book.SaveService(ctx, bari.ID, svc); err != nil {
		t.Fatal(err)
	}
	for i, c := range made {
		if capped(c.Booking.ID) != 1 {
			t.Errorf("booking %d is not marked once the cap is on", i)
		}
	}
	if _, err := f.book.Create(ctx, bari, f.request(svc.ID, f.at(2026, 3, 18, 9, 0), 1), ""); !errors.Is(err, ErrAlreadyBooked) {
		t.Errorf("third booking of the citizen under a cap of two: %v, want ErrAlreadyBooked", err)
	}
	c, err := f.book.Create(ctx, bari, f.request(svc.ID, f.at(2026, 3, 18, 9, 0), 2), "")
	if err != nil {
		t.Fatal(err)
	}
	if capped(c.Booking.ID) != 1 {
		t.Error("a booking of a capped service is not marked capped")
	}
	// Moving one of the citizen's bookings is not a new one: the cap
	// counts the others only.
	f.clock.Advance(time.Minute)
	if _, err := f.book.Move(ctx, bari, made[0].Booking.Code, made[0].ManageToken, f.at(2026, 3, 19, 9, 0), ""); err != nil {
		t.Errorf("move under the cap: %v", err)
	}
}
