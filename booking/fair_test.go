package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// fairCluster is a three-node cluster with an office open every weekday
// 08:30–12:30 and a one-desk service; books[i] proposes through node i.
type fairCluster struct {
	nodes []*cluster.Node
	books []*Book
	svc   Service
	// day is a weekday at least three days ahead.
	day time.Time
}

func newFairCluster(t *testing.T, fair FairSettings) *fairCluster {
	t.Helper()
	c := &fairCluster{nodes: clustertest.Cluster(t, 3, Register)}
	for _, n := range c.nodes {
		c.books = append(c.books, NewBook(n, n.DB(), time.Now, rand.Reader))
	}
	ctx := context.Background()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	office, err := c.books[0].SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	c.svc, err = c.books[0].SaveService(ctx, bari.ID, Service{
		OfficeID: office.ID, Name: "Carta d'identità", Duration: 30 * time.Minute, Channels: []Channel{InPerson},
		Capacity: 1, MinNotice: 2 * time.Hour, HorizonDays: 60, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	idx, err := c.books[0].SaveFairSettings(ctx, bari.ID, c.svc.ID, fair)
	if err != nil {
		t.Fatalf("SaveFairSettings: %v", err)
	}
	for _, n := range c.nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	loc := bari.Location()
	// Not a weekend, a national holiday or the patron day: the office is
	// closed then.
	day := time.Now().In(loc).AddDate(0, 0, 3)
	for closed, _ := bari.ClosedOn(civil.DateOf(day)); closed || day.Weekday() == time.Saturday || day.Weekday() == time.Sunday; closed, _ = bari.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	c.day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	return c
}

// slot returns the n-th slot of the cluster's day (08:30 + n × 30 min).
func (c *fairCluster) slot(n int) time.Time {
	return c.day.Add(8*time.Hour + 30*time.Minute + time.Duration(n)*30*time.Minute)
}

// create books through b, trying again while the cluster has no leader:
// on a loaded machine an election may happen mid-test, and a refused
// proposal changed nothing.
func create(ctx context.Context, b *Book, req Request) (Created, error) {
	for i := 0; ; i++ {
		c, err := b.Create(ctx, bari, req, "https://bari.example.it")
		if i < 50 && (errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrNotLeader)) {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return c, err
	}
}

func fairRequest(svc string, start time.Time, citizen int, email, phone string) Request {
	return Request{
		ServiceID: svc, Start: start, Channel: InPerson, PrivacyAccepted: true,
		Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(citizen), Email: email, Phone: phone},
	}
}

// TestFairCapsAcrossNodes: with one active booking per email and per
// phone, requests with the same email (or the same phone, written
// differently) and different codici fiscali race through two nodes for
// different slots; apply admits exactly one of each race.
func TestFairCapsAcrossNodes(t *testing.T) {
	t.Parallel()
	c := newFairCluster(t, FairSettings{MaxActivePerEmail: 1, MaxActivePerPhone: 1})
	ctx := context.Background()
	race := func(name string, reqs [2]Request, want error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = create(ctx, c.books[i+1], reqs[i])
			}()
		}
		wg.Wait()
		ok, capped := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, want):
				capped++
			default:
				t.Errorf("%s: unexpected error %v", name, err)
			}
		}
		if ok != 1 || capped != 1 {
			t.Errorf("%s: %d booked and %d capped, want 1 and 1 (errors %v)", name, ok, capped, errs)
		}
	}
	race("email", [2]Request{
		fairRequest(c.svc.ID, c.slot(0), 1, "Agenzia@example.it", ""),
		fairRequest(c.svc.ID, c.slot(1), 2, "agenzia@example.it ", ""),
	}, ErrEmailCap)
	race("phone", [2]Request{
		fairRequest(c.svc.ID, c.slot(2), 3, "a3@example.it", "+39 080 1234567"),
		fairRequest(c.svc.ID, c.slot(3), 4, "a4@example.it", "0801234567"),
	}, ErrPhoneCap)
	// Another email and phone are not capped.
	if _, err := create(ctx, c.books[0], fairRequest(c.svc.ID, c.slot(4), 5, "altro@example.it", "333 1234567")); err != nil {
		t.Errorf("another citizen with other contacts: %v", err)
	}
}

// TestFairProofOfWork: a service that asks a proof refuses a booking
// without one and a forged or wrong solution, accepts a solved
// challenge, and refuses the same solution replayed through another node.
func TestFairProofOfWork(t *testing.T) {
	t.Parallel()
	c := newFairCluster(t, FairSettings{ProofOfWork: 8})
	ctx := context.Background()
	key := []byte("a key every node derives from secrets.key")
	chA, chB := NewChallenges(key), NewChallenges(key)
	now := time.Now()

	// No proof: apply refuses, whatever node proposes.
	if _, err := create(ctx, c.books[1], fairRequest(c.svc.ID, c.slot(0), 1, "a1@example.it", "")); !errors.Is(err, ErrProofRequired) {
		t.Errorf("booking without a proof: got %v, want ErrProofRequired", err)
	}
	// Invalid: a wrong counter, a forged difficulty, an easier challenge, an expired one.
	ch := chA.Issue(bari.ID, c.svc.ID, 8, now)
	good := SolveProof(ch.Challenge, 8)
	bad := good + 1
	for LeadingZeroBits(ProofHash(ch.Challenge, bad)) >= 8 {
		bad++
	}
	if _, err := chB.Check(bari.ID, c.svc.ID, ch.Challenge, bad, 8, now); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("wrong counter: got %v, want ErrProofInvalid", err)
	}
	easy := chA.Issue(bari.ID, c.svc.ID, 2, now)
	if _, err := chB.Check(bari.ID, c.svc.ID, easy.Challenge, SolveProof(easy.Challenge, 2), 8, now); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("challenge easier than the service asks: got %v, want ErrProofInvalid", err)
	}
	if _, err := chB.Check(bari.ID, "another-service", ch.Challenge, good, 8, now); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("challenge of another service: got %v, want ErrProofInvalid", err)
	}
	if _, err := chB.Check(bari.ID, c.svc.ID, ch.Challenge, good, 8, now.Add(ChallengeTTL)); !errors.Is(err, ErrProofExpired) {
		t.Errorf("expired challenge: got %v, want ErrProofExpired", err)
	}
	if _, err := NewChallenges([]byte("another key")).Check(bari.ID, c.svc.ID, ch.Challenge, good, 8, now); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("challenge under another key: got %v, want ErrProofInvalid", err)
	}
	// Valid, checked on node 2 (another key object, same key), booked there.
	adm, err := chB.Check(bari.ID, c.svc.ID, ch.Challenge, good, 8, now)
	if err != nil {
		t.Fatalf("solved challenge: %v", err)
	}
	req := fairRequest(c.svc.ID, c.slot(1), 2, "a2@example.it", "")
	req.Admission = adm
	if _, err := create(ctx, c.books[1], req); err != nil {
		t.Fatalf("booking with a solved challenge: %v", err)
	}
	// The same solution replayed through node 3: the replicated set refuses it.
	replay := fairRequest(c.svc.ID, c.slot(2), 3, "a3@example.it", "")
	replay.Admission = adm
	if _, err := create(ctx, c.books[2], replay); !errors.Is(err, ErrProofReused) {
		t.Errorf("replayed solution on another node: got %v, want ErrProofReused", err)
	}
	if got := countActive(t, c.nodes[2], c.svc.ID); got != 1 {
		t.Errorf("active bookings after the replay: %d, want 1", got)
	}
}

func countActive(t *testing.T, n *cluster.Node, svc string) int {
	t.Helper()
	var k int
	if err := n.DB().QueryRow(`SELECT count(*) FROM booking_bookings WHERE tenant = ? AND service_id = ? AND status = 'active'`, bari.ID, svc).Scan(&k); err != nil {
		t.Fatal(err)
	}
	return k
}

// releases records the listener's calls.
type releases struct {
	mu  sync.Mutex
	got []string
}

func (r *releases) OnRelease(_ context.Context, t tenant.ID, serviceID string, start time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s/%s/%s", t, serviceID, start.UTC().Format(time.RFC3339)))
}

// TestFairConfirmToKeep: with confirmation open from 72 h to 24 h before,
// an appointment confirmed in the window stays and an unconfirmed one is
// released by the worker at the deadline (not before), its slot becomes
// free, the citizen is told why and the waiting-list hook hears of it.
func TestFairConfirmToKeep(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	if _, err := f.book.SaveFairSettings(ctx, bari.ID, f.svc.ID, FairSettings{ConfirmFrom: 72 * time.Hour, ConfirmBy: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	// Monday 9 March 10:00; the appointments are on Friday 13 at 10:00.
	start := f.at(2026, 3, 13, 10, 0)
	kept, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	lost, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 2), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.Confirm(ctx, bari.ID, kept.Booking.Code, kept.ManageToken); !errors.Is(err, ErrConfirmNotOpen) {
		t.Errorf("confirm before the window: got %v, want ErrConfirmNotOpen", err)
	}
	if _, err := f.book.Confirm(ctx, bari.ID, kept.Booking.Code, lost.ManageToken); !errors.Is(err, ErrBadToken) {
		t.Errorf("confirm with another booking's token: got %v, want ErrBadToken", err)
	}
	heard := &releases{}
	w := &FairWorker{Book: f.book, Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil },
		BaseURL: func(tenant.Tenant) string { return "https://bari.example.it" }, Listener: heard}

	f.clock.Set(start.Add(-60 * time.Hour)) // Tuesday 22:00: the window is open.
	if _, err := f.book.Confirm(ctx, bari.ID, kept.Booking.Code, kept.ManageToken); err != nil {
		t.Fatalf("confirm in the window: %v", err)
	}
	if c, err := f.book.Confirmation(ctx, bari.ID, kept.Booking); err != nil || !c.Required || !c.Confirmed {
		t.Errorf("confirmation of the kept booking: %+v, %v", c, err)
	}
	if n, err := w.Tick(ctx); err != nil || n != 0 {
		t.Errorf("worker before the deadline: released %d, %v; want 0", n, err)
	}
	f.clock.Set(start.Add(-24*time.Hour - time.Minute))
	if n, _ := w.Tick(ctx); n != 0 {
		t.Errorf("worker a minute before the deadline released %d", n)
	}
	// A booking made now, inside the window, is a sign of life already.
	third, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 13, 10, 30), 3), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := f.book.Confirmation(ctx, bari.ID, third.Booking); c.Required {
		t.Errorf("a booking made inside the window requires confirmation: %+v", c)
	}
	f.clock.Set(start.Add(-24 * time.Hour))
	n, err := w.Tick(ctx)
	if err != nil || n != 1 {
		t.Errorf("worker at the deadline: released %d, %v; want 1 (the unconfirmed one)", n, err)
	}
	for _, b := range []Created{kept, third} {
		if got, err := f.book.Get(ctx, bari.ID, b.Booking.Code, b.ManageToken); err != nil || got.Status != Active {
			t.Errorf("booking %s after the deadline: %v, %v; want active", b.Booking.Code, got.Status, err)
		}
	}
	if len(heard.got) != 1 {
		t.Errorf("listener heard %v, want one release", heard.got)
	}
}

// TestFairReleaseUnconfirmed: an appointment nobody confirms is released
// by the worker at its deadline, once.
func TestFairReleaseUnconfirmed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	if _, err := f.book.SaveFairSettings(ctx, bari.ID, f.svc.ID, FairSettings{ConfirmFrom: 72 * time.Hour, ConfirmBy: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	start := f.at(2026, 3, 13, 10, 0)
	kept, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	lost, err := f.book.Create(ctx, bari, f.request(f.svc.ID, start, 2), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	heard := &releases{}
	w := &FairWorker{Book: f.book, Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil },
		BaseURL: func(tenant.Tenant) string { return "https://bari.example.it" }, Listener: heard}
	f.clock.Set(start.Add(-48 * time.Hour))
	if _, err := f.book.Confirm(ctx, bari.ID, kept.Booking.Code, kept.ManageToken); err != nil {
		t.Fatal(err)
	}
	// The window is open: the worker reminds the one not confirmed, once.
	for range 2 {
		if _, err := w.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	confirms, reminders := 0, 0
	for _, n := range f.outbox(t) {
		switch {
		case n.Kind == NoticeConfirm && strings.Contains(n.ConfirmURL, "/conferma?token=") && n.ConfirmBy.Equal(start.Add(-24*time.Hour)):
			confirms++
		case n.Kind == NoticeReminder && n.Booking.ID == lost.Booking.ID && n.ConfirmURL == "https://bari.example.it"+ManagePath(lost.Booking.Code, lost.ManageToken)[:len("/prenotazioni/")+len(lost.Booking.Code)]+"/conferma?token="+lost.ManageToken:
			reminders++
			if _, _, _, err := ComposeEmail(n, f.clock.Now()); err != nil {
				t.Errorf("confirm reminder email: %v", err)
			}
			if txt := emailText(newEmailView(n, f.loc)); !strings.Contains(txt, "Per tenere l'appuntamento devi confermarlo tra") ||
				!strings.Contains(txt, n.ConfirmURL) {
				t.Errorf("confirm reminder email text:\n%s", txt)
			}
		case n.Kind == NoticeReminder:
			t.Errorf("unexpected reminder %+v", n)
		}
	}
	if confirms != 2 || reminders != 1 {
		t.Errorf("confirmation emails with the confirm link: %d, want 2; confirm reminders: %d, want 1", confirms, reminders)
	}
	day := civil.DateOf(start.In(f.loc))
	slots, _ := f.book.Slots(ctx, bari, f.svc.ID, day, day)
	if r := remainingAt(slots, start); r != 0 {
		t.Fatalf("slot before the release: %d free, want 0", r)
	}
	f.clock.Set(start.Add(-24*time.Hour + time.Second))
	if _, err := f.book.Confirm(ctx, bari.ID, lost.Booking.Code, lost.ManageToken); !errors.Is(err, ErrConfirmClosed) {
		t.Errorf("confirm after the deadline: got %v, want ErrConfirmClosed", err)
	}
	n, err := w.Tick(ctx)
	if err != nil || n != 1 {
		t.Fatalf("worker after the deadline: released %d, %v; want 1", n, err)
	}
	if n, _ := w.Tick(ctx); n != 0 {
		t.Errorf("second scan released %d more", n)
	}
	want := fmt.Sprintf("bari/%s/%s", f.svc.ID, start.UTC().Format(time.RFC3339))
	if len(heard.got) != 1 || heard.got[0] != want {
		t.Errorf("listener heard %v, want [%s]", heard.got, want)
	}
	if _, err := f.book.Get(ctx, bari.ID, kept.Booking.Code, kept.ManageToken); err != nil {
		t.Errorf("confirmed booking: %v", err)
	}
	got, err := f.book.Get(ctx, bari.ID, lost.Booking.Code, lost.ManageToken)
	if err != nil || got.Status != Cancelled {
		t.Errorf("unconfirmed booking after the deadline: %+v, %v; want cancelled", got.Status, err)
	}
	slots, _ = f.book.Slots(ctx, bari, f.svc.ID, day, day)
	if r := remainingAt(slots, start); r != 1 {
		t.Errorf("slot after the release: %d free, want 1", r)
	}
	found := false
	for _, n := range f.outbox(t) {
		if n.Kind == NoticeCancel && n.Booking.ID == lost.Booking.ID && n.Reason == ReleaseNotice {
			found = true
		}
	}
	if !found {
		t.Error("no cancellation email telling the citizen why")
	}
}

func remainingAt(slots []Slot, start time.Time) int {
	for _, s := range slots {
		if s.Start.Equal(start) {
			return s.Remaining
		}
	}
	return -1
}

// TestFairStaggeredRelease: with the days 7 days ahead published at
// 08:00, Slots and booking.create agree on what is released, and both
// follow the clock.
func TestFairStaggeredRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	if _, err := f.book.SaveFairSettings(ctx, bari.ID, f.svc.ID, FairSettings{ReleaseDaysAhead: 7, ReleaseAt: hm(8, 0)}); err != nil {
		t.Fatal(err)
	}
	// Monday 9 March 10:00: released up to Monday 16 (9 + 7, published
	// today at 08:00); Tuesday 17 is published tomorrow at 08:00.
	days := func() map[civil.Date]bool {
		slots, err := f.book.Slots(ctx, bari, f.svc.ID, date(2026, 3, 9), date(2026, 3, 31))
		if err != nil {
			t.Fatal(err)
		}
		m := map[civil.Date]bool{}
		for _, s := range slots {
			m[civil.DateOf(s.Start.In(f.loc))] = true
		}
		return m
	}
	d := days()
	if !d[date(2026, 3, 16)] || d[date(2026, 3, 17)] {
		t.Errorf("Monday 10:00: days listed %v; want up to the 16th, not the 17th", d)
	}
	tue := f.at(2026, 3, 17, 9, 0)
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, tue, 1), "https://bari.example.it"); !errors.Is(err, ErrNotReleased) {
		t.Errorf("booking a slot not yet released: got %v, want ErrNotReleased", err)
	}
	f.clock.Set(f.at(2026, 3, 10, 7, 59))
	if _, err := f.book.Create(ctx, bari, f.request(f.svc.ID, tue, 1), "https://bari.example.it"); !errors.Is(err, ErrNotReleased) {
		t.Errorf("a minute before the release: got %v, want ErrNotReleased", err)
	}
	f.clock.Set(f.at(2026, 3, 10, 8, 0))
	if d := days(); !d[date(2026, 3, 17)] || d[date(2026, 3, 18)] {
		t.Errorf("Tuesday 08:00: days listed %v; want up to the 17th", d)
	}
	b, err := f.book.Create(ctx, bari, f.request(f.svc.ID, tue, 1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("booking at the release: %v", err)
	}
	// A move into a day not yet released is refused too.
	if _, err := f.book.Move(ctx, bari, b.Booking.Code, b.ManageToken, f.at(2026, 3, 20, 9, 0), "https://bari.example.it"); !errors.Is(err, ErrNotReleased) {
		t.Errorf("move to a day not released: got %v, want ErrNotReleased", err)
	}
}

// TestFairReport: the report lists an email behind three codici fiscali,
// a burst from one network, and a name that does not give its codice
// fiscale; nothing of another Comune.
func TestFairReport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	ch := NewChallenges([]byte("k"))
	net := ch.NetHash(bari.ID, "203.0.113.7")
	if net == "" || net != ch.NetHash(bari.ID, "203.0.113.200") || net == ch.NetHash(bari.ID, "203.0.114.7") || net == ch.NetHash("altro", "203.0.113.7") {
		t.Fatalf("network hash: /24 not grouped, or not keyed per Comune")
	}
	if ch.NetHash(bari.ID, "2001:db8:1:2::1") != ch.NetHash(bari.ID, "2001:db8:1:ffff::9") {
		t.Error("network hash: /48 not grouped")
	}
	for i := range 6 {
		req := f.request(f.svc.ID, f.at(2026, 3, 16+i/2, 9, 0), 10+i)
		if i < 3 {
			req.Citizen.Email = "agenzia@example.it"
		}
		if i == 5 {
			req.Citizen.GivenName, req.Citizen.FamilyName = "Giuseppe", "Verdi"
		}
		req.Admission = Admission{Net: net}
		if _, err := f.book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
			t.Fatalf("booking %d: %v", i, err)
		}
	}
	r, err := f.book.FairReport(ctx, bari.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Shared) != 1 || r.Shared[0].Value != "agenzia@example.it" || r.Shared[0].FiscalCodes != 3 {
		t.Errorf("shared contacts: %+v", r.Shared)
	}
	if len(r.Bursts) != 1 || r.Bursts[0].Bookings != 6 {
		t.Errorf("bursts: %+v", r.Bursts)
	}
	if len(r.Mismatch) != 1 || r.Mismatch[0].FamilyName != "Verdi" {
		t.Errorf("name mismatches: %+v", r.Mismatch)
	}
	other, err := f.book.FairReport(ctx, "altro")
	if err != nil || len(other.Shared)+len(other.Bursts)+len(other.Mismatch) != 0 {
		t.Errorf("another Comune's report: %+v, %v", other, err)
	}
	// The network hashes are forgotten after their 30 days, by the
	// worker's hourly prune even when nobody books.
	nets := func() int {
		var n int
		if err := f.node.DB().QueryRow(`SELECT count(*) FROM booking_fair_contacts WHERE tenant = ? AND net <> ''`, bari.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	w := &FairWorker{Book: f.book, Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }}
	f.clock.Advance(29 * 24 * time.Hour)
	if _, err := w.Tick(ctx); err != nil || nets() != 6 {
		t.Errorf("after 29 days: %d network hashes (%v), want 6", nets(), err)
	}
	f.clock.Advance(2 * 24 * time.Hour)
	if _, err := w.Tick(ctx); err != nil || nets() != 0 {
		t.Errorf("after 31 days: %d network hashes (%v), want 0", nets(), err)
	}
}

func TestNamesMatchFiscalCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		given, family, fc string
		want              bool
	}{
		{"Maria", "Rossi", testFiscalCode(1), true},
		{"Mario", "Rossi", "RSSMRA80A01H501U", true},
		{"Gianfranco", "De Luca", "DLCGFR80A01H501X", true}, // 4+ consonants: 1st, 3rd, 4th
		{"Niccolò", "D'Angelo", "DNGNCL80A01H501X", true},
		{"Lu", "Fo", "FOXLUX80A01H501X", true},
		{"Giuseppe", "Verdi", testFiscalCode(1), false},
	} {
		if got := NamesMatchFiscalCode(tc.given, tc.family, tc.fc); got != tc.want {
			t.Errorf("%s %s / %s: got %v, want %v (%s%s)", tc.given, tc.family, tc.fc, got, tc.want, fiscalPart(tc.family, false), fiscalPart(tc.given, true))
		}
	}
}

// clockCluster is a three-node cluster whose nodes share an injected
// clock, so that cmd.Time (the leader's) follows the test.
func clockCluster(t *testing.T, clk *clustertest.Clock) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, 3)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{NodeID: id, Identity: clustertest.Identity(t, ca, id), Join: i > 0,
			HeartbeatTimeout: 300 * time.Millisecond, Now: clk.Now}, Register)
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(nodes))
	for _, n := range nodes[1:] {
		go func() { errs <- n.Start(ctx) }()
	}
	for _, n := range nodes[1:] {
		for n.RaftAddr() == "" && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, n.Config().NodeID, n.RaftAddr()); err != nil {
			t.Fatalf("add %s: %v", n.Config().NodeID, err)
		}
	}
	for range nodes[1:] {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// TestFairAcrossNodesWithAClock: on three nodes sharing an injected
// clock, staggered release and confirm-to-keep hold whichever node
// proposes: a follower cannot book a day the leader's clock has not yet
// published, and the unconfirmed booking released through a follower's
// worker frees the slot on every node.
func TestFairAcrossNodesWithAClock(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(startTime) // Monday 9 March 2026, 10:00 in Rome
	nodes := clockCluster(t, clk)
	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	book := NewBook(follower, follower.DB(), clk.Now, rand.Reader)
	ctx := context.Background()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "Carta d'identità", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, MinNotice: 2 * time.Hour, HorizonDays: 60, CancelDeadline: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.SaveFairSettings(ctx, bari.ID, svc.ID, FairSettings{ReleaseDaysAhead: 4, ReleaseAt: hm(8, 0),
		ConfirmFrom: 72 * time.Hour, ConfirmBy: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	loc := bari.Location()
	at := func(d, hh, mm int) time.Time { return time.Date(2026, 3, d, hh, mm, 0, 0, loc) }
	req := func(start time.Time, n int) Request {
		return fairRequest(svc.ID, start, n, fmt.Sprintf("c%d@example.it", n), "")
	}
	// Monday 10:00: Friday 13 is published (9 + 4), Monday 16 is not.
	if _, err := create(ctx, book, req(at(16, 9, 0), 1)); !errors.Is(err, ErrNotReleased) {
		t.Errorf("booking an unpublished day through a follower: got %v, want ErrNotReleased", err)
	}
	b, err := create(ctx, book, req(at(13, 9, 0), 2))
	if err != nil {
		t.Fatalf("booking a published day: %v", err)
	}
	// Thursday 12 at 09:00 the deadline (24 h before) has passed: a
	// follower's worker proposes, the leader's apply releases.
	clk.Set(at(12, 9, 0))
	heard := &releases{}
	w := &FairWorker{Book: book, Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }, Listener: heard}
	// The clock's jump may start an election: scan again while the
	// cluster has no leader (a refused proposal released nothing).
	released := 0
	for i := 0; i < 50; i++ {
		n, err := w.Tick(ctx)
		released += n
		if err == nil {
			break
		}
		if !errors.Is(err, cluster.ErrNoLeader) && !errors.Is(err, cluster.ErrNotLeader) {
			t.Fatalf("release through a follower: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if released != 1 || len(heard.got) != 1 {
		t.Fatalf("release through a follower: %d released, listener %v", released, heard.got)
	}
	// The clock's jump may move the leadership: wait on every node for
	// the furthest index any node has applied.
	var idx uint64
	for _, n := range nodes {
		idx = max(idx, n.AppliedIndex())
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, idx); err != nil {
			t.Fatal(err)
		}
		nb := NewBook(n, n.DB(), clk.Now, rand.Reader)
		got, err := nb.Get(ctx, bari.ID, b.Booking.Code, b.ManageToken)
		if err != nil || got.Status != Cancelled {
			t.Errorf("%s: released booking %v, %v; want cancelled", n.Config().NodeID, got.Status, err)
		}
		slots, err := nb.Slots(ctx, bari, svc.ID, civil.DateOf(at(13, 0, 0)), civil.DateOf(at(13, 0, 0)))
		if err != nil || remainingAt(slots, at(13, 9, 0)) != 1 {
			t.Errorf("%s: slot after the release: %d free (%v), want 1", n.Config().NodeID, remainingAt(slots, at(13, 9, 0)), err)
		}
	}
}

// openService saves an office open every day 8–18 and a service of five
// places a slot in it.
func openService(t *testing.T, book *Book) Service {
	t.Helper()
	ctx := context.Background()
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Via Roma 1",
		Hours: everyDay(Interval{hm(8, 0), hm(18, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 5, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestFairContactsOnlyForCaps books, on a cluster whose members know
// booking.create version 4 and on one with a member of version 3 (a
// rolling upgrade), three bookings of a service without caps, cancels
// one, then sets a cap of three bookings per email: version 4 files no
// email or phone until the cap, then fills in the email of the active
// bookings; version 3 filed both all along. Either way the cap counts the
// bookings made before it, and the report sees the same shared email.
func TestFairContactsOnlyForCaps(t *testing.T) {
	t.Parallel()
	older := func(r *cluster.Registry) { register(r, createCompactVersion) }
	type contact struct{ email, phone string }
	for _, c := range []struct {
		name   string
		reg    func(*cluster.Registry)
		before map[int]contact // the contacts filed by booking, before the cap
		after  map[int]contact
	}{
		{"new", Register,
			map[int]contact{0: {}, 1: {}, 2: {}},
			map[int]contact{0: {"anna@example.it", ""}, 1: {"anna@example.it", ""}, 2: {}}},
		{"older", older,
			map[int]contact{0: {"anna@example.it", "080123456"}, 1: {"anna@example.it", ""}, 2: {"carlo@example.it", ""}},
			map[int]contact{0: {"anna@example.it", "080123456"}, 1: {"anna@example.it", ""}, 2: {"carlo@example.it", ""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := clustertest.NewClock(startTime)
			node := twoMembers(t, clock, c.reg)
			book := NewBook(node, node.DB(), clock.Now, rand.Reader)
			ctx := context.Background()
			svc := openService(t, book)
			contacts := []Citizen{
				{GivenName: "Anna", FamilyName: "Bianchi", Email: " Anna@Example.it ", Phone: "080 123456"},
				{GivenName: "Bruno", FamilyName: "Neri", Email: "anna@example.it"},
				{GivenName: "Carlo", FamilyName: "Russo", Email: "carlo@example.it"},
			}
			var made []Created
			for i, ct := range contacts {
				ct.FiscalCode = testFiscalCode(40 + i)
				cr, err := book.Create(ctx, bari, Request{ServiceID: svc.ID, Start: time.Date(2026, 3, 16+i, 9, 0, 0, 0, time.UTC),
					Channel: InPerson, PrivacyAccepted: true, Citizen: ct}, "https://bari.example.it")
				if err != nil {
					t.Fatalf("booking %d: %v", i, err)
				}
				made = append(made, cr)
			}
			filed := func() map[int]contact {
				got := map[int]contact{}
				for i, cr := range made {
					var ct contact
					if err := node.DB().QueryRow(`SELECT email, phone FROM booking_fair_contacts WHERE tenant = ? AND booking_id = ?`,
						bari.ID, cr.Booking.ID).Scan(&ct.email, &ct.phone); err != nil {
						t.Fatalf("contacts of booking %d: %v", i, err)
					}
					got[i] = ct
				}
				return got
			}
			if got := filed(); !reflect.DeepEqual(got, c.before) {
				t.Errorf("contacts before the cap: %v, want %v", got, c.before)
			}
			// A cancelled booking is not counted: its contacts stay.
			if _, err := book.Cancel(ctx, bari, made[2].Booking.Code, made[2].ManageToken, "https://bari.example.it"); err != nil {
				t.Fatal(err)
			}
			if _, err := book.SaveFairSettings(ctx, bari.ID, svc.ID, FairSettings{MaxActivePerEmail: 3}); err != nil {
				t.Fatal(err)
			}
			if got := filed(); !reflect.DeepEqual(got, c.after) {
				t.Errorf("contacts after the cap: %v, want %v", got, c.after)
			}
			// anna@ has two active bookings: a third is taken, a fourth
			// refused; carlo@'s booking was cancelled and does not count.
			req := Request{ServiceID: svc.ID, Start: time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC), Channel: InPerson, PrivacyAccepted: true,
				Citizen: Citizen{GivenName: "Dario", FamilyName: "Verdi", FiscalCode: testFiscalCode(50), Email: "anna@example.it"}}
			if _, err := book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
				t.Errorf("third booking of anna@: %v", err)
			}
			req.Citizen.FiscalCode, req.Citizen.Email = testFiscalCode(52), "ANNA@example.it"
			if _, err := book.Create(ctx, bari, req, "https://bari.example.it"); !errors.Is(err, ErrEmailCap) {
				t.Errorf("fourth booking of anna@: %v, want %v", err, ErrEmailCap)
			}
			req.Citizen.FiscalCode, req.Citizen.Email = testFiscalCode(51), "carlo@example.it"
			if _, err := book.Create(ctx, bari, req, "https://bari.example.it"); err != nil {
				t.Errorf("carlo@ after his cancellation: %v", err)
			}
			r, err := book.FairReport(ctx, bari.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Shared) != 1 || r.Shared[0].Value != "anna@example.it" || r.Shared[0].FiscalCodes != 3 {
				t.Errorf("shared contacts: %+v", r.Shared)
			}
		})
	}
}
