package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// mustCall calls the next ticket to desk and fails the test otherwise.
func (f *fixture) mustCall(t *testing.T, desk string) Ticket {
	t.Helper()
	k, err := f.q.CallNext(context.Background(), bari, f.office.ID, desk, nil)
	if err != nil {
		t.Fatalf("CallNext at desk %s: %v", desk, err)
	}
	return k
}

func TestTransferToAnotherOffice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	other, otherCIE, _ := setupOffice(t, f.book, bari.ID)
	// Office 1 has A001, A002; office 2 already numbered A001–A003.
	k := f.take(t, TakeRequest{})
	f.take(t, TakeRequest{})
	for range 3 {
		if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: other.ID, Channel: InPerson}); err != nil {
			t.Fatal(err)
		}
	}
	f.mustCall(t, "1")
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "2", TransferTo{OfficeID: other.ID}); !errors.Is(err, ErrWrongDesk) {
		t.Errorf("transfer from a desk that does not hold it: got %v, want ErrWrongDesk", err)
	}
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{OfficeID: other.ID, ServiceID: f.cie.ID}); !isField(err, "to_service_id") {
		t.Errorf("transfer with a service of the first office: got %v, want a field error on to_service_id", err)
	}
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{OfficeID: "nope"}); !isField(err, "to_office_id") {
		t.Errorf("transfer to an unknown office: got %v, want a field error on to_office_id", err)
	}
	// Once the office has desks, a transfer names one of them.
	if _, err := f.book.WriteDesk(ctx, bari.ID, booking.Desk{OfficeID: other.ID, Label: "Sportello 1", Kind: booking.DeskCounter}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{OfficeID: other.ID, Desk: "1"}); !isField(err, "to_desk") {
		t.Errorf("transfer to a desk the office does not have: got %v, want a field error on to_desk", err)
	}
	f.clock.Set(at(9, 10))
	moved, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{OfficeID: other.ID, ServiceID: otherCIE.ID})
	if err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	if moved.OfficeID != other.ID || moved.Number != "A004" || moved.Seq != 4 || moved.State != Waiting ||
		moved.TransferredFrom != f.office.ID || !moved.Transferred.Equal(at(9, 10)) || moved.ServiceID != otherCIE.ID ||
		moved.Duration != 30*time.Minute || moved.Desk != "" || !moved.Called.IsZero() {
		t.Errorf("transferred ticket: got %+v, want A004, seq 4, waiting at the other office with its service", moved)
	}
	// The citizen's secret still opens it, and it stands first in the
	// new line: it waited its turn in full once.
	got, err := f.q.TicketWithSecret(ctx, bari.ID, k.Ticket.ID, k.Secret)
	if err != nil || got.Number != "A004" || got.OfficeID != other.ID {
		t.Errorf("ticket with its secret after the transfer: got %s at %s (%v)", got.Number, got.OfficeID, err)
	}
	if st, err := f.q.Status(ctx, bari.ID, k.Ticket.ID); err != nil || st.Position != 0 {
		t.Errorf("position after the transfer: got %d (%v), want 0", st.Position, err)
	}
	// The next ticket of the other office does not reuse its number.
	n, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: other.ID, Channel: InPerson})
	if err != nil || n.Ticket.Number != "A005" || n.Ticket.Seq != 5 {
		t.Errorf("next take at the other office: got %s seq %d (%v), want A005 seq 5", n.Ticket.Number, n.Ticket.Seq, err)
	}
	if c, err := f.q.CallNext(ctx, bari, other.ID, "7", nil); err != nil || c.ID != k.Ticket.ID {
		t.Errorf("first call at the other office: got %s (%v), want the transferred ticket", c.Number, err)
	}
	// The first office's line no longer has it, and its numbers go on.
	line, _ := f.q.Line(ctx, bari, f.office.ID)
	if len(line) != 1 || line[0].Number != "A002" {
		t.Errorf("first office's line: got %v, want only A002", line)
	}
	if a := f.take(t, TakeRequest{}); a.Ticket.Number != "A003" {
		t.Errorf("first office's next number: got %s, want A003", a.Ticket.Number)
	}
	// A waiting ticket cannot be transferred: nobody holds it.
	if _, err := f.q.Transfer(ctx, bari, n.Ticket.ID, "7", TransferTo{}); !errors.Is(err, ErrTransition) {
		t.Errorf("transfer a waiting ticket: got %v, want ErrTransition", err)
	}
}

// TestTransfersNeverDuplicateNumbers transfers tickets into an office
// while citizens take tickets there, through the three nodes of a
// cluster: every number of the office is given once, without gaps.
func TestTransfersNeverDuplicateNumbers(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, register)
	leader := clustertest.Leader(t, nodes...)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	from, _, _ := setupOffice(t, lbook, bari.ID)
	to, _, _ := setupOffice(t, lbook, bari.ID)
	qs := queuesOn(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitOffice(ctx, t, qs, to.ID)
	const moves, takes = 12, 24
	// Every desk of the first office holds one ticket to transfer.
	held := make([]Ticket, moves)
	for i := range moves {
		if err := again(ctx, func() error {
			_, err := qs[0].Take(ctx, bari, TakeRequest{OfficeID: from.ID, Channel: InPerson})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := again(ctx, func() (err error) {
			held[i], err = qs[0].CallNext(ctx, bari, from.ID, fmt.Sprint("d", i), nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	numbers := make(chan string, moves+takes)
	for i := range moves + takes {
		wg.Go(func() {
			q := qs[i%len(qs)]
			var k Ticket
			err := again(ctx, func() (err error) {
				if i < moves {
					k, err = q.Transfer(ctx, bari, held[i].ID, held[i].Desk, TransferTo{OfficeID: to.ID})
					return err
				}
				tk, err := q.Take(ctx, bari, TakeRequest{OfficeID: to.ID, Channel: InPerson})
				k = tk.Ticket
				return err
			})
			if err != nil {
				t.Errorf("move %d: %v", i, err)
				return
			}
			numbers <- k.Number
		})
	}
	wg.Wait()
	close(numbers)
	seen := map[string]bool{}
	for n := range numbers {
		if seen[n] {
			t.Errorf("number %s given twice", n)
		}
		seen[n] = true
	}
	for i := 1; i <= moves+takes; i++ {
		if n := fmt.Sprintf("A%03d", i); !seen[n] {
			t.Errorf("number %s missing", n)
		}
	}
}

// again runs do until it is not refused for want of a leader: on two
// busy cores a cluster can lose its leader for a moment, and a command
// refused then was not applied (cluster.ErrNoLeader).
func again(ctx context.Context, do func() error) error {
	for {
		err := do()
		if !errors.Is(err, cluster.ErrNoLeader) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOffice waits until every queue's node has the office.
func waitOffice(ctx context.Context, t *testing.T, qs []*Queue, officeID string) {
	t.Helper()
	for _, q := range qs {
		for {
			if _, err := q.book.Office(ctx, bari.ID, officeID); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("followers never saw the office")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestParkAndResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	a := f.take(t, TakeRequest{})
	b := f.take(t, TakeRequest{})
	c := f.take(t, TakeRequest{})
	if _, err := f.q.Park(ctx, bari.ID, a.Ticket.ID, "1"); !errors.Is(err, ErrTransition) {
		t.Errorf("park a waiting ticket: got %v, want ErrTransition", err)
	}
	f.mustCall(t, "1")
	if _, err := f.q.Park(ctx, bari.ID, a.Ticket.ID, "2"); !errors.Is(err, ErrWrongDesk) {
		t.Errorf("park from another desk: got %v, want ErrWrongDesk", err)
	}
	if _, err := f.q.StartServing(ctx, bari.ID, a.Ticket.ID, "1"); err != nil {
		t.Fatal(err)
	}
	p, err := f.q.Park(ctx, bari.ID, a.Ticket.ID, "1")
	if err != nil || p.State != Parked || p.Desk != "1" {
		t.Fatalf("park: got %s at %q (%v), want parked at desk 1", p.State, p.Desk, err)
	}
	// Parked: out of the line and of the desk, which calls the next one.
	if _, ok, _ := f.q.AtDesk(ctx, bari, f.office.ID, "1"); ok {
		t.Errorf("desk 1 still holds a ticket after parking it")
	}
	if parked, err := f.q.ParkedAt(ctx, bari, f.office.ID); err != nil || len(parked) != 1 || parked[0].ID != a.Ticket.ID {
		t.Errorf("ParkedAt: got %v (%v), want the parked ticket", parked, err)
	}
	if st, err := f.q.Status(ctx, bari.ID, c.Ticket.ID); err != nil || st.Position != 1 {
		t.Errorf("third ticket with the first parked: got position %d (%v), want 1", st.Position, err)
	}
	if st, _ := f.q.Status(ctx, bari.ID, a.Ticket.ID); st.Position != 0 {
		t.Errorf("parked ticket's position: got %d, want 0", st.Position)
	}
	if k := f.mustCall(t, "1"); k.ID != b.Ticket.ID {
		t.Fatalf("call after parking: got %s, want %s", k.Number, b.Ticket.Number)
	}
	if _, err := f.q.Resume(ctx, bari, a.Ticket.ID, "1"); !errors.Is(err, ErrDeskBusy) {
		t.Errorf("resume at a desk holding another ticket: got %v, want ErrDeskBusy", err)
	}
	if _, err := f.q.NoShow(ctx, bari.ID, b.Ticket.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Resume(ctx, bari, a.Ticket.ID, "2"); !errors.Is(err, ErrWrongDesk) {
		t.Errorf("resume from another desk: got %v, want ErrWrongDesk", err)
	}
	f.clock.Set(at(9, 20))
	r, err := f.q.Resume(ctx, bari, a.Ticket.ID, "1")
	if err != nil || r.State != Called || r.Desk != "1" || !r.Called.Equal(at(9, 20)) {
		t.Fatalf("resume: got %s at %q called %v (%v), want called again at desk 1 at 09:20", r.State, r.Desk, r.Called, err)
	}
	if _, err := f.q.Resume(ctx, bari, a.Ticket.ID, "1"); !errors.Is(err, ErrTransition) {
		t.Errorf("resume a called ticket: got %v, want ErrTransition", err)
	}
	// A parked ticket can be closed without resuming it.
	if _, err := f.q.Park(ctx, bari.ID, a.Ticket.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if k, err := f.q.Served(ctx, bari.ID, a.Ticket.ID, "1"); err != nil || k.State != Served {
		t.Errorf("served from parked: got %s (%v)", k.State, err)
	}
	k := f.mustCall(t, "1")
	if _, err := f.q.Park(ctx, bari.ID, k.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.q.NoShow(ctx, bari.ID, k.ID, "1"); err != nil || got.State != NoShow {
		t.Errorf("no-show from parked: got %s (%v)", got.State, err)
	}
	// And transferred, or left by the citizen.
	d := f.take(t, TakeRequest{})
	f.take(t, TakeRequest{})
	f.mustCall(t, "1")
	if _, err := f.q.Park(ctx, bari.ID, d.Ticket.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.q.Transfer(ctx, bari, d.Ticket.ID, "1", TransferTo{}); err != nil || got.State != Waiting {
		t.Errorf("transfer from parked: got %s (%v), want waiting", got.State, err)
	}
	e := f.mustCall(t, "2")
	if e.ID != d.Ticket.ID {
		t.Errorf("transferred ticket not first: desk 2 called %s", e.Number)
	}
	if _, err := f.q.Park(ctx, bari.ID, e.ID, "2"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.q.Cancel(ctx, bari.ID, d.Ticket.ID, d.Secret); err != nil || got.State != Cancelled {
		t.Errorf("citizen leaves while parked: got %s (%v)", got.State, err)
	}
}

func TestPauseDesk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	for _, reason := range []string{"", "   ", strings.Repeat("è", 201)} {
		if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, "1", reason); !isField(err, "reason") {
			t.Errorf("pause with reason of %d characters: got %v, want a field error on reason", len([]rune(reason)), err)
		}
	}
	var ve *ValidationError
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, "1", ""); errors.As(err, &ve) && ve.Fields["reason"] != "Indicare il motivo della pausa." {
		t.Errorf("empty reason: got message %q", ve.Fields["reason"])
	}
	if _, err := f.q.PauseDesk(ctx, bari, "nope", "1", "Pausa"); !errors.Is(err, ErrNotFound) {
		t.Errorf("pause at an unknown office: got %v, want ErrNotFound", err)
	}
	if states, err := f.q.DeskStates(ctx, bari, f.office.ID); err != nil || len(states) != 0 {
		t.Errorf("DeskStates before any pause: got %v (%v), want none", states, err)
	}
	a := f.take(t, TakeRequest{})
	b := f.take(t, TakeRequest{})
	f.mustCall(t, "1")
	st, err := f.q.PauseDesk(ctx, bari, f.office.ID, "1", strings.Repeat("è", 200))
	if err != nil || !st.Paused || !st.Since.Equal(at(9, 0)) {
		t.Fatalf("pause: got %+v (%v)", st, err)
	}
	// The desk closes what it holds, but calls nobody.
	if _, err := f.q.NoShow(ctx, bari.ID, a.Ticket.ID, "1"); err != nil {
		t.Errorf("no-show at a paused desk: %v", err)
	}
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); !errors.Is(err, ErrDeskPaused) {
		t.Errorf("call at a paused desk: got %v, want ErrDeskPaused", err)
	}
	if _, err := f.q.CallTicket(ctx, bari, f.office.ID, "1", b.Ticket.ID); !errors.Is(err, ErrDeskPaused) {
		t.Errorf("call a ticket at a paused desk: got %v, want ErrDeskPaused", err)
	}
	// Pausing again changes the reason, not the start of the pause.
	f.clock.Set(at(9, 5))
	if st, err = f.q.PauseDesk(ctx, bari, f.office.ID, "1", " Riunione "); err != nil || st.Reason != "Riunione" || !st.Since.Equal(at(9, 0)) {
		t.Errorf("pause again: got %+v (%v), want reason Riunione since 09:00", st, err)
	}
	states, err := f.q.DeskStates(ctx, bari, f.office.ID)
	if err != nil || len(states) != 1 || !states["1"].Paused || states["1"].Reason != "Riunione" {
		t.Errorf("DeskStates: got %v (%v)", states, err)
	}
	// A parked ticket cannot be resumed at a paused desk.
	k := f.mustCall(t, "2")
	if _, err := f.q.Park(ctx, bari.ID, k.ID, "2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, "2", "Pausa"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Resume(ctx, bari, k.ID, "2"); !errors.Is(err, ErrDeskPaused) {
		t.Errorf("resume at a paused desk: got %v, want ErrDeskPaused", err)
	}
	f.clock.Set(at(9, 30))
	if st, err := f.q.ResumeDesk(ctx, bari, f.office.ID, "2"); err != nil || st.Paused || st.Reason != "" || !st.Since.Equal(at(9, 30)) {
		t.Errorf("resume desk: got %+v (%v)", st, err)
	}
	if _, err := f.q.Resume(ctx, bari, k.ID, "2"); err != nil {
		t.Errorf("resume after the pause: %v", err)
	}
	// Another Comune sees nothing of it.
	if states, err := f.q.DeskStates(ctx, milano, f.office.ID); err != nil || len(states) != 0 {
		t.Errorf("milano's view of bari's desks: %v (%v)", states, err)
	}
}

func TestCallTicket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	a := f.take(t, TakeRequest{})
	b := f.take(t, TakeRequest{})
	c := f.take(t, TakeRequest{})
	other, _, _ := setupOffice(t, f.book, bari.ID)
	if _, err := f.q.CallTicket(ctx, bari, other.ID, "1", b.Ticket.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("call a ticket of another office: got %v, want ErrNotFound", err)
	}
	if _, err := f.q.CallTicket(ctx, milano, f.office.ID, "1", b.Ticket.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("call a ticket of another Comune: got %v, want ErrNotFound", err)
	}
	k, err := f.q.CallTicket(ctx, bari, f.office.ID, "1", b.Ticket.ID)
	if err != nil || k.ID != b.Ticket.ID || k.State != Called || k.Desk != "1" {
		t.Fatalf("call the second ticket: got %s %s at %q (%v)", k.Number, k.State, k.Desk, err)
	}
	if _, err := f.q.CallTicket(ctx, bari, f.office.ID, "1", a.Ticket.ID); !errors.Is(err, ErrDeskBusy) {
		t.Errorf("call at a busy desk: got %v, want ErrDeskBusy", err)
	}
	if _, err := f.q.CallTicket(ctx, bari, f.office.ID, "2", b.Ticket.ID); !errors.Is(err, ErrTransition) {
		t.Errorf("call a called ticket: got %v, want ErrTransition", err)
	}
	// Transferred to desk 3, only desk 3 may call it.
	if _, err := f.q.Transfer(ctx, bari, b.Ticket.ID, "1", TransferTo{Desk: "3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.CallTicket(ctx, bari, f.office.ID, "2", b.Ticket.ID); !errors.Is(err, ErrWrongDesk) {
		t.Errorf("call a ticket reserved for desk 3 at desk 2: got %v, want ErrWrongDesk", err)
	}
	if k, err := f.q.CallTicket(ctx, bari, f.office.ID, "3", b.Ticket.ID); err != nil || k.ForDesk != "" {
		t.Errorf("desk 3 calls it: got %+v (%v)", k, err)
	}
	// The line goes on by the rule.
	if k := f.mustCall(t, "2"); k.ID != a.Ticket.ID {
		t.Errorf("next by the rule: got %s, want %s", k.Number, a.Ticket.Number)
	}
	_ = c
}

// TestConcurrentCallsNeverShareATicket has two desks on two nodes call
// at once: one always names the first ticket of the line it reads (as an
// operator clicking "chiama" on a row), the other calls next. Every
// ticket is called exactly once, to one desk.
func TestConcurrentCallsNeverShareATicket(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, register)
	leader := clustertest.Leader(t, nodes...)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	office, _, _ := setupOffice(t, lbook, bari.ID)
	qs := queuesOn(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitOffice(ctx, t, qs, office.ID)
	const total = 40
	for range total {
		if err := again(ctx, func() error {
			_, err := qs[0].Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	calledBy := map[string][]string{}
	record := func(k Ticket, desk string) {
		mu.Lock()
		defer mu.Unlock()
		calledBy[k.Number] = append(calledBy[k.Number], desk)
	}
	var wg sync.WaitGroup
	wg.Go(func() { // desk "pick" on node 2 names a ticket
		q := qs[1]
		for ctx.Err() == nil {
			line, err := q.Line(ctx, bari, office.ID)
			if err != nil {
				t.Errorf("Line: %v", err)
				return
			}
			if len(line) == 0 {
				return
			}
			k, err := q.CallTicket(ctx, bari, office.ID, "pick", line[0].ID)
			switch {
			case errors.Is(err, ErrTransition):
				continue // the other desk got it first; the local view was behind
			case errors.Is(err, cluster.ErrNoLeader):
				time.Sleep(20 * time.Millisecond)
				continue
			case err != nil:
				t.Errorf("CallTicket: %v", err)
				return
			}
			record(k, "pick")
			if err := again(ctx, func() error { _, err := q.NoShow(ctx, bari.ID, k.ID, "pick"); return err }); err != nil {
				t.Errorf("no-show: %v", err)
				return
			}
		}
	})
	wg.Go(func() { // desk "next" on node 3 calls next
		q := qs[2]
		for ctx.Err() == nil {
			k, err := q.CallNext(ctx, bari, office.ID, "next", nil)
			switch {
			case errors.Is(err, ErrEmpty):
				return
			case errors.Is(err, cluster.ErrNoLeader):
				time.Sleep(20 * time.Millisecond)
				continue
			case err != nil:
				t.Errorf("CallNext: %v", err)
				return
			}
			record(k, "next")
			if err := again(ctx, func() error { _, err := q.NoShow(ctx, bari.ID, k.ID, "next"); return err }); err != nil {
				t.Errorf("no-show: %v", err)
				return
			}
		}
	})
	wg.Wait()
	if len(calledBy) != total {
		t.Errorf("called %d tickets, want %d", len(calledBy), total)
	}
	desks := map[string]int{}
	for n, by := range calledBy {
		if len(by) != 1 {
			t.Errorf("ticket %s called by %v", n, by)
		}
		desks[by[0]]++
	}
	t.Logf("calls per desk: %v", desks)
	// A pause proposed through a follower answers with the desk's state
	// (decoded from the leader's answer), and every node applies it.
	var st DeskState
	err := again(ctx, func() (err error) {
		st, err = qs[1].PauseDesk(ctx, bari, office.ID, "next", "Fine turno")
		return err
	})
	if err != nil || !st.Paused || st.Reason != "Fine turno" || st.Desk != "next" {
		t.Fatalf("pause through a follower: got %+v (%v)", st, err)
	}
	for {
		_, err := qs[2].CallNext(ctx, bari, office.ID, "next", nil)
		if errors.Is(err, ErrDeskPaused) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("node 3 never saw the pause: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEstimateWithOpenDesks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	var desks []string
	for _, label := range []string{"Sportello 1", "Sportello 2"} {
		w, err := f.book.WriteDesk(ctx, bari.ID, booking.Desk{OfficeID: f.office.ID, Label: label, Kind: booking.DeskCounter}, false)
		if err != nil {
			t.Fatalf("WriteDesk: %v", err)
		}
		desks = append(desks, w.ID)
	}
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, "nope", "Pausa"); !isField(err, "desk") {
		t.Errorf("pause a desk the office does not have: got %v, want a field error on desk", err)
	}
	// A remote station does not count for tickets in person.
	if _, err := f.book.WriteDesk(ctx, bari.ID, booking.Desk{OfficeID: f.office.ID, Label: "Video", Kind: booking.DeskRemote}, false); err != nil {
		t.Fatal(err)
	}
	// Nobody served yet: the expected durations of those ahead, 30 + 10
	// minutes, shared by two desks.
	f.take(t, TakeRequest{ServiceID: f.cie.ID})
	f.take(t, TakeRequest{ServiceID: f.cert.ID})
	k := f.take(t, TakeRequest{ServiceID: f.cert.ID})
	if k.Status.Position != 2 || k.Status.EstimatedWait != 20*time.Minute {
		t.Errorf("two open desks: got position %d wait %v, want 2 and 20m", k.Status.Position, k.Status.EstimatedWait)
	}
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, desks[1], "Pausa pranzo"); err != nil {
		t.Fatal(err)
	}
	if w, err := f.q.EstimatedWait(ctx, bari.ID, k.Ticket.ID); err != nil || w != 40*time.Minute {
		t.Errorf("one desk paused: got %v (%v), want 40m", w, err)
	}
	if _, err := f.q.PauseDesk(ctx, bari, f.office.ID, desks[0], "Pausa pranzo"); err != nil {
		t.Fatal(err)
	}
	if w, _ := f.q.EstimatedWait(ctx, bari.ID, k.Ticket.ID); w != 40*time.Minute {
		t.Errorf("both desks paused: got %v, want 40m (counted as one desk)", w)
	}
	if _, err := f.q.ResumeDesk(ctx, bari, f.office.ID, desks[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.ResumeDesk(ctx, bari, f.office.ID, desks[1]); err != nil {
		t.Fatal(err)
	}
}

func TestEstimatePerService(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	serve := func(req TakeRequest, d time.Duration) {
		t.Helper()
		f.take(t, req)
		k := f.mustCall(t, "1")
		if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(d)
		if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
	}
	// Three certificates of 4 minutes (enough for their own average, the
	// fixture's Sample being 3) and one identity card of 20: the office's
	// average of its last three services is (4+4+20)/3 ≈ 9m20s.
	for range 3 {
		serve(TakeRequest{ServiceID: f.cert.ID}, 4*time.Minute)
	}
	serve(TakeRequest{ServiceID: f.cie.ID}, 20*time.Minute)
	// Ahead of the last ticket: a certificate (its average, 4m), an
	// identity card (one sample only: the office's average) and a ticket
	// without a service (the office's average).
	f.take(t, TakeRequest{ServiceID: f.cert.ID})
	f.take(t, TakeRequest{ServiceID: f.cie.ID})
	f.take(t, TakeRequest{})
	k := f.take(t, TakeRequest{})
	office := (4*time.Minute + 4*time.Minute + 20*time.Minute) / 3
	if want := 4*time.Minute + 2*office; k.Status.Position != 3 || k.Status.EstimatedWait != want {
		t.Errorf("got position %d wait %v, want 3 and %v", k.Status.Position, k.Status.EstimatedWait, want)
	}
}

// TestCallPayloadVersions: CallNext sends version 1 when it uses only
// version 1 fields, so clusters not yet upgraded take it; a version 1
// payload carrying version 2 fields is applied as a version 1 node
// would, ignoring them; a version above 2 is refused.
func TestCallPayloadVersions(t *testing.T) {
	t.Parallel()
	if v := (callPayload{Services: []string{"s"}}).version(); v != 1 {
		t.Errorf("call with services only: version %d, want 1", v)
	}
	for _, p := range []callPayload{{TicketID: "x"}, {Channels: []Channel{Video}}, {Appointments: true}} {
		if v := p.version(); v != 2 {
			t.Errorf("call %+v: version %d, want 2", p, v)
		}
	}
	f := newFixture(t)
	ctx := context.Background()
	a := f.take(t, TakeRequest{})
	b := f.take(t, TakeRequest{})
	cmd, err := cluster.NewCommand(CmdCall, 1, string(bari.ID), callPayload{OfficeID: f.office.ID, Desk: "1", TicketID: b.Ticket.ID, TimeZone: bari.TimeZone})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.node.Propose(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := ticketOf(res.Value); k.ID != a.Ticket.ID {
		t.Errorf("version 1 call naming the second ticket: called %s, want the first (%s)", k.Number, a.Ticket.Number)
	}
	cmd.Version = 3
	if _, err := f.node.Propose(ctx, cmd); err == nil {
		t.Errorf("version 3 call: accepted, want refused")
	}
}

// TestLineStatusAgreesWithStatus: the whole line's statuses, computed at
// once, are those Status gives each ticket, with per-service averages,
// two desks and a transferred ticket in the line.
func TestLineStatusAgreesWithStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	for _, label := range []string{"Sportello 1", "Sportello 2"} {
		if _, err := f.book.WriteDesk(ctx, bari.ID, booking.Desk{OfficeID: f.office.ID, Label: label, Kind: booking.DeskCounter}, false); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		f.take(t, TakeRequest{ServiceID: f.cert.ID})
		k := f.mustCall(t, "1")
		if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(3 * time.Minute)
		if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range []TakeRequest{{ServiceID: f.cert.ID}, {ServiceID: f.cie.ID}, {}, {Channel: Video}, {Priority: Disability}, {ServiceID: f.cert.ID}} {
		f.take(t, req)
	}
	k := f.mustCall(t, "1")
	if _, err := f.q.Transfer(ctx, bari, k.ID, "1", TransferTo{ServiceID: f.cie.ID}); err != nil {
		t.Fatal(err)
	}
	line, err := f.q.Line(ctx, bari, f.office.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.q.lineStatus(ctx, f.q.db, bari.ID, f.office.ID, line[0].Day, line)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range line {
		want, err := f.q.Status(ctx, bari.ID, k.ID)
		if err != nil || got[i] != want {
			t.Errorf("%s: lineStatus %+v, Status %+v (%v)", k.Number, got[i], want, err)
		}
	}
}
