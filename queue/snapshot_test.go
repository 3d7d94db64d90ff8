package queue

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestSnapshotAgreesWithStatus: the office's snapshot gives every ticket
// the position and estimate Status gives it alone, the line in call
// order and the board's calls as LastCalls, with walk-ins, a priority,
// an early and a due appointment, a served, a called and a cancelled
// ticket in the same day.
func TestSnapshotAgreesWithStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code := f.bookAt(t, at(10, 0), "RSSMRA85T10A562S")
	f.clock.Set(at(9, 50))
	var ids []string
	for range 3 {
		ids = append(ids, f.take(t, TakeRequest{ServiceID: f.cie.ID}).Ticket.ID)
	}
	ids = append(ids, f.take(t, TakeRequest{BookingCode: code}).Ticket.ID)
	ids = append(ids, f.take(t, TakeRequest{Priority: Pregnancy}).Ticket.ID)
	// One served in 6 minutes gives the estimate its average; one stays
	// called; one leaves.
	k, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(6 * time.Minute)
	if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "2", nil); err != nil {
		t.Fatal(err)
	}
	c := f.take(t, TakeRequest{})
	ids = append(ids, c.Ticket.ID, f.take(t, TakeRequest{ServiceID: f.cert.ID}).Ticket.ID)
	if _, err := f.q.Cancel(ctx, bari.ID, c.Ticket.ID, c.Secret); err != nil {
		t.Fatal(err)
	}
	for _, when := range []time.Time{at(9, 58), at(10, 1)} {
		// Before 10:00 the booked citizen is early, after it due: the
		// line moves with the clock alone.
		f.clock.Set(when)
		s, err := f.q.Snapshot(ctx, bari, f.office.ID, 8)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		if s.Len() != len(ids) {
			t.Errorf("%s: snapshot has %d tickets, want %d", when.Format("15:04"), s.Len(), len(ids))
		}
		for _, id := range ids {
			got, st, ok := s.Ticket(id)
			want, err := f.q.Ticket(ctx, bari.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			wantSt, err := f.q.Status(ctx, bari.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok || got != want || st != wantSt {
				t.Errorf("%s: snapshot of %s: got %+v %+v (found %v), want %+v %+v", when.Format("15:04"), want.Number, got, st, ok, want, wantSt)
			}
		}
		line, err := f.q.Line(ctx, bari, f.office.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(line) != len(s.Line) {
			t.Fatalf("%s: snapshot line has %d tickets, Line %d", when.Format("15:04"), len(s.Line), len(line))
		}
		for i := range line {
			if line[i].ID != s.Line[i].ID {
				t.Errorf("%s: line[%d] is %s in the snapshot, %s in Line", when.Format("15:04"), i, s.Line[i].Number, line[i].Number)
			}
		}
		calls, err := f.q.LastCalls(ctx, bari, f.office.ID, 8)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != len(s.Calls) || len(calls) != 2 {
			t.Fatalf("%s: snapshot calls %d, LastCalls %d, want 2", when.Format("15:04"), len(s.Calls), len(calls))
		}
		for i := range calls {
			if calls[i].ID != s.Calls[i].ID {
				t.Errorf("%s: call %d is %s in the snapshot, %s in LastCalls", when.Format("15:04"), i, s.Calls[i].Number, calls[i].Number)
			}
		}
	}
	if _, _, ok := (Snapshot{}).Ticket(ids[0]); ok {
		t.Error("an empty snapshot found a ticket")
	}
}

// TestSnapshotIndexIsTheReadsOwn: a snapshot's Index is the applied index
// of the state it shows, also while commands commit during the reads:
// two snapshots at the same index hold the same tickets, and a later
// index never shows fewer. (The node's AppliedIndex, read just before a
// read, may lag it: the FSM commits a batch, then raises the index.)
func TestSnapshotIndexIsTheReadsOwn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const takers, each = 4, 12
	done := make(chan struct{})
	errs := make(chan error, takers)
	for range takers {
		go func() {
			for range each {
				if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: f.office.ID, ServiceID: f.cie.ID, Channel: InPerson}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	go func() {
		for range takers {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		close(done)
	}()
	seen := map[uint64]int{}
	reads := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		s, err := f.q.Snapshot(ctx, bari, f.office.ID, 8)
		if err != nil {
			// The takers go on until done: the node must outlive them.
			t.Error(err)
			<-done
			return
		}
		reads++
		if n, ok := seen[s.Index]; ok && n != s.Len() {
			t.Errorf("index %d: one snapshot has %d tickets, another %d", s.Index, n, s.Len())
			<-done
			return
		}
		seen[s.Index] = s.Len()
	}
	var prev uint64
	last := -1
	for _, idx := range slices.Sorted(maps.Keys(seen)) {
		if seen[idx] < last {
			t.Errorf("index %d shows %d tickets, the earlier index %d showed %d", idx, seen[idx], prev, last)
		}
		prev, last = idx, seen[idx]
	}
	s, err := f.q.Snapshot(ctx, bari, f.office.ID, 8)
	if err != nil {
		t.Fatal(err)
	}
	if s.Index != f.node.AppliedIndex() || s.Len() != takers*each {
		t.Errorf("at rest: snapshot at index %d with %d tickets, want the node's %d with %d", s.Index, s.Len(), f.node.AppliedIndex(), takers*each)
	}
	t.Logf("%d reads at %d indexes", reads, len(seen))
}
