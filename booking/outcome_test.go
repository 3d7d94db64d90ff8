package booking

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestOfficeSteps walks the office's steps through real Raft: each
// refused step says why and changes nothing, each accepted one records
// who and when.
func TestOfficeSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	ctx := context.Background()
	op := Operator{ID: "u-olga", Name: "Olga Verdi"}
	tue := func(hh, mm int) time.Time { return f.at(2026, time.March, 10, hh, mm) }
	book := func(start time.Time, citizen int) Booking {
		t.Helper()
		c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, citizen), "https://bari.example.it")
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		<-f.mails // the confirmation
		return c.Booking
	}
	b1, b2, b3 := book(tue(9, 0), 1), book(tue(9, 30), 2), book(tue(10, 0), 3)
	item := func(b Booking) AgendaItem {
		t.Helper()
		it, err := f.book.AgendaItem(ctx, bari, b.ID)
		if err != nil {
			t.Fatalf("AgendaItem: %v", err)
		}
		return it
	}
	refused := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", what, err, want)
		}
	}
	office := f.office.ID

	// Monday, the day before: nothing can be recorded yet.
	before := f.state(t)
	_, err := f.book.Arrive(ctx, bari, office, b1.ID, op)
	refused("arrive the day before", err, ErrNotToday)
	_, err = f.book.Serve(ctx, bari, office, b1.ID, op, "")
	refused("serve the day before", err, ErrNotToday)
	_, err = f.book.NoShow(ctx, bari, office, b1.ID, op)
	refused("no-show the day before", err, ErrNotStarted)
	_, err = f.book.Arrive(ctx, bari, "another-office", b1.ID, op)
	refused("arrive through another office", err, ErrNotFound)
	if msg, ok := TransitionMessage(fmtWrap(ErrNotStarted)); !ok || !strings.Contains(msg, "assenza") {
		t.Errorf("TransitionMessage = %q, %v, want the Italian sentence", msg, ok)
	}
	if after := f.state(t); after != before || item(b1).State() != "booked" {
		t.Errorf("refused steps changed the state:\n%s\nwant\n%s", after, before)
	}

	// Tuesday 08:50: the first citizen arrives early.
	f.clock.Set(tue(8, 50))
	_, err = f.book.NoShow(ctx, bari, office, b1.ID, op)
	refused("no-show before the start", err, ErrNotStarted)
	w, err := f.book.Arrive(ctx, bari, office, b1.ID, op)
	if err != nil || w.Index == 0 {
		t.Fatalf("Arrive = %+v, %v", w, err)
	}
	it := item(b1)
	if it.State() != "arrived" || it.Handling.ArrivedBy != op || !it.Handling.ArrivedAt.Equal(tue(8, 50)) {
		t.Errorf("after arrival: state %s, by %+v at %v; want arrived by %+v at %v", it.State(), it.Handling.ArrivedBy, it.Handling.ArrivedAt, op, tue(8, 50))
	}
	_, err = f.book.Arrive(ctx, bari, office, b1.ID, op)
	refused("arrive twice", err, ErrAlreadyArrived)
	f.clock.Set(tue(9, 5))
	_, err = f.book.NoShow(ctx, bari, office, b1.ID, op)
	refused("no-show of an arrived citizen", err, ErrArrivedNoShow)
	if _, err := f.book.Serve(ctx, bari, office, b1.ID, Operator{ID: "u-sara", Name: "Sara Neri"}, "  Pratica completata.  "); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	it = item(b1)
	if it.State() != "served" || it.Handling.OutcomeBy.Name != "Sara Neri" || it.Handling.OutcomeNote != "Pratica completata." ||
		!it.Handling.OutcomeAt.Equal(tue(9, 5)) || it.Handling.ArrivedBy != op {
		t.Errorf("after serving: %+v", it.Handling)
	}
	_, err = f.book.Serve(ctx, bari, office, b1.ID, op, "")
	refused("serve twice", err, ErrAlreadyServed)
	_, err = f.book.CancelByOffice(ctx, bari, office, b1.ID, op, "Sportello chiuso", "https://bari.example.it")
	refused("cancel a served booking", err, ErrAlreadyOver)
	if _, err := f.book.AddNote(ctx, bari, office, b1.ID, op, "Ha portato una foto non conforme."); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if _, err := f.book.AddNote(ctx, bari, office, b1.ID, op, "   "); !isField(err, "note") {
		t.Errorf("empty note: got %v, want a field error on note", err)
	}
	if notes := item(b1).Notes; len(notes) != 1 || notes[0].Text != "Ha portato una foto non conforme." || notes[0].By != op {
		t.Errorf("notes %+v, want the one note by %+v", notes, op)
	}

	// 09:40: the second citizen is late, marked absent, then arrives.
	f.clock.Set(tue(9, 40))
	if _, err := f.book.NoShow(ctx, bari, office, b2.ID, op); err != nil {
		t.Fatalf("NoShow: %v", err)
	}
	_, err = f.book.NoShow(ctx, bari, office, b2.ID, op)
	refused("no-show twice", err, ErrAlreadyNoShow)
	_, err = f.book.CancelByOffice(ctx, bari, office, b2.ID, op, "Assente", "https://bari.example.it")
	refused("cancel a no-show", err, ErrAlreadyOver)
	if _, err := f.book.Arrive(ctx, bari, office, b2.ID, op); err != nil {
		t.Fatalf("Arrive after no-show: %v", err)
	}
	if it := item(b2); it.State() != "arrived" || it.Handling.Outcome != "" {
		t.Errorf("late arrival: state %s, outcome %q; want arrived with no outcome", it.State(), it.Handling.Outcome)
	}

	// The office cancels the 10:00 appointment: the slot frees, the
	// citizen is emailed the reason.
	if _, err := f.book.CancelByOffice(ctx, bari, office, b3.ID, op, "", "https://bari.example.it"); !isField(err, "reason") {
		t.Errorf("cancel without a reason: got %v, want a field error on reason", err)
	}
	reason := "L'operatore è assente per malattia: ti preghiamo di prenotare un nuovo appuntamento."
	if _, err := f.book.CancelByOffice(ctx, bari, office, b3.ID, op, reason, "https://bari.example.it"); err != nil {
		t.Fatalf("CancelByOffice: %v", err)
	}
	it = item(b3)
	if it.State() != "cancelled_by_office" || it.Booking.Status != Cancelled || it.Booking.Sequence != 1 ||
		it.Handling.CancelReason != reason || it.Handling.CancelledBy != op {
		t.Errorf("after office cancel: state %s, booking %+v, handling %+v", it.State(), it.Booking, it.Handling)
	}
	var active int
	if err := f.node.DB().QueryRow(`SELECT count(*) FROM booking_bookings WHERE tenant = 'bari' AND service_id = ? AND start_unix = ? AND status = 'active'`,
		f.svc.ID, tue(10, 0).Unix()).Scan(&active); err != nil || active != 0 {
		t.Errorf("active bookings at 10:00 after the cancel: %d, %v; want 0", active, err)
	}
	var notice *Notice
	for _, n := range f.outbox(t) {
		if n.Booking.ID == b3.ID && n.Kind == NoticeCancel {
			notice = &n
		}
	}
	if notice == nil || notice.Reason != reason || notice.Sequence != 1 {
		t.Fatalf("outbox cancel notice %+v, want one with the reason", notice)
	}
	p := parseEmail(t, <-f.mails)
	if !strings.Contains(p.text, "annullato dall'ufficio") || !strings.Contains(p.text, reason) || strings.Contains(p.text, "come hai chiesto") {
		t.Errorf("cancellation email text lacks the office's reason:\n%s", p.text)
	}
	if !strings.Contains(p.html, "Motivo") {
		t.Errorf("cancellation email HTML lacks the reason:\n%s", p.html)
	}
	_, err = f.book.Serve(ctx, bari, office, b3.ID, op, "")
	refused("serve a cancelled booking", err, ErrCancelled)
	_, err = f.book.Arrive(ctx, bari, office, b3.ID, op)
	refused("arrive for a cancelled booking", err, ErrCancelled)
	_, err = f.book.CancelByOffice(ctx, bari, office, b3.ID, op, reason, "https://bari.example.it")
	refused("cancel twice", err, ErrCancelled)

	// The agenda of the day lists the three in time order.
	items, err := f.book.Agenda(ctx, bari, office, civil.DateOf(tue(12, 0).In(f.loc)))
	if err != nil {
		t.Fatalf("Agenda: %v", err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.Booking.Code+"="+it.State())
	}
	want := []string{b1.Code + "=served", b2.Code + "=arrived", b3.Code + "=cancelled_by_office"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("agenda %v, want %v", got, want)
	}
}

// fmtWrap wraps err as the Book's methods do.
func fmtWrap(err error) error { return errors.Join(errors.New("no-show BA-XXXXXX"), err) }

// isField reports whether err is a *ValidationError on field.
func isField(err error, field string) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && ve.Fields[field] != ""
}
