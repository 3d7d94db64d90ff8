package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// mailbox collects the waiting-list emails the outbox delivers.
type mailbox struct {
	mu   sync.Mutex
	msgs []string
}

func (m *mailbox) Send(_ context.Context, _ string, to []string, msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, to[0]+"\n"+string(msg))
	return nil
}

func (m *mailbox) count(to, subject string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.msgs {
		if strings.HasPrefix(s, to+"\n") && strings.Contains(s, subject) {
			n++
		}
	}
	return n
}

// waitFixture is a one-node cluster over real Raft and SQLite with a
// service of one seat per slot, the waiting-list emails delivered to a
// mailbox and App IO messages to a fake App IO server.
type waitFixture struct {
	*fixture
	worker *WaitlistWorker
	mail   *mailbox
	fake   *appio.FakeServer
	sealer appio.Sealer
}

func newWaitFixture(t *testing.T) *waitFixture {
	t.Helper()
	f := &waitFixture{fixture: &fixture{clock: clustertest.NewClock(startTime)}, mail: &mailbox{}}
	f.fake = appio.NewFakeServer("key-anagrafe")
	t.Cleanup(f.fake.Close)
	f.sealer = appio.Sealer{Key: make([]byte, 32)}
	rand.Read(f.sealer.Key)
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now, OutboxBackoff: 20 * time.Millisecond}, Register)
	f.node.HandleOutbox(WaitlistOutboxKind, WaitlistEmailDeliverer(f.mail, "", f.clock.Now, clustertest.Logger(t)))
	client := &appio.Client{BaseURL: f.fake.BaseURL()}
	f.node.HandleOutbox(AppIOOutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
		return AppIODeliverer(f.book, client, func() appio.Sealer { return f.sealer }, clustertest.Logger(t))(ctx, m)
	})
	clustertest.Start(t, f.node)
	f.book = NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.loc = bari.Location()
	f.worker = &WaitlistWorker{Book: f.book, Log: clustertest.Logger(t),
		Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }}
	ctx := context.Background()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	var err error
	if f.office, err = f.book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84, Bari", Hours: week}); err != nil {
		t.Fatal(err)
	}
	if f.svc, err = f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: f.office.ID, Name: "Carta d'identità", Description: "CIE.", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, MinNotice: time.Hour, HorizonDays: 60,
		CancelDeadline: time.Hour, MaxActivePerCitizen: 1,
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *waitFixture) join(t *testing.T, n int, fiscal bool, days ...time.Weekday) WaitJoined {
	t.Helper()
	c := Citizen{GivenName: "Anna", FamilyName: fmt.Sprintf("Bianchi %d", n), Email: fmt.Sprintf("anna%d@example.it", n)}
	if fiscal {
		c.FiscalCode = testFiscalCode(100 + n)
	}
	j, err := f.book.JoinWaitlist(context.Background(), bari, WaitRequest{ServiceID: f.svc.ID, Citizen: c, Days: days, PrivacyAccepted: true}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("JoinWaitlist %d: %v", n, err)
	}
	return j
}

func (f *waitFixture) entry(t *testing.T, j WaitJoined) WaitEntry {
	t.Helper()
	e, err := f.book.WaitEntry(context.Background(), bari.ID, j.Entry.ID, j.Token)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *waitFixture) tick(t *testing.T) int {
	t.Helper()
	n, err := f.worker.Tick(context.Background())
	if err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The appointment: Wednesday 11 March 2026 at 10:00 in Rome; the clock
// starts on Monday at 10:00.
func TestWaitlistOfferExpiryAndNextInLine(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	slot := f.at(2026, 3, 11, 10, 0)
	holder, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slot, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	first := f.join(t, 1, false)                  // any day
	tuesday := f.join(t, 2, false, time.Tuesday)  // not Wednesdays
	second := f.join(t, 3, false, time.Wednesday) // Wednesdays
	eventually(t, "three joined emails", func() bool {
		return f.mail.count("anna1@example.it", "lista d") == 1 && f.mail.count("anna3@example.it", "lista d") == 1
	})

	// The citizen cancels: the seat is held for the first in line.
	if _, err := f.book.Cancel(ctx, bari, holder.Booking.Code, holder.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	e := f.entry(t, first)
	if e.Status != WaitOffered || e.Offer == nil || !e.Offer.Start.Equal(slot) {
		t.Fatalf("first in line: status %s offer %+v, want offered %s", e.Status, e.Offer, slot)
	}
	if want := startTime.Add(DefaultOfferHold); !e.Offer.Expires.Equal(want) {
		t.Errorf("offer expires %s, want %s", e.Offer.Expires, want)
	}
	eventually(t, "offer email", func() bool { return f.mail.count("anna1@example.it", "Si =C3=A8 liberato") == 1 })

	// The hold keeps everyone else out, decided in apply.
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slot, 9), "https://bari.example.it"); !errors.Is(err, ErrSlotFull) {
		t.Fatalf("booking a held seat: %v, want ErrSlotFull", err)
	}
	slots, err := f.book.Slots(ctx, bari, f.svc.ID, civil.DateOf(slot.In(f.loc)), civil.DateOf(slot.In(f.loc)))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if s.Start.Equal(slot) && s.Remaining != 0 {
			t.Errorf("held slot lists %d remaining, want 0", s.Remaining)
		}
	}

	// Before the expiry nothing moves; after, the next whose days match.
	f.clock.Advance(time.Hour)
	if n := f.tick(t); n != 0 {
		t.Fatalf("expired %d offers an hour in, want 0", n)
	}
	f.clock.Advance(time.Hour + time.Minute)
	if n := f.tick(t); n != 1 {
		t.Fatalf("expired %d offers, want 1", n)
	}
	if e := f.entry(t, first); e.Status != WaitLapsed {
		t.Errorf("first in line after expiry: %s, want lapsed", e.Status)
	}
	if e := f.entry(t, tuesday); e.Status != WaitWaiting {
		t.Errorf("Tuesday-only citizen: %s, want still waiting", e.Status)
	}
	e = f.entry(t, second)
	if e.Status != WaitOffered || e.Offer == nil || !e.Offer.Start.Equal(slot) {
		t.Fatalf("next in line: %s %+v, want offered", e.Status, e.Offer)
	}
	// The lapsed citizen's link no longer books.
	if _, err := f.book.AcceptOffer(ctx, bari, first.Entry.ID, first.Token, Acceptance{FiscalCode: testFiscalCode(201), Channel: InPerson, PrivacyAccepted: true}, "https://bari.example.it"); !errors.Is(err, ErrNoOffer) {
		t.Errorf("accept after lapse: %v, want ErrNoOffer", err)
	}
	// Accepting books through booking.create's rules: the codice
	// fiscale is asked now.
	if _, err := f.book.AcceptOffer(ctx, bari, second.Entry.ID, second.Token, Acceptance{Channel: InPerson, PrivacyAccepted: true}, "https://bari.example.it"); err == nil {
		t.Fatal("accept without a codice fiscale: booked")
	}
	created, err := f.book.AcceptOffer(ctx, bari, second.Entry.ID, second.Token, Acceptance{FiscalCode: testFiscalCode(203), Channel: InPerson, PrivacyAccepted: true}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if !created.Booking.Start.Equal(slot) || created.Booking.Citizen.Email != "anna3@example.it" || created.ManageToken == "" {
		t.Errorf("booking of the accepted offer: %+v", created.Booking)
	}
	if e := f.entry(t, second); e.Status != WaitBooked || e.Offer != nil {
		t.Errorf("after accept: %s %+v, want booked", e.Status, e.Offer)
	}
	if _, err := f.book.Get(ctx, bari.ID, created.Booking.Code, created.ManageToken); err != nil {
		t.Errorf("the booking's manage token: %v", err)
	}
	// Nothing left to expire.
	f.clock.Advance(3 * time.Hour)
	if n := f.tick(t); n != 0 {
		t.Errorf("expired %d after the accept, want 0", n)
	}
}

func TestWaitlistNobodyLeftFreesTheSeatAndLeaveByLink(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	slot := f.at(2026, 3, 11, 10, 0)
	holder, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slot, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	leaver := f.join(t, 1, false)
	only := f.join(t, 2, false)
	if _, err := f.book.LeaveWaitlist(ctx, bari, leaver.Entry.ID, "wrong"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("leave with a wrong token: %v, want ErrBadToken", err)
	}
	if _, err := f.book.LeaveWaitlist(ctx, bari, leaver.Entry.ID, leaver.Token); err != nil {
		t.Fatal(err)
	}
	if e := f.entry(t, leaver); e.Status != WaitLeft {
		t.Fatalf("after leaving: %s", e.Status)
	}
	if _, err := f.book.Cancel(ctx, bari, holder.Booking.Code, holder.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if e := f.entry(t, only); e.Status != WaitOffered {
		t.Fatalf("the one left in line: %s, want offered", e.Status)
	}
	// An accept after the expiry, before the worker passed: refused.
	f.clock.Advance(DefaultOfferHold)
	if _, err := f.book.AcceptOffer(ctx, bari, only.Entry.ID, only.Token, Acceptance{FiscalCode: testFiscalCode(202), Channel: InPerson, PrivacyAccepted: true}, "https://bari.example.it"); !errors.Is(err, ErrOfferExpired) {
		t.Fatalf("accept at the expiry: %v, want ErrOfferExpired", err)
	}
	if n := f.tick(t); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	// Nobody left: the seat is anyone's again.
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, slot, 5), "https://bari.example.it"); err != nil {
		t.Fatalf("booking the freed seat: %v", err)
	}
	// Entries that left the line are forgotten a month later: the one
	// who left at the start first, the one whose offer lapsed two hours
	// later next.
	waiting := f.join(t, 3, false)
	f.clock.Advance(waitlistKeep - time.Hour)
	f.tick(t)
	if _, err := f.book.WaitEntry(ctx, bari.ID, leaver.Entry.ID, leaver.Token); !errors.Is(err, ErrNotFound) {
		t.Errorf("an entry closed a month ago: %v, want ErrNotFound", err)
	}
	if _, err := f.book.WaitEntry(ctx, bari.ID, only.Entry.ID, only.Token); err != nil {
		t.Errorf("an entry closed less than a month ago: %v", err)
	}
	f.clock.Advance(2 * time.Hour)
	f.tick(t)
	if _, err := f.book.WaitEntry(ctx, bari.ID, only.Entry.ID, only.Token); !errors.Is(err, ErrNotFound) {
		t.Errorf("an entry closed a month ago: %v, want ErrNotFound", err)
	}
	if e := f.entry(t, waiting); e.Status != WaitWaiting {
		t.Errorf("an entry still in line after the prune: %s", e.Status)
	}
}

func TestWaitlistCapsPerEmail(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	ctx := context.Background()
	req := WaitRequest{ServiceID: f.svc.ID, Citizen: Citizen{GivenName: "Anna", FamilyName: "Bianchi", Email: "anna@example.it"}, PrivacyAccepted: true}
	if _, err := f.book.JoinWaitlist(ctx, bari, req, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	req.Citizen.Email = "ANNA@example.it"
	var ve *ValidationError
	if _, err := f.book.JoinWaitlist(ctx, bari, req, "https://bari.example.it"); !errors.As(err, &ve) || ve.Fields["citizen.email"] == "" {
		t.Fatalf("second entry of one address in one list: %v, want a field error", err)
	}
	for i := range MaxWaitPerEmail - 1 {
		svc := f.svc
		svc.ID = ""
		svc.Name = fmt.Sprintf("Servizio %d", i)
		s, err := f.book.SaveService(ctx, bari.ID, svc)
		if err != nil {
			t.Fatal(err)
		}
		req.ServiceID = s.ID
		if _, err := f.book.JoinWaitlist(ctx, bari, req, "https://bari.example.it"); err != nil {
			t.Fatal(err)
		}
	}
	svc := f.svc
	svc.ID, svc.Name = "", "Servizio in più"
	s, err := f.book.SaveService(ctx, bari.ID, svc)
	if err != nil {
		t.Fatal(err)
	}
	req.ServiceID = s.ID
	if _, err := f.book.JoinWaitlist(ctx, bari, req, "https://bari.example.it"); !errors.Is(err, ErrWaitCap) {
		t.Fatalf("one list too many: %v, want ErrWaitCap", err)
	}
	// Bad input changes nothing.
	bad := WaitRequest{ServiceID: f.svc.ID, Citizen: Citizen{GivenName: "X", FamilyName: "Y", Email: "no", FiscalCode: "ABC"}}
	if _, err := f.book.JoinWaitlist(ctx, bari, bad, "https://bari.example.it"); !errors.As(err, &ve) || ve.Fields["citizen.email"] == "" || ve.Fields["citizen.fiscal_code"] == "" {
		t.Fatalf("bad input: %v", err)
	}
	// The citizen's access request finds their entries, and nobody else's.
	if _, err := f.book.JoinWaitlist(ctx, bari, WaitRequest{ServiceID: f.svc.ID, PrivacyAccepted: true,
		Citizen: Citizen{GivenName: "Altro", FamilyName: "Cittadino", Email: "altro@example.it"}}, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	mine, err := f.book.CitizenWaitlist(ctx, bari.ID, "", " Anna@Example.it ")
	if err != nil || len(mine) != MaxWaitPerEmail {
		t.Fatalf("CitizenWaitlist: %d entries, %v; want %d", len(mine), err, MaxWaitPerEmail)
	}
	for _, e := range mine {
		if !strings.EqualFold(e.Citizen.Email, "anna@example.it") {
			t.Errorf("someone else's entry: %s", e.Citizen.Email)
		}
	}
}

// TestWaitlistHearsReleases offers a seat the fair-access worker
// released (ReleaseListener), which apply did not see freed.
func TestWaitlistHearsReleases(t *testing.T) {
	t.Parallel()
	f := newWaitFixture(t)
	slot := f.at(2026, 3, 11, 10, 0)
	j := f.join(t, 1, false)
	var l ReleaseListener = f.worker
	l.OnRelease(context.Background(), bari.ID, f.svc.ID, slot)
	if e := f.entry(t, j); e.Status != WaitOffered || e.Offer == nil || !e.Offer.Start.Equal(slot) {
		t.Fatalf("after a release: %s %+v, want offered", e.Status, e.Offer)
	}
	// A second release of the same seat while it is held offers nothing
	// more: the seat is taken by the hold.
	k := f.join(t, 2, false)
	l.OnRelease(context.Background(), bari.ID, f.svc.ID, slot)
	if e := f.entry(t, k); e.Status != WaitWaiting {
		t.Errorf("second in line after a repeated release: %s, want waiting", e.Status)
	}
}
