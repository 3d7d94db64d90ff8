package queue_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/appio"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

var appioBari = tenant.Tenant{ID: "bari", Name: "Comune di Bari", CodePrefix: "BA", TimeZone: "Europe/Rome"}

// appioFC completes a 15-character stem with its check character.
func appioFC(t *testing.T, stem string) string {
	t.Helper()
	odd := map[rune]int{'0': 1, '1': 0, '2': 5, '3': 7, '4': 9, '5': 13, '6': 15, '7': 17, '8': 19, '9': 21,
		'A': 1, 'B': 0, 'C': 5, 'D': 7, 'E': 9, 'F': 13, 'G': 15, 'H': 17, 'I': 19, 'J': 21, 'K': 2, 'L': 4, 'M': 18,
		'N': 20, 'O': 11, 'P': 3, 'Q': 6, 'R': 8, 'S': 12, 'T': 14, 'U': 16, 'V': 10, 'W': 22, 'X': 25, 'Y': 24, 'Z': 23}
	sum := 0
	for i, r := range stem {
		switch {
		case i%2 == 0:
			sum += odd[r]
		case r >= '0' && r <= '9':
			sum += int(r - '0')
		default:
			sum += int(r - 'A')
		}
	}
	cf := stem + string(rune('A'+sum%26))
	if !booking.ValidFiscalCode(cf) {
		t.Fatalf("test fiscal code %s is not valid", cf)
	}
	return cf
}

// appioItems returns the queue's App IO items of the node's outbox.
func appioItems(t *testing.T, node *cluster.Node) []cluster.OutboxMessage {
	t.Helper()
	items, err := node.Outbox(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []cluster.OutboxMessage
	for _, it := range items {
		if it.Kind == queue.AppIOOutboxKind {
			out = append(out, it)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAppIOYourTurn follows a line through a desk with the office's App
// IO channel on (a key for the office, another for the identity-card
// service) and "manca poco" two places ahead. Only tickets linked to a
// codice fiscale get messages: Maria,
// who checked in with her booking (the service's key), and Luigi, who
// gave his codice fiscale on the ticket's page (the office's key, in
// English, his page's language); the walk-in without one gets nothing,
// and Giulia, who has no IO profile, is checked but sent nothing. Each
// citizen hears "manca poco" once and "è il tuo turno" once per
// call, the profile is checked before each message, every outbox key is
// queued once however many line commands follow, and the message's due
// date is the call plus a quarter of an hour. App IO is the local fake
// server (App IO is outside the machine); the outbox, the cluster and
// the HTTP client are real.
func TestAppIOYourTurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := appio.NewFakeServer("key-ufficio", "key-cie")
	t.Cleanup(fake.Close)
	sealer := appio.Sealer{Key: bytes.Repeat([]byte{9}, 32)}
	clock := clustertest.NewClock(time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC)) // Monday 08:00 in Rome
	node := clustertest.New(t, cluster.Config{Now: clock.Now}, booking.Register, queue.Register, queue.RegisterAppIO)
	book := booking.NewBook(node, node.DB(), clock.Now, rand.Reader)
	q := queue.New(node, node.DB(), book, clock.Now, rand.Reader)
	client := &appio.Client{BaseURL: fake.BaseURL()}
	node.HandleOutbox(queue.AppIOOutboxKind, queue.AppIODeliverer(q, client, func() appio.Sealer { return sealer }, clock.Now, clustertest.Logger(t)))
	clustertest.Start(t, node)

	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	office, err := book.SaveOffice(ctx, appioBari.ID, booking.Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	cie, err := book.SaveService(ctx, appioBari.ID, booking.Service{OfficeID: office.ID, Name: "Carta d'identità", Description: "CIE.",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 5, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Configure(ctx, appioBari.ID, queue.OfficeConfig{OfficeID: office.ID, Sample: 3, NotifyAhead: 2,
		EarlyCheckIn: 15 * time.Minute, LateCheckIn: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	maria := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: appioFC(t, "RSSMRA85T10A662"), Email: "maria@example.it"}
	luigi := appioFC(t, "BNCLGU80A01A662")
	giulia := appioFC(t, "VRDGLI90B41A662")
	fake.SetProfile(maria.FiscalCode, true)
	fake.SetProfile(luigi, true)
	cr, err := book.Create(ctx, appioBari, booking.Request{ServiceID: cie.ID, Channel: booking.InPerson, PrivacyAccepted: true,
		Start: time.Date(2026, 3, 9, 9, 0, 0, 0, appioBari.Location()), Citizen: maria}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("book: %v", err)
	}

	// The channel on: the office's key and the identity card's own. The
	// keys are stored sealed and never shown back.
	if _, err := q.SaveAppIO(ctx, appioBari, office.ID, "", "", true, false, sealer); err == nil {
		t.Error("the channel was turned on without a key")
	}
	if _, err := q.SaveAppIO(ctx, appioBari, office.ID, "", "key-ufficio", true, false, sealer); err != nil {
		t.Fatal(err)
	}
	if _, err := q.SaveAppIO(ctx, appioBari, office.ID, cie.ID, "key-cie", true, false, sealer); err != nil {
		t.Fatal(err)
	}
	if s, err := q.AppIO(ctx, appioBari.ID, office.ID, cie.ID); err != nil || !s.Enabled || !s.HasKey {
		t.Fatalf("AppIO: %+v %v", s, err)
	}
	var sealed string
	node.DB().QueryRow(`SELECT sealed_key FROM queue_appio WHERE tenant = 'bari' AND service_id = ''`).Scan(&sealed)
	if sealed == "" || strings.Contains(sealed, "key-ufficio") {
		t.Fatalf("stored key %q: want it sealed", sealed)
	}

	clock.Set(time.Date(2026, 3, 9, 8, 50, 0, 0, appioBari.Location()))
	take := func(req queue.TakeRequest) queue.Taken {
		t.Helper()
		req.OfficeID, req.Channel, req.Source = office.ID, queue.InPerson, queue.SourceDesk
		k, err := q.Take(ctx, appioBari, req)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return k
	}
	walkIn := take(queue.TakeRequest{})
	tl := take(queue.TakeRequest{})
	if err := q.SubscribeAppIO(ctx, appioBari.ID, tl.Ticket.ID, tl.Secret, strings.ToLower(luigi), "en"); err != nil {
		t.Fatalf("SubscribeAppIO: %v", err)
	}
	if err := q.SubscribeAppIO(ctx, appioBari.ID, tl.Ticket.ID, "not-the-secret", luigi, "en"); !errors.Is(err, queue.ErrBadSecret) {
		t.Errorf("subscribe with a wrong secret: %v, want ErrBadSecret", err)
	}
	var verr *queue.ValidationError
	if err := q.SubscribeAppIO(ctx, appioBari.ID, tl.Ticket.ID, tl.Secret, "RSSMRA85T10A562X", "it"); !errors.As(err, &verr) {
		t.Errorf("subscribe with a wrong codice fiscale: %v, want a field error", err)
	}
	tg := take(queue.TakeRequest{})
	if err := q.SubscribeAppIO(ctx, appioBari.ID, tg.Ticket.ID, tg.Secret, giulia, "it"); err != nil {
		t.Fatalf("SubscribeAppIO: %v", err)
	}
	tm := take(queue.TakeRequest{BookingCode: cr.Booking.Code})

	// The desk serves the whole line; Maria is called twice (a recall).
	desk := "Sportello 1"
	served := map[string]bool{}
	for range 4 {
		clock.Advance(2 * time.Minute)
		k, err := q.CallNext(ctx, appioBari, office.ID, desk, nil)
		if err != nil {
			t.Fatalf("CallNext: %v", err)
		}
		if k.ID == tm.Ticket.ID {
			clock.Advance(time.Minute)
			if _, err := q.Recall(ctx, appioBari.ID, k.ID, desk); err != nil {
				t.Fatalf("Recall: %v", err)
			}
		}
		if _, err := q.StartServing(ctx, appioBari.ID, k.ID, desk); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Served(ctx, appioBari.ID, k.ID, desk); err != nil {
			t.Fatal(err)
		}
		served[k.ID] = true
	}
	if len(served) != 4 {
		t.Fatalf("served %d tickets, want 4", len(served))
	}

	// Every item is delivered (or skipped) and none is queued twice.
	items := appioItems(t, node)
	waitFor(t, "every App IO item delivered", func() bool {
		items = appioItems(t, node)
		for _, it := range items {
			if it.Status != "sent" {
				return false
			}
		}
		return true
	})
	type got struct{ ticket, kind string }
	var seen []got
	keys := map[string]bool{}
	for _, it := range items {
		if keys[it.Key] {
			t.Errorf("outbox key %s queued twice", it.Key)
		}
		keys[it.Key] = true
		var n queue.AppIOTicketNotice
		if err := json.Unmarshal(it.Payload, &n); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, got{n.TicketID, string(n.Kind)})
		if n.TicketID == walkIn.Ticket.ID {
			t.Errorf("a ticket without a codice fiscale got App IO item %s", it.Key)
		}
	}
	t.Logf("App IO items: %v", seen)
	count := func(ticket, kind string) int {
		n := 0
		for _, s := range seen {
			if s.ticket == ticket && s.kind == kind {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		name          string
		ticket        string
		called, nearM int
	}{{"Maria", tm.Ticket.ID, 2, 1}, {"Luigi", tl.Ticket.ID, 1, 1}, {"Giulia", tg.Ticket.ID, 1, 1}} {
		if n := count(c.ticket, "called"); n != c.called {
			t.Errorf("%s: %d \"your turn\" items, want %d", c.name, n, c.called)
		}
		if n := count(c.ticket, "near"); n != c.nearM {
			t.Errorf("%s: %d \"near\" items, want %d", c.name, n, c.nearM)
		}
	}

	// What reached App IO: the profile is asked before every message;
	// Giulia (no profile) gets none.
	msgs := fake.Messages()
	calls := fake.Calls()
	if want := len(items) - count(tg.Ticket.ID, "called") - count(tg.Ticket.ID, "near"); len(msgs) != want {
		t.Fatalf("%d messages sent, want %d (calls %v)", len(msgs), want, calls)
	}
	// Deliveries of different tickets run in parallel, so the calls of
	// two messages interleave: each delivery asks the profile once, and
	// sends only after it answered (Client.Send).
	var profiles, sends int
	for _, c := range calls {
		switch c {
		case "profiles":
			profiles++
		case "messages":
			sends++
		}
		if sends > profiles {
			t.Errorf("more messages than profile checks so far: %v", calls)
			break
		}
	}
	if profiles != len(items) || sends != len(msgs) {
		t.Errorf("%d profile checks and %d messages for %d items: %v", profiles, sends, len(items), calls)
	}
	var mariaCalled, luigiCalled int
	for _, m := range msgs {
		switch m.FiscalCode {
		case maria.FiscalCode:
			if m.Key != "key-cie" {
				t.Errorf("Maria's message sent with %q, want the service's key", m.Key)
			}
			if strings.HasPrefix(m.Subject, "È il tuo turno") || strings.HasPrefix(m.Subject, "Ti stiamo chiamando di nuovo") {
				mariaCalled++
				if !strings.Contains(m.Markdown, desk) || !strings.Contains(m.Markdown, "Anagrafe") || !strings.Contains(m.Markdown, "Comune di Bari") {
					t.Errorf("Maria's call: %q", m.Markdown)
				}
				due, err := time.Parse(time.RFC3339, m.DueDate)
				if err != nil || due.Before(clock.Now().Add(-time.Hour)) {
					t.Errorf("due date %q", m.DueDate)
				}
			}
		case luigi:
			if m.Key != "key-ufficio" {
				t.Errorf("Luigi's message sent with %q, want the office's key", m.Key)
			}
			if strings.HasPrefix(m.Subject, "It's your turn") {
				luigiCalled++
			} else if !strings.HasPrefix(m.Subject, "Your turn is coming up") {
				t.Errorf("Luigi's message not in English: %q", m.Subject)
			}
		default:
			t.Errorf("message to %s, who is not linked to a ticket", m.FiscalCode)
		}
	}
	if mariaCalled != 2 || luigiCalled != 1 {
		t.Errorf("calls told: Maria %d (want 2), Luigi %d (want 1)", mariaCalled, luigiCalled)
	}
	// Nothing is kept once the tickets are over.
	clock.Advance(time.Minute)
	if _, err := q.CallNext(ctx, appioBari, office.ID, desk, nil); err == nil {
		t.Error("a fifth ticket was called")
	}
	var left int
	node.DB().QueryRow(`SELECT COUNT(*) FROM queue_appio_tickets WHERE tenant = 'bari'`).Scan(&left)
	if left != 0 {
		t.Errorf("%d App IO rows kept after the line emptied", left)
	}
}
