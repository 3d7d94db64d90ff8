package queue

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// confirmLink is the base the tests give as TakeRequest.ConfirmLink.
const confirmLink = "https://bari.example.it/coda/conferma/"

// linkRE finds the confirmation link in an email's text.
var linkRE = regexp.MustCompile(`https://bari\.example\.it/coda/conferma/[0-9a-f]+\?c=[A-Za-z0-9_-]+`)

// confirmToken reads the ticket and token of the link in e.
func confirmToken(t *testing.T, e sentEmail) (id, token string) {
	t.Helper()
	m := linkRE.FindString(e.text)
	if m == "" {
		t.Fatalf("no confirmation link in the email:\n%s", e.text)
	}
	u, err := url.Parse(m)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/coda/conferma/"), u.Query().Get("c")
}

// TestConfirmByEmail follows remote tickets of an office that confirms
// by email: refused without an address, pending (no number, not in the
// line) until the link of a real email is opened, then in the line at
// the time of the confirmation; an expired link drops the ticket; the
// kiosk is not asked; the citizen may leave before confirming.
func TestConfirmByEmail(t *testing.T) {
	t.Parallel()
	f, srv := newMailFixture(t)
	ctx := context.Background()
	f.admitConfig(t, func(c *OfficeConfig) { c.ConfirmEmail, c.ConfirmWithin = true, 10*time.Minute })
	f.clock.Set(at(9, 0))
	first := f.take(t, TakeRequest{Source: SourceKiosk, ClientIP: "10.0.0.9"})
	if first.Ticket.Number != "A001" || first.Ticket.State != Waiting {
		t.Fatalf("kiosk ticket: %s %s, want A001 waiting (the kiosk is not asked to confirm)", first.Ticket.Number, first.Ticket.State)
	}
	if err := f.takeErr(TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.1", ConfirmLink: confirmLink}); !isField(err, "email") {
		t.Fatalf("web take without email: got %v, want a field error on email", err)
	}
	p := f.take(t, TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.1", Email: "anna@example.it", Lang: "en", ConfirmLink: confirmLink})
	if p.Ticket.State != PendingConfirmation || p.Ticket.Number != "" || !p.Ticket.ConfirmBy.Equal(at(9, 10)) {
		t.Fatalf("pending take: %+v", p.Ticket)
	}
	got, err := f.q.TicketWithSecret(ctx, bari.ID, p.Ticket.ID, p.Secret)
	if err != nil || got.State != PendingConfirmation {
		t.Fatalf("pending ticket read back: %+v, %v", got, err)
	}
	if st, err := f.q.Status(ctx, bari.ID, p.Ticket.ID); err != nil || st.Position != 0 {
		t.Fatalf("status of a pending ticket: %+v, %v", st, err)
	}
	f.clock.Set(at(9, 2))
	second := f.take(t, TakeRequest{})
	if second.Ticket.Number != "A002" {
		t.Fatalf("next take numbered %s, want A002: a pending ticket has no number", second.Ticket.Number)
	}
	e := decodeEmail(t, srv.Wait(t, 1, 20*time.Second)[0])
	if e.to != "anna@example.it" || e.lang != "en" || !strings.Contains(e.subject, "Confirm your number for the Anagrafe office") ||
		!strings.Contains(e.text, "valid until 09:10") {
		t.Errorf("confirmation email: %+v", e)
	}
	id, token := confirmToken(t, e)
	if id != p.Ticket.ID {
		t.Fatalf("link names ticket %s, want %s", id, p.Ticket.ID)
	}
	if _, err := f.q.Confirm(ctx, bari, id, token+"x"); !errors.Is(err, ErrBadSecret) {
		t.Errorf("confirm with another token: got %v, want ErrBadSecret", err)
	}
	f.clock.Set(at(9, 5))
	c, err := f.q.Confirm(ctx, bari, id, token)
	if err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if c.Ticket.Number != "A003" || c.Ticket.State != Waiting || !c.Ticket.Taken.Equal(at(9, 5)) || c.Status.Position != 2 {
		t.Errorf("confirmed ticket: %s %s taken %s position %d, want A003 waiting taken 09:05 behind 2",
			c.Ticket.Number, c.Ticket.State, c.Ticket.Taken, c.Status.Position)
	}
	if _, err := f.q.Confirm(ctx, bari, id, token); !errors.Is(err, ErrAlreadyConfirmed) {
		t.Errorf("second confirmation: got %v, want ErrAlreadyConfirmed", err)
	}
	if k, err := f.q.TicketWithSecret(ctx, bari.ID, id, p.Secret); err != nil || k.Number != "A003" {
		t.Errorf("the take's secret after the confirmation: %+v, %v", k, err)
	}

	// An expired link drops the ticket.
	late := f.take(t, TakeRequest{Source: SourceAPI, ClientIP: "192.0.2.2", Email: "bruno@example.it", ConfirmLink: confirmLink})
	var lateToken string
	for _, m := range srv.Wait(t, 2, 20*time.Second) {
		if e := decodeEmail(t, m); e.to == "bruno@example.it" {
			_, lateToken = confirmToken(t, e)
		}
	}
	f.clock.Set(at(9, 15))
	if _, err := f.q.Confirm(ctx, bari, late.Ticket.ID, lateToken); !errors.Is(err, ErrConfirmExpired) {
		t.Errorf("confirm after 10 minutes: got %v, want ErrConfirmExpired", err)
	}
	if _, err := f.q.TicketWithSecret(ctx, bari.ID, late.Ticket.ID, late.Secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired pending ticket read back: got %v, want ErrNotFound", err)
	}
	f.take(t, TakeRequest{}) // any take of the office sweeps it
	var n int
	if err := f.node.DB().QueryRow(`SELECT count(*) FROM queue_pending WHERE tenant = ?`, bari.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("pending rows after the sweep: %d (%v), want 0", n, err)
	}

	// Leaving before confirming.
	gone := f.take(t, TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.3", Email: "carla@example.it", ConfirmLink: confirmLink})
	k, err := f.q.Cancel(ctx, bari.ID, gone.Ticket.ID, gone.Secret)
	if err != nil || k.State != Cancelled {
		t.Fatalf("cancel a pending ticket: %+v, %v", k, err)
	}
	line, err := f.q.Line(ctx, bari, f.office.ID)
	if err != nil {
		t.Fatal(err)
	}
	var numbers []string
	for _, k := range line {
		numbers = append(numbers, k.Number)
	}
	if strings.Join(numbers, ",") != "A001,A002,A003,A004" {
		t.Errorf("line %v, want A001–A004: pending tickets are not in it", numbers)
	}
}

// TestPendingCountsAgainstCaps: a ticket waiting for its confirmation
// holds its place in the caps, or a script could have the office send
// emails without end; once it expires it no longer counts.
func TestPendingCountsAgainstCaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.admitConfig(t, func(c *OfficeConfig) { c.ConfirmEmail, c.MaxPerIP, c.DailyCap = true, 1, 2 })
	f.clock.Set(at(9, 0))
	req := TakeRequest{Source: SourceWeb, ClientIP: "192.0.2.1", Email: "a@example.it", ConfirmLink: confirmLink}
	f.take(t, req)
	if err := f.takeErr(req); !errors.Is(err, ErrClientCap) {
		t.Errorf("second pending take from one address: got %v, want ErrClientCap", err)
	}
	req.ClientIP = "192.0.2.2"
	f.take(t, req)
	req.ClientIP = "192.0.2.3"
	if err := f.takeErr(req); !errors.Is(err, ErrDailyCap) {
		t.Errorf("third pending take with a cap of two: got %v, want ErrDailyCap", err)
	}
	f.clock.Set(at(9, 16))
	if err := f.takeErr(req); err != nil {
		t.Errorf("take after the pending ones expired: %v", err)
	}
}

// TestConfigureConfirmSettings: the settings round-trip and are checked.
func TestConfigureConfirmSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.admitConfig(t, func(c *OfficeConfig) { c.ConfirmEmail, c.ConfirmWithin, c.KioskOnly = true, 30*time.Minute, true })
	c, err := f.q.Config(context.Background(), bari.ID, f.office.ID)
	if err != nil || !c.ConfirmEmail || c.ConfirmWithin != 30*time.Minute || !c.KioskOnly {
		t.Fatalf("config read back: %+v, %v", c, err)
	}
	c.ConfirmWithin = time.Minute
	if err := f.q.Configure(context.Background(), bari.ID, c); !isField(err, "confirm_within") {
		t.Errorf("one minute to confirm: got %v, want a field error", err)
	}
	if d := defaultConfig("x"); d.ConfirmEmail || d.KioskOnly || d.ConfirmWithin != DefaultConfirmWithin {
		t.Errorf("defaults: %+v, want both off", d)
	}
}
