package booking

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// visibleServiceIDs lists the IDs of the services Offices shows citizens.
func visibleServiceIDs(t *testing.T, f *fixture) []string {
	t.Helper()
	offices, err := f.book.Offices(context.Background(), bari.ID)
	if err != nil {
		t.Fatalf("Offices: %v", err)
	}
	var ids []string
	for _, o := range offices {
		for _, s := range o.Services {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// TestArchiveKeepsBookings checks what archiving a service does: citizens
// no longer see or book it (apply refuses it too), its bookings stay and
// can still be cancelled; restoring brings it back.
func TestArchiveKeepsBookings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	start := f.at(2026, 3, 12, 9, 0)
	made, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	w, err := f.book.ArchiveService(ctx, bari.ID, f.svc.ID, true)
	if err != nil || w.Index == 0 {
		t.Fatalf("ArchiveService: got %+v, %v; want an index", w, err)
	}
	if ids := visibleServiceIDs(t, f); slices.Contains(ids, f.svc.ID) {
		t.Errorf("archived service listed for citizens: %v", ids)
	}
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 12, 10, 0), 2), "https://bari.example.it"); !errors.Is(err, ErrNotFound) {
		t.Errorf("booking an archived service: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.Slots(ctx, bari, f.svc.ID, civil.DateOf(start), civil.DateOf(start)); !errors.Is(err, ErrNotFound) {
		t.Errorf("slots of an archived service: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.Move(ctx, bari, made.Booking.Code, made.ManageToken, f.at(2026, 3, 12, 11, 0), "https://bari.example.it"); !errors.Is(err, ErrNotFound) {
		t.Errorf("moving a booking of an archived service: got %v, want ErrNotFound", err)
	}
	if got, err := f.book.Get(ctx, bari.ID, made.Booking.Code, made.ManageToken); err != nil || got.Status != Active {
		t.Errorf("booking after archiving: got %+v, %v; want it active", got, err)
	}
	cfg, err := f.book.Configuration(ctx, bari.ID)
	if err != nil || !cfg.ArchivedServices[f.svc.ID] || len(cfg.Offices) != 1 || len(cfg.Offices[0].Services) != 1 {
		t.Errorf("Configuration: got %+v, %v; want the archived service listed and marked", cfg, err)
	}
	if _, err := f.book.Cancel(ctx, bari, made.Booking.Code, made.ManageToken, "https://bari.example.it"); err != nil {
		t.Errorf("cancelling a booking of an archived service: %v", err)
	}
	if _, err := f.book.ArchiveService(ctx, bari.ID, f.svc.ID, false); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if ids := visibleServiceIDs(t, f); !slices.Contains(ids, f.svc.ID) {
		t.Errorf("restored service not listed: %v", ids)
	}
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 12, 10, 0), 2), "https://bari.example.it"); err != nil {
		t.Errorf("booking a restored service: %v", err)
	}
}

// TestArchiveOfficeHidesItsServices checks that an archived office hides
// its services and refuses their bookings.
func TestArchiveOfficeHidesItsServices(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	if _, err := f.book.ArchiveOffice(ctx, bari.ID, f.office.ID, true); err != nil {
		t.Fatalf("ArchiveOffice: %v", err)
	}
	offices, err := f.book.Offices(ctx, bari.ID)
	if err != nil || len(offices) != 0 {
		t.Errorf("Offices after archiving the only office: got %v, %v; want none", offices, err)
	}
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 12, 9, 0), 1), "https://bari.example.it"); !errors.Is(err, ErrNotFound) {
		t.Errorf("booking in an archived office: got %v, want ErrNotFound", err)
	}
	// The office itself is still found: bookings name it.
	if _, err := f.book.Office(ctx, bari.ID, f.office.ID); err != nil {
		t.Errorf("Office of an archived office: %v", err)
	}
}

// TestRemoveClosureAndOpening checks that removing a closure reopens its
// days, removing an opening closes its day again, and that IDs of another
// Comune are not found.
func TestRemoveClosureAndOpening(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	day := civil.Date{Year: 2026, Month: 3, Day: 12}
	slotsOn := func(d civil.Date) int {
		t.Helper()
		s, err := f.book.Slots(ctx, bari, f.svc.ID, d, d)
		if err != nil {
			t.Fatalf("Slots: %v", err)
		}
		return len(s)
	}
	open := slotsOn(day)
	c, err := f.book.WriteClosure(ctx, bari.ID, Closure{OfficeID: f.office.ID, From: day, To: day, Reason: "Inventario"})
	if err != nil {
		t.Fatalf("WriteClosure: %v", err)
	}
	if n := slotsOn(day); n != 0 {
		t.Errorf("slots on a closed day: got %d, want 0", n)
	}
	// Apply sees the closure and its removal too (its cached
	// configuration follows the version every command bumps).
	req := f.request(f.svc.ID, f.at(2026, 3, 12, 9, 0), 1)
	if _, err := f.book.Create(ctx, bari, req, "https://bari.example.it"); !errors.Is(err, ErrClosed) {
		t.Errorf("booking on the closed day: got %v, want ErrClosed", err)
	}
	other := bari
	other.ID = "lecce"
	if _, err := f.book.RemoveClosure(ctx, other.ID, c.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing another Comune's closure: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.RemoveClosure(ctx, bari.ID, c.ID); err != nil {
		t.Fatalf("RemoveClosure: %v", err)
	}
	if n := slotsOn(day); n != open {
		t.Errorf("slots after removing the closure: got %d, want %d", n, open)
	}
	if _, err := f.book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
		t.Errorf("booking after the closure was removed: %v", err)
	}
	sunday := civil.Date{Year: 2026, Month: 3, Day: 15}
	o, err := f.book.WriteOpening(ctx, bari.ID, Opening{OfficeID: f.office.ID, Date: sunday, Intervals: []Interval{{hm(9, 0), hm(10, 0)}}})
	if err != nil {
		t.Fatalf("WriteOpening: %v", err)
	}
	if n := slotsOn(sunday); n != 2 {
		t.Errorf("slots of the extra opening: got %d, want 2", n)
	}
	if _, err := f.book.RemoveOpening(ctx, bari.ID, o.ID); err != nil {
		t.Fatalf("RemoveOpening: %v", err)
	}
	if n := slotsOn(sunday); n != 0 {
		t.Errorf("slots after removing the opening: got %d, want 0", n)
	}
	if _, err := f.book.RemoveOpening(ctx, bari.ID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing twice: got %v, want ErrNotFound", err)
	}
}

// TestWriteOfficeUpdateNeedsTheOffice checks that an update never creates
// an office under an ID it was given (an edit form of another Comune).
func TestWriteOfficeUpdateNeedsTheOffice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	o := f.office
	o.Name = "Anagrafe centrale"
	if _, err := f.book.WriteOffice(ctx, "lecce", o, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an office of another Comune: got %v, want ErrNotFound", err)
	}
	if offices, _ := f.book.Offices(ctx, "lecce"); len(offices) != 0 {
		t.Errorf("offices of lecce: got %v, want none", offices)
	}
	w, err := f.book.WriteOffice(ctx, bari.ID, o, true)
	if err != nil || w.ID != o.ID {
		t.Fatalf("WriteOffice: got %+v, %v", w, err)
	}
	if got, _ := f.book.Office(ctx, bari.ID, o.ID); got.Name != "Anagrafe centrale" {
		t.Errorf("name after update: got %q", got.Name)
	}
}
