package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

var (
	bari   = tenant.Tenant{ID: "bari", Name: "Comune di Bari", CodePrefix: "BA", TimeZone: "Europe/Rome"}
	milano = tenant.Tenant{ID: "milano", Name: "Comune di Milano", CodePrefix: "MI", TimeZone: "Europe/Rome"}
)

// register adds booking (offices, services, bookings) and the queue.
func register(reg *cluster.Registry) {
	booking.Register(reg)
	Register(reg)
}

// fixture is a real one-node cluster with a clock under the test's
// control, a Comune "bari" with an office open Monday–Friday 08:30–12:30
// and two services: the identity card (30 min, group A by default) and
// registry certificates (group "B").
type fixture struct {
	node   *cluster.Node
	clock  *clustertest.Clock
	book   *booking.Book
	q      *Queue
	office booking.Office
	cie    booking.Service
	cert   booking.Service
}

// startTime is Monday 9 March 2026, 08:00 in Rome.
var startTime = time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{clock: clustertest.NewClock(startTime)}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now}, register)
	clustertest.Start(t, f.node)
	f.book = booking.NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.q = New(f.node, f.node.DB(), f.book, f.clock.Now, rand.Reader)
	f.office, f.cie, f.cert = setupOffice(t, f.book, bari.ID)
	if err := f.q.Configure(context.Background(), bari.ID, OfficeConfig{
		OfficeID: f.office.ID, Groups: map[string]string{f.cert.ID: "B"},
		EarlyCheckIn: 15 * time.Minute, LateCheckIn: 10 * time.Minute, Sample: 3,
	}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return f
}

// queueOn is the queue of node n, with its own booking.Book, the real
// clock and randomness.
func queueOn(n *cluster.Node) *Queue {
	return New(n, n.DB(), booking.NewBook(n, n.DB(), time.Now, rand.Reader), time.Now, rand.Reader)
}

// queuesOn is queueOn for each node.
func queuesOn(nodes []*cluster.Node) []*Queue {
	qs := make([]*Queue, len(nodes))
	for i, n := range nodes {
		qs[i] = queueOn(n)
	}
	return qs
}

// setupOffice saves an office with two services in Comune t.
func setupOffice(t *testing.T, book *booking.Book, tid tenant.ID) (booking.Office, booking.Service, booking.Service) {
	t.Helper()
	ctx := context.Background()
	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	office, err := book.SaveOffice(ctx, tid, booking.Office{
		Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84, 70122 Bari", Email: "anagrafe@example.it", Hours: week,
	})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	svc := func(name string, d time.Duration) booking.Service {
		s, err := book.SaveService(ctx, tid, booking.Service{
			OfficeID: office.ID, Name: name, Description: name + ".", Category: "Anagrafe",
			Duration: d, Channels: []booking.Channel{booking.InPerson}, Capacity: 5,
			MinNotice: time.Hour, HorizonDays: 30, CancelDeadline: time.Hour,
		})
		if err != nil {
			t.Fatalf("SaveService %s: %v", name, err)
		}
		return s
	}
	return office, svc("Carta d'identità elettronica", 30*time.Minute), svc("Certificati anagrafici", 10*time.Minute)
}

// at is hh:mm on the fixture's Monday in Rome.
func at(hh, mm int) time.Time {
	return time.Date(2026, 3, 9, hh, mm, 0, 0, bari.Location())
}

// bookAt books the identity card service at start and returns the code.
func (f *fixture) bookAt(t *testing.T, start time.Time, fiscal string) string {
	t.Helper()
	c, err := f.book.Create(context.Background(), bari, booking.Request{
		ServiceID: f.cie.ID, Start: start, Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: fiscal, Email: "maria@example.it"},
	}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("book at %s: %v", start.Format("15:04"), err)
	}
	return c.Booking.Code
}

func (f *fixture) take(t *testing.T, req TakeRequest) Taken {
	t.Helper()
	if req.OfficeID == "" {
		req.OfficeID = f.office.ID
	}
	if req.Channel == "" {
		req.Channel = InPerson
	}
	k, err := f.q.Take(context.Background(), bari, req)
	if err != nil {
		t.Fatalf("Take %+v: %v", req, err)
	}
	return k
}

// callAll calls and serves every waiting ticket at desk "1" and returns
// their numbers in call order.
func (f *fixture) callAll(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var got []string
	for {
		k, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil)
		if errors.Is(err, ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatalf("CallNext: %v", err)
		}
		got = append(got, k.Number)
		if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatalf("StartServing %s: %v", k.Number, err)
		}
		if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatalf("Served %s: %v", k.Number, err)
		}
	}
}

func TestTakeNumbersByGroupAndCallsInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a1 := f.take(t, TakeRequest{ServiceID: f.cie.ID})
	b1 := f.take(t, TakeRequest{ServiceID: f.cert.ID})
	a2 := f.take(t, TakeRequest{})
	p := f.take(t, TakeRequest{ServiceID: f.cert.ID, Priority: Disability})
	for _, c := range []struct {
		k    Taken
		num  string
		pos  int
		wait time.Duration
	}{
		// Before anyone is served, each ticket ahead counts its own
		// expected length: A001 is an identity card (30 minutes), B001 a
		// certificate (10).
		{a1, "A001", 0, 0}, {b1, "B001", 1, 30 * time.Minute}, {a2, "A002", 2, 40 * time.Minute}, {p, "B002", 0, 0},
	} {
		if c.k.Ticket.Number != c.num || c.k.Status.Position != c.pos || c.k.Status.EstimatedWait != c.wait {
			t.Errorf("ticket %s: got position %d wait %v, want %s position %d wait %v",
				c.k.Ticket.Number, c.k.Status.Position, c.k.Status.EstimatedWait, c.num, c.pos, c.wait)
		}
		if c.k.Secret == "" || c.k.Ticket.State != Waiting || c.k.Ticket.Day != "2026-03-09" {
			t.Errorf("ticket %s: secret %q state %s day %s", c.k.Ticket.Number, c.k.Secret, c.k.Ticket.State, c.k.Ticket.Day)
		}
	}
	// The priority ticket came last and now stands first: a1 moved back.
	if pos, err := f.q.Position(context.Background(), bari.ID, a1.Ticket.ID); err != nil || pos != 1 {
		t.Errorf("A001 after the priority ticket: got position %d (%v), want 1", pos, err)
	}
	if got, want := fmt.Sprint(f.callAll(t)), "[B002 A001 B001 A002]"; got != want {
		t.Errorf("call order: got %s, want %s", got, want)
	}
}

func TestCheckInWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	onTime := f.bookAt(t, at(10, 0), "RSSMRA85T10A562S")
	late := f.bookAt(t, at(10, 0), "MRARSS80A01H501T")
	early := f.bookAt(t, at(10, 30), "RSSMRA85T10A562S")

	f.clock.Set(at(9, 40))
	if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: f.office.ID, Channel: InPerson, BookingCode: onTime}); !errors.Is(err, ErrTooEarly) {
		t.Fatalf("check-in 20 minutes early: got %v, want ErrTooEarly", err)
	}
	f.clock.Set(at(9, 50))
	w1 := f.take(t, TakeRequest{ServiceID: f.cert.ID})
	b := f.take(t, TakeRequest{BookingCode: onTime})
	if !b.Ticket.Booked || b.Ticket.ServiceID != f.cie.ID || !b.Ticket.Appointment.Equal(at(10, 0)) {
		t.Errorf("check-in 10 minutes early: got booked %v service %s appointment %v, want booked at 10:00",
			b.Ticket.Booked, b.Ticket.ServiceID, b.Ticket.Appointment)
	}
	// Before its time the booked citizen waits behind the walk-in.
	if b.Status.Position != 1 {
		t.Errorf("booked at 09:50: got position %d, want 1", b.Status.Position)
	}
	if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: f.office.ID, Channel: InPerson, BookingCode: onTime}); !errors.Is(err, ErrAlreadyCheckedIn) {
		t.Errorf("second check-in: got %v, want ErrAlreadyCheckedIn", err)
	}
	if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: f.office.ID, Channel: InPerson, BookingCode: "BA-NOSUCH"}); !errors.Is(err, ErrNotToday) {
		t.Errorf("unknown code: got %v, want ErrNotToday", err)
	}
	f.clock.Set(at(10, 16))
	l := f.take(t, TakeRequest{BookingCode: late})
	if l.Ticket.Booked || l.Ticket.BookingCode != late {
		t.Errorf("check-in 16 minutes late: got booked %v code %q, want a walk-in with the code", l.Ticket.Booked, l.Ticket.BookingCode)
	}
	w2 := f.take(t, TakeRequest{})
	e := f.take(t, TakeRequest{BookingCode: early})
	if !e.Ticket.Booked {
		t.Errorf("check-in 14 minutes early: got a walk-in, want booked")
	}
	// At 10:16 the 10:00 appointment is due: first; then walk-ins by
	// arrival (the late citizen among them); the 10:30 one last, as no
	// walk-in is left.
	want := fmt.Sprint([]string{b.Ticket.Number, w1.Ticket.Number, l.Ticket.Number, w2.Ticket.Number, e.Ticket.Number})
	if got := fmt.Sprint(f.callAll(t)); got != want {
		t.Errorf("call order: got %s, want %s", got, want)
	}
}

func TestTransitionsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	k := f.take(t, TakeRequest{})
	id := k.Ticket.ID
	steps := []struct {
		name string
		do   func() (Ticket, error)
		want error
		st   State
	}{
		{"serve before call", func() (Ticket, error) { return f.q.StartServing(ctx, bari.ID, id, "1") }, ErrTransition, Waiting},
		{"recall before call", func() (Ticket, error) { return f.q.Recall(ctx, bari.ID, id, "1") }, ErrTransition, Waiting},
		{"cancel with a wrong secret", func() (Ticket, error) { return f.q.Cancel(ctx, bari.ID, id, "nope") }, ErrBadSecret, Waiting},
		{"call", func() (Ticket, error) { return f.q.CallNext(ctx, bari, f.office.ID, "1", nil) }, nil, Called},
		{"desk busy", func() (Ticket, error) { return f.q.CallNext(ctx, bari, f.office.ID, "1", nil) }, ErrDeskBusy, Called},
		{"nobody left for desk 2", func() (Ticket, error) { return f.q.CallNext(ctx, bari, f.office.ID, "2", nil) }, ErrEmpty, Called},
		{"served before serving", func() (Ticket, error) { return f.q.Served(ctx, bari.ID, id, "1") }, ErrTransition, Called},
		{"another desk starts", func() (Ticket, error) { return f.q.StartServing(ctx, bari.ID, id, "2") }, ErrWrongDesk, Called},
		{"recall", func() (Ticket, error) { return f.q.Recall(ctx, bari.ID, id, "1") }, nil, Called},
		{"start", func() (Ticket, error) { return f.q.StartServing(ctx, bari.ID, id, "1") }, nil, Serving},
		{"no-show while serving", func() (Ticket, error) { return f.q.NoShow(ctx, bari.ID, id, "1") }, ErrTransition, Serving},
		{"citizen leaves while served", func() (Ticket, error) { return f.q.Cancel(ctx, bari.ID, id, k.Secret) }, ErrTransition, Serving},
		{"served", func() (Ticket, error) { return f.q.Served(ctx, bari.ID, id, "1") }, nil, Served},
		{"served twice", func() (Ticket, error) { return f.q.Served(ctx, bari.ID, id, "1") }, ErrTransition, Served},
		{"unknown ticket", func() (Ticket, error) { return f.q.Served(ctx, bari.ID, "nope", "1") }, ErrNotFound, Served},
	}
	for _, s := range steps {
		_, err := s.do()
		if (s.want == nil && err != nil) || (s.want != nil && !errors.Is(err, s.want)) {
			t.Fatalf("%s: got %v, want %v", s.name, err, s.want)
		}
		got, err := f.q.TicketWithSecret(ctx, bari.ID, id, k.Secret)
		if err != nil || got.State != s.st {
			t.Fatalf("after %s: got state %s (%v), want %s", s.name, got.State, err, s.st)
		}
	}
	got, _ := f.q.Ticket(ctx, bari.ID, id)
	if got.Recalls != 1 || got.Desk != "1" || got.Called.IsZero() || got.Started.IsZero() || got.Done.IsZero() {
		t.Errorf("served ticket: got %+v, want one recall at desk 1 with every time stamped", got)
	}

	// A waiting ticket leaves with its secret; a no-show closes a call.
	c := f.take(t, TakeRequest{})
	if k, err := f.q.Cancel(ctx, bari.ID, c.Ticket.ID, c.Secret); err != nil || k.State != Cancelled {
		t.Errorf("cancel: got %s (%v), want cancelled", k.State, err)
	}
	n := f.take(t, TakeRequest{})
	if k, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil || k.ID != n.Ticket.ID {
		t.Fatalf("call after a cancellation: got %s (%v), want %s", k.Number, err, n.Ticket.Number)
	}
	if k, err := f.q.NoShow(ctx, bari.ID, n.Ticket.ID, "1"); err != nil || k.State != NoShow {
		t.Errorf("no-show: got %s (%v), want no_show", k.State, err)
	}
	if _, err := f.q.TicketWithSecret(ctx, bari.ID, n.Ticket.ID, c.Secret); !errors.Is(err, ErrBadSecret) {
		t.Errorf("another ticket's secret: got %v, want ErrBadSecret", err)
	}
	if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: f.office.ID, Channel: "fax"}); !isField(err, "channel") {
		t.Errorf("bad channel: got %v, want a field error on channel", err)
	}
	if _, err := f.q.Take(ctx, bari, TakeRequest{OfficeID: "nope", Channel: InPerson}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown office: got %v, want ErrNotFound", err)
	}
}

func isField(err error, field string) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && ve.Fields[field] != ""
}

func TestEstimateFromRecentServices(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// Serve two tickets taking 4 and 8 minutes: the average is 6.
	for _, d := range []time.Duration{4 * time.Minute, 8 * time.Minute} {
		f.take(t, TakeRequest{})
		k, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.q.StartServing(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(d)
		if _, err := f.q.Served(ctx, bari.ID, k.ID, "1"); err != nil {
			t.Fatal(err)
		}
	}
	f.take(t, TakeRequest{ServiceID: f.cie.ID})
	f.take(t, TakeRequest{ServiceID: f.cie.ID})
	k := f.take(t, TakeRequest{ServiceID: f.cie.ID})
	if k.Status.Position != 2 || k.Status.EstimatedWait != 12*time.Minute {
		t.Errorf("third in line: got position %d wait %v, want 2 and 12m (2 × 6m measured, not the 30m service length)",
			k.Status.Position, k.Status.EstimatedWait)
	}
	if w, err := f.q.EstimatedWait(ctx, bari.ID, k.Ticket.ID); err != nil || w != 12*time.Minute {
		t.Errorf("EstimatedWait: got %v (%v), want 12m", w, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	mOffice, _, _ := setupOffice(t, f.book, milano.ID)
	k := f.take(t, TakeRequest{})
	if _, err := f.q.Ticket(ctx, milano.ID, k.Ticket.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("bari's ticket read as milano: got %v, want ErrNotFound", err)
	}
	if _, err := f.q.Cancel(ctx, milano.ID, k.Ticket.ID, k.Secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("bari's ticket cancelled as milano: got %v, want ErrNotFound", err)
	}
	if _, err := f.q.CallNext(ctx, milano, f.office.ID, "1", nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("milano calls bari's office: got %v, want ErrEmpty", err)
	}
	if _, err := f.q.Take(ctx, milano, TakeRequest{OfficeID: f.office.ID, Channel: InPerson}); !errors.Is(err, ErrNotFound) {
		t.Errorf("milano takes a ticket at bari's office: got %v, want ErrNotFound", err)
	}
	m, err := f.q.Take(ctx, milano, TakeRequest{OfficeID: mOffice.ID, Channel: InPerson})
	if err != nil || m.Ticket.Number != "A001" || m.Status.Position != 0 {
		t.Errorf("milano's first ticket: got %s position %d (%v), want A001 position 0", m.Ticket.Number, m.Status.Position, err)
	}
	if got, _ := f.q.Ticket(ctx, bari.ID, k.Ticket.ID); got.State != Waiting {
		t.Errorf("bari's ticket after milano's calls: got %s, want waiting", got.State)
	}
}

// TestNumbersUniqueUnderConcurrentTakes takes 200 tickets at once through
// the three nodes of a cluster: apply numbers them, so every number is
// given once, each group's numbers have no gap, and every node holds the
// same numbering.
func TestNumbersUniqueUnderConcurrentTakes(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, register)
	leader := clustertest.Leader(t, nodes...)
	qs := queuesOn(nodes)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	office, cie, cert := setupOffice(t, lbook, bari.ID)
	lq := New(leader, leader.DB(), lbook, time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := lq.Configure(ctx, bari.ID, OfficeConfig{OfficeID: office.ID, Groups: map[string]string{cert.ID: "B"},
		EarlyCheckIn: DefaultEarlyCheckIn, LateCheckIn: DefaultLateCheckIn, Sample: DefaultSample}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	// The followers read the office and service locally before they
	// propose: wait until they have them.
	for _, q := range qs {
		for {
			if _, err := q.book.Service(ctx, bari.ID, cert.ID); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("followers never saw the office")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	const total = 200
	var wg sync.WaitGroup
	results := make([]Taken, total)
	errs := make([]error, total)
	for i := range total {
		wg.Go(func() {
			svc := cie.ID
			if i%4 == 0 {
				svc = cert.ID
			}
			// 200 takes at once on two cores can cost the cluster its
			// leader for a moment; a take refused then was handed to no
			// leader (cluster.ErrNoLeader), so the client tries again, as
			// the API's 503 with Retry-After tells it to.
			for {
				results[i], errs[i] = qs[i%len(qs)].Take(ctx, bari, TakeRequest{OfficeID: office.ID, ServiceID: svc, Channel: InPerson})
				if !errors.Is(errs[i], cluster.ErrNoLeader) || ctx.Err() != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	var maxIndex uint64
	for i, err := range errs {
		if err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
		n := results[i].Ticket.Number
		if seen[n] {
			t.Errorf("number %s given twice", n)
		}
		seen[n] = true
		maxIndex = max(maxIndex, results[i].Index)
	}
	for letter, count := range map[string]int{"A": 150, "B": 50} {
		for i := 1; i <= count; i++ {
			if n := fmt.Sprintf("%s%03d", letter, i); !seen[n] {
				t.Errorf("number %s missing: group %s should run 1..%d without gaps", n, letter, count)
			}
		}
	}
	var want string
	for i, n := range nodes {
		if err := n.WaitApplied(ctx, maxIndex); err != nil {
			t.Fatal(err)
		}
		rows, err := n.DB().QueryContext(ctx, `SELECT id, number, seq FROM queue_tickets WHERE tenant = ? ORDER BY seq`, bari.ID)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for rows.Next() {
			var id, num string
			var seq int
			if err := rows.Scan(&id, &num, &seq); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(seq, num, id))
		}
		rows.Close()
		if len(lines) != total {
			t.Fatalf("node%d: got %d tickets, want %d", i+1, len(lines), total)
		}
		got := fmt.Sprint(lines)
		if i == 0 {
			want = got
		} else if got != want {
			t.Errorf("node%d numbers the tickets differently from node1", i+1)
		}
	}
	// Three desks on three nodes call at once: nobody is called twice.
	called := make(chan string, total)
	for d := range 3 {
		wg.Go(func() {
			q := qs[d]
			desk := fmt.Sprint(d + 1)
			// As the takes above, a command refused for want of a
			// leader was not applied: try it again.
			retry := func(err error) bool {
				if errors.Is(err, cluster.ErrNoLeader) && ctx.Err() == nil {
					time.Sleep(50 * time.Millisecond)
					return true
				}
				return false
			}
			for {
				k, err := q.CallNext(ctx, bari, office.ID, desk, nil)
				if retry(err) {
					continue
				}
				if errors.Is(err, ErrEmpty) {
					return
				}
				if err != nil {
					t.Errorf("desk %s: %v", desk, err)
					return
				}
				called <- k.Number
				for {
					_, err = q.NoShow(ctx, bari.ID, k.ID, desk)
					if !retry(err) {
						break
					}
				}
				if err != nil {
					t.Errorf("desk %s no-show %s: %v", desk, k.Number, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(called)
	var got []string
	for n := range called {
		got = append(got, n)
	}
	sort.Strings(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("ticket %s called twice", got[i])
		}
	}
	if len(got) != total {
		t.Errorf("called %d tickets, want %d", len(got), total)
	}
}

// TestDesignExample replays the example table of DESIGN.md.
func TestDesignExample(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ten := f.bookAt(t, at(10, 0), "RSSMRA85T10A562S")
	lateTen := f.bookAt(t, at(10, 0), "MRARSS80A01H501T")
	half := f.bookAt(t, at(10, 30), "MRARSS80A01H501T")
	f.clock.Set(at(9, 50))
	f.take(t, TakeRequest{})
	f.take(t, TakeRequest{BookingCode: ten})
	f.clock.Set(at(9, 55))
	if k, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil || k.Number != "A001" {
		t.Fatalf("09:55 call: got %s (%v), want A001", k.Number, err)
	}
	f.clock.Set(at(10, 5))
	f.take(t, TakeRequest{})
	f.take(t, TakeRequest{Priority: Pregnancy})
	f.clock.Set(at(10, 16))
	f.take(t, TakeRequest{BookingCode: lateTen})
	f.take(t, TakeRequest{BookingCode: half})
	line, err := f.q.Line(ctx, bari, f.office.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range line {
		got = append(got, k.Number)
	}
	if want := "[A004 A002 A003 A005 A006]"; fmt.Sprint(got) != want {
		t.Errorf("line at 10:16: got %v, want %s", got, want)
	}
	f.clock.Set(at(10, 20))
	a1, ok, err := f.q.AtDesk(ctx, bari, f.office.ID, "1")
	if err != nil || !ok || a1.Number != "A001" {
		t.Fatalf("desk 1 at 10:20: got %s %v (%v), want A001", a1.Number, ok, err)
	}
	if _, err := f.q.Transfer(ctx, bari, a1.ID, "1", TransferTo{Desk: "2"}); err != nil {
		t.Fatalf("transfer A001 to desk 2: %v", err)
	}
	if line, err = f.q.Line(ctx, bari, f.office.ID); err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, k := range line {
		got = append(got, k.Number)
	}
	if want := "[A004 A001 A002 A003 A005 A006]"; fmt.Sprint(got) != want {
		t.Errorf("line at 10:20: got %v, want %s", got, want)
	}
}

// TestCheckInRightAfterBookingOnLaggingFollower: a citizen books through
// a follower whose apply lags (booking.Create answers with the leader's
// result, without waiting for it) and checks in at once on that node: the
// check-in waits for the node's own writes instead of finding no booking.
func TestCheckInRightAfterBookingOnLaggingFollower(t *testing.T) {
	clock := clustertest.NewClock(startTime)
	gate := clustertest.NewGate()
	nodes := clustertest.ClusterAt(t, 3, clock.Now, register, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, via := clustertest.LeaderAndFollower(t, nodes...)
	ctx := context.Background()
	book := booking.NewBook(via, via.DB(), clock.Now, rand.Reader)
	q := New(via, via.DB(), book, clock.Now, rand.Reader)
	office, cie, _ := setupOffice(t, book, bari.ID)
	if err := q.Configure(ctx, bari.ID, OfficeConfig{OfficeID: office.ID, Sample: 3,
		EarlyCheckIn: DefaultEarlyCheckIn, LateCheckIn: DefaultLateCheckIn}); err != nil {
		t.Fatal(err)
	}
	if err := via.WaitOwnWrites(ctx); err != nil {
		t.Fatal(err)
	}
	gate.Hold(via.Config().NodeID)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}
	c, err := book.Create(ctx, bari, booking.Request{
		ServiceID: cie.ID, Start: at(10, 0), Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"},
	}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("book on a lagging follower: %v", err)
	}
	clock.Set(at(9, 50))
	done := make(chan error, 1)
	go func() {
		_, err := q.Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson, BookingCode: c.Booking.Code, Source: SourceDesk})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("check-in returned %v while the follower had not applied the booking", err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(via.Config().NodeID)
	if err := <-done; err != nil {
		t.Fatalf("check-in after the follower caught up: %v", err)
	}
}
