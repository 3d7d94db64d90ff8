package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// admitConfig is the fixture's configuration with admission settings.
func (f *fixture) admitConfig(t *testing.T, change func(*OfficeConfig)) {
	t.Helper()
	c, err := f.q.Config(context.Background(), bari.ID, f.office.ID)
	if err != nil {
		t.Fatal(err)
	}
	change(&c)
	if err := f.q.Configure(context.Background(), bari.ID, c); err != nil {
		t.Fatalf("Configure: %v", err)
	}
}

// takeErr takes a ticket and returns only the error.
func (f *fixture) takeErr(req TakeRequest) error {
	if req.OfficeID == "" {
		req.OfficeID = f.office.ID
	}
	if req.Channel == "" {
		req.Channel = InPerson
	}
	_, err := f.q.Take(context.Background(), bari, req)
	return err
}

func TestConfigKeepsAdmissionSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// An office that was never configured has the defaults.
	other, err := f.book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Tributi", Address: "Via Roma 1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.q.Config(ctx, bari.ID, other.ID)
	if err != nil || c.MaxPerDevice != DefaultMaxPerDevice || c.MaxPerIP != DefaultMaxPerIP ||
		c.NotifyAhead != DefaultNotifyAhead || c.StopBefore != DefaultStopBefore || c.DailyCap != 0 || c.AlwaysOpen {
		t.Fatalf("defaults: got %+v (%v)", c, err)
	}
	f.admitConfig(t, func(c *OfficeConfig) {
		c.DailyCap, c.MaxPerDevice, c.MaxPerIP, c.NotifyAhead = 80, 1, 5, 2
		c.ProofOfWork, c.StopBefore, c.AlwaysOpen = 18, 30*time.Minute, true
	})
	got, err := f.q.Config(ctx, bari.ID, f.office.ID)
	if err != nil || got.DailyCap != 80 || got.MaxPerDevice != 1 || got.MaxPerIP != 5 || got.NotifyAhead != 2 ||
		got.ProofOfWork != 18 || got.StopBefore != 30*time.Minute || !got.AlwaysOpen || got.Groups[f.cert.ID] != "B" {
		t.Errorf("after Configure: got %+v (%v)", got, err)
	}
	bad := got
	bad.DailyCap, bad.MaxPerDevice, bad.MaxPerIP, bad.NotifyAhead, bad.ProofOfWork, bad.StopBefore = -1, -1, -2, 51, 25, 90*time.Second
	err = f.q.Configure(ctx, bari.ID, bad)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("bad admission settings: got %v, want a ValidationError", err)
	}
	for _, field := range []string{"daily_cap", "max_per_device", "max_per_ip", "notify_ahead", "proof_of_work", "stop_before"} {
		if ve.Fields[field] == "" {
			t.Errorf("no error for %s: %v", field, ve.Fields)
		}
	}
	if again, _ := f.q.Config(ctx, bari.ID, f.office.ID); again.DailyCap != 80 {
		t.Errorf("a refused configuration changed the office: daily cap %d", again.DailyCap)
	}
}

// TestClosedQueue drives the clock around the office's hours (Monday to
// Friday 08:30–12:30, stop 30 minutes before closing).
func TestClosedQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.admitConfig(t, func(c *OfficeConfig) { c.StopBefore = 30 * time.Minute })
	booked := f.bookAt(t, at(12, 0), "RSSMRA85T10A562S")

	f.clock.Set(at(8, 0)) // before opening
	err := f.takeErr(TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.1"})
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), at(8, 30).UTC().Format(time.RFC3339)) {
		t.Fatalf("web take at 08:00: got %v, want ErrClosed naming the 08:30 opening", err)
	}
	if st, err := f.q.OpenState(ctx, bari, f.office.ID); err != nil || st.Open || !st.Next.Equal(at(8, 30)) {
		t.Errorf("OpenState at 08:00: got %+v (%v), want closed until 08:30", st, err)
	}
	for _, s := range []Source{SourceAPI, SourceKiosk} {
		if err := f.takeErr(TakeRequest{Source: s}); !errors.Is(err, ErrClosed) {
			t.Errorf("%s take at 08:00: got %v, want ErrClosed", s, err)
		}
	}
	// An operator can add someone at any time.
	if err := f.takeErr(TakeRequest{Source: SourceDesk}); err != nil {
		t.Errorf("desk take at 08:00: %v", err)
	}

	f.clock.Set(at(8, 30))
	if err := f.takeErr(TakeRequest{Source: SourceWeb}); err != nil {
		t.Errorf("web take at 08:30: %v", err)
	}
	if st, _ := f.q.OpenState(ctx, bari, f.office.ID); !st.Open || !st.Until.Equal(at(12, 0)) {
		t.Errorf("OpenState at 08:30: got %+v, want open until 12:00", st)
	}

	f.clock.Set(at(12, 1)) // inside the last 30 minutes
	if err := f.takeErr(TakeRequest{Source: SourceKiosk}); !errors.Is(err, ErrClosed) ||
		!strings.Contains(err.Error(), time.Date(2026, 3, 10, 8, 30, 0, 0, bari.Location()).UTC().Format(time.RFC3339)) {
		t.Errorf("kiosk take at 12:01: got %v, want ErrClosed naming Tuesday 08:30", err)
	}
	// The booked citizen checks in all the same: the booking is the
	// right to the place.
	if err := f.takeErr(TakeRequest{Source: SourceKiosk, BookingCode: booked}); err != nil {
		t.Errorf("check-in at 12:01 for 12:00: %v", err)
	}

	// Always open ignores the hours.
	f.admitConfig(t, func(c *OfficeConfig) { c.AlwaysOpen = true })
	f.clock.Set(at(23, 0))
	if err := f.takeErr(TakeRequest{Source: SourceWeb}); err != nil {
		t.Errorf("always open, web take at 23:00: %v", err)
	}
	if st, _ := f.q.OpenState(ctx, bari, f.office.ID); !st.Open {
		t.Errorf("OpenState always open: got %+v", st)
	}
}

// TestClosureClosesTheQueue: a closure of the office closes its queue,
// and an extra opening on a Saturday opens it.
func TestClosureClosesTheQueue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 3, Day: 9}
	if _, err := f.book.AddClosure(ctx, bari.ID, booking.Closure{OfficeID: f.office.ID, From: today, To: today, Reason: "Inventario"}); err != nil {
		t.Fatal(err)
	}
	saturday := civil.Date{Year: 2026, Month: 3, Day: 14}
	if _, err := f.book.AddOpening(ctx, bari.ID, booking.Opening{OfficeID: f.office.ID, Date: saturday,
		Intervals: []booking.Interval{{Start: 9 * 60, End: 12 * 60}}, Reason: "Apertura straordinaria"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(at(10, 0))
	err := f.takeErr(TakeRequest{Source: SourceWeb})
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), time.Date(2026, 3, 10, 8, 30, 0, 0, bari.Location()).UTC().Format(time.RFC3339)) {
		t.Fatalf("take on a closure day: got %v, want ErrClosed naming Tuesday 08:30", err)
	}
	f.clock.Set(time.Date(2026, 3, 14, 10, 0, 0, 0, bari.Location()))
	if err := f.takeErr(TakeRequest{Source: SourceWeb}); err != nil {
		t.Errorf("take on the extra Saturday opening: %v", err)
	}
	f.clock.Set(time.Date(2026, 3, 15, 10, 0, 0, 0, bari.Location()))
	if err := f.takeErr(TakeRequest{Source: SourceWeb}); !errors.Is(err, ErrClosed) {
		t.Errorf("take on Sunday: got %v, want ErrClosed", err)
	}
}

func TestClientCaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.admitConfig(t, func(c *OfficeConfig) { c.MaxPerDevice, c.MaxPerIP = 2, 3 })
	booked := f.bookAt(t, at(10, 0), "RSSMRA85T10A562S")
	f.clock.Set(at(9, 50))
	web := func(ip, device string) TakeRequest {
		return TakeRequest{Source: SourceWeb, ClientIP: ip, Device: device}
	}
	first := f.take(t, web("192.0.2.7", "dev-1"))
	f.take(t, web("192.0.2.7", "dev-1"))
	if err := f.takeErr(web("192.0.2.7", "dev-1")); !errors.Is(err, ErrClientCap) {
		t.Fatalf("third ticket of one device: got %v, want ErrClientCap", err)
	}
	// Another device on the same address, up to the address's limit.
	f.take(t, web("192.0.2.7", "dev-2"))
	if err := f.takeErr(web("192.0.2.7", "dev-3")); !errors.Is(err, ErrClientCap) {
		t.Fatalf("fourth ticket of one address: got %v, want ErrClientCap", err)
	}
	// Other addresses and unknown devices are not held back.
	f.take(t, web("192.0.2.8", ""))
	// The desk and a check-in are exempt.
	f.take(t, TakeRequest{Source: SourceDesk, ClientIP: "192.0.2.7", Device: "dev-1"})
	f.take(t, TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.7", Device: "dev-1", BookingCode: booked})
	// Only active tickets count: once one leaves, the device may take
	// another.
	if _, err := f.q.Cancel(ctx, bari.ID, first.Ticket.ID, first.Secret); err != nil {
		t.Fatal(err)
	}
	f.take(t, web("192.0.2.7", "dev-1"))
	// The cancelled ticket's hashes are gone; the raw address is nowhere.
	var ipHash, deviceHash string
	if err := f.node.DB().QueryRowContext(ctx, `SELECT ip_hash, device_hash FROM queue_tickets WHERE tenant = ? AND id = ?`,
		bari.ID, first.Ticket.ID).Scan(&ipHash, &deviceHash); err != nil || ipHash != "" || deviceHash != "" {
		t.Errorf("cancelled ticket keeps hashes %q %q (%v)", ipHash, deviceHash, err)
	}
	if dump := clustertest.Dump(t, f.node); strings.Contains(dump, "192.0.2.7") || strings.Contains(dump, "dev-1") {
		t.Error("the raw address or device ID is stored")
	}
}

// TestDailyCapAcrossNodes takes tickets at once through the three nodes
// of a cluster against a daily cap of 5: exactly 5 are given, whichever
// node each request reached; tickets added at the desk are not counted.
func TestDailyCapAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, register)
	leader := clustertest.Leader(t, nodes...)
	qs := queuesOn(nodes)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	office, _, _ := setupOffice(t, lbook, bari.ID)
	lq := New(leader, leader.DB(), lbook, time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	desk, err := lq.Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson, Source: SourceDesk})
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig(office.ID)
	cfg.DailyCap, cfg.AlwaysOpen, cfg.MaxPerDevice, cfg.MaxPerIP = 5, true, 0, 0
	if err := lq.Configure(ctx, bari.ID, cfg); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, desk.Index+1); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range qs {
		for {
			c, err := q.Config(ctx, bari.ID, office.ID)
			if err == nil && c.DailyCap == 5 {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("a node never saw the configuration")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	const total = 12
	var wg sync.WaitGroup
	errs := make([]error, total)
	for i := range total {
		wg.Go(func() {
			for {
				_, errs[i] = qs[i%len(qs)].Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson,
					Source: SourceAPI, ClientIP: "198.51.100.1"})
				if !errors.Is(errs[i], cluster.ErrNoLeader) || ctx.Err() != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	given, capped := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			given++
		case errors.Is(err, ErrDailyCap):
			capped++
		default:
			t.Errorf("take %d: %v", i, err)
		}
	}
	if given != 5 || capped != total-5 {
		t.Errorf("got %d tickets and %d refused, want 5 and %d", given, capped, total-5)
	}
	// The desk still adds citizens past the cap.
	if _, err := qs[1].Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson, Source: SourceDesk}); err != nil {
		t.Errorf("desk take past the cap: %v", err)
	}
}

func TestNormLangAndClientHash(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "it", "de-CH": "de", "EN": "en", "fr": "it", "it_IT": "it"} {
		if got := normLang(in); got != want {
			t.Errorf("normLang(%q) = %q, want %q", in, got, want)
		}
	}
	a := clientHash("ip", "bari", "o1", "2026-03-09", "192.0.2.1")
	if a == "" || a == clientHash("ip", "bari", "o1", "2026-03-10", "192.0.2.1") ||
		a == clientHash("ip", "milano", "o1", "2026-03-09", "192.0.2.1") || clientHash("ip", "bari", "o1", "2026-03-09", "") != "" {
		t.Error("client hashes must differ by day and Comune, and be empty for an unknown client")
	}
}

// TestOldDayForgetsClients: a ticket left waiting at the end of the day
// loses its client hashes and its email at the office's first command of
// the next day.
func TestOldDayForgetsClients(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	left := f.take(t, TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.9", Device: "dev-9", Email: "luca@example.it"})
	f.clock.Set(at(9, 0).AddDate(0, 0, 1))
	f.take(t, TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.9", Device: "dev-9"})
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
		t.Fatal(err)
	}
	var ipHash string
	var rows int
	db := f.node.DB()
	if err := db.QueryRow(`SELECT ip_hash FROM queue_tickets WHERE tenant = ? AND id = ?`, bari.ID, left.Ticket.ID).Scan(&ipHash); err != nil || ipHash != "" {
		t.Errorf("yesterday's ticket keeps its address hash %q (%v)", ipHash, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM queue_notify WHERE tenant = ?`, bari.ID).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("yesterday's email is still kept: %d rows (%v)", rows, err)
	}
}

// TestProofOpensOneTicket: a solved proof-of-work challenge opens one
// ticket in the whole cluster. The second take with it is refused in
// apply even when it reaches another node (whose own cache of used
// challenges never saw it), and the refusal changes nothing; a desk
// ticket and a check-in record no proof.
func TestProofOpensOneTicket(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, register)
	leader := clustertest.Leader(t, nodes...)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	office, _, _ := setupOffice(t, lbook, bari.ID)
	lq := New(leader, leader.DB(), lbook, time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := defaultConfig(office.ID)
	cfg.AlwaysOpen, cfg.MaxPerDevice, cfg.MaxPerIP = true, 0, 0
	if err := lq.Configure(ctx, bari.ID, cfg); err != nil {
		t.Fatal(err)
	}
	web := func(proof string) TakeRequest {
		return TakeRequest{OfficeID: office.ID, Channel: InPerson, Source: SourceWeb, ClientIP: "192.0.2.9", Proof: proof}
	}
	first, err := lq.Take(ctx, bari, web("q1.challenge-a"))
	if err != nil {
		t.Fatal(err)
	}
	// A follower that has not applied the office yet would answer "not
	// found" before reaching the proof.
	waitOffice(ctx, t, queuesOn(nodes), office.ID)
	for i, n := range nodes {
		q := queueOn(n)
		err := again(ctx, func() error {
			_, err := q.Take(ctx, bari, web("q1.challenge-a"))
			return err
		})
		if !errors.Is(err, ErrProofReused) {
			t.Fatalf("node %d: reused proof gave %v, want ErrProofReused", i, err)
		}
	}
	// Another challenge opens another ticket; the desk needs none.
	second, err := lq.Take(ctx, bari, web("q1.challenge-b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lq.Take(ctx, bari, TakeRequest{OfficeID: office.ID, Channel: InPerson, Source: SourceDesk, Proof: "q1.challenge-a"}); err != nil {
		t.Fatalf("desk ticket: %v", err)
	}
	if first.Ticket.Number != "A001" || second.Ticket.Number != "A002" {
		t.Fatalf("numbers %s, %s: a refused take used a number", first.Ticket.Number, second.Ticket.Number)
	}
	var n int
	if err := leader.DB().QueryRowContext(ctx, `SELECT count(*) FROM queue_proofs WHERE tenant = ?`, bari.ID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d proofs recorded (%v), want 2", n, err)
	}
}
