package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReleaseFromPausedDesk: a ticket transferred to one desk that is
// then paused goes back to the office's line when a supervisor releases
// it, still ahead of walk-ins as a transferred citizen; an open desk's
// ticket is not released.
func TestReleaseFromPausedDesk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	a1 := f.take(t, TakeRequest{})
	f.clock.Advance(time.Minute)
	a2 := f.take(t, TakeRequest{})
	f.clock.Advance(time.Minute)
	f.mustCall(t, "1")
	moved, err := f.q.Transfer(ctx, bari, a1.Ticket.ID, "1", TransferTo{Desk: "2"})
	if err != nil || moved.ForDesk != "2" {
		t.Fatalf("Transfer: %+v %v", moved, err)
	}
	if _, err := f.q.Release(ctx, bari, f.office.ID, a1.Ticket.ID); !errors.Is(err, ErrDeskNotPaused) {
		t.Errorf("release while desk 2 is open: got %v, want ErrDeskNotPaused", err)
	}
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, "2", "Riunione"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Release(ctx, bari, f.office.ID, a2.Ticket.ID); !errors.Is(err, ErrTransition) {
		t.Errorf("release of a ticket for any desk: got %v, want ErrTransition", err)
	}
	other, _, _ := setupOffice(t, f.book, bari.ID)
	if _, err := f.q.Release(ctx, bari, other.ID, a1.Ticket.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("release through another office: got %v, want ErrNotFound", err)
	}
	f.clock.Advance(time.Minute)
	k, err := f.q.Release(ctx, bari, f.office.ID, a1.Ticket.ID)
	if err != nil || k.ForDesk != "" || k.State != Waiting || !k.Transferred.Equal(moved.Transferred) {
		t.Fatalf("Release: %+v %v", k, err)
	}
	if _, err := f.q.Release(ctx, bari, f.office.ID, a1.Ticket.ID); !errors.Is(err, ErrTransition) {
		t.Errorf("second release: got %v, want ErrTransition", err)
	}
	// Desk 1 is free again; the released citizen, transferred, comes
	// before the walk-in who arrived after them.
	if got := f.mustCall(t, "1"); got.ID != a1.Ticket.ID {
		t.Errorf("desk 1 called %s, want the released %s", got.Number, a1.Ticket.Number)
	}
}
