package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// defaultFrom is the node's sender in these tests (bari has none).
const defaultFrom = "Sportello <noreply@sportello.example.it>"

// newMailFixture is newFixture with the queue's emails delivered by
// EmailDeliverer to a real SMTP server.
func newMailFixture(t *testing.T) (*fixture, *smtptest.Server) {
	t.Helper()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	f := &fixture{clock: clustertest.NewClock(startTime)}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now}, register)
	f.node.HandleOutbox(OutboxKind, EmailDeliverer(sender, defaultFrom, f.clock.Now, clustertest.Logger(t)))
	clustertest.Start(t, f.node)
	f.book = booking.NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.q = New(f.node, f.node.DB(), f.book, f.clock.Now, rand.Reader)
	f.office, f.cie, f.cert = setupOffice(t, f.book, bari.ID)
	c := defaultConfig(f.office.ID)
	c.NotifyAhead = 2
	if err := f.q.Configure(context.Background(), bari.ID, c); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return f, srv
}

// sentEmail is a received message, decoded.
type sentEmail struct {
	to, from, subject, lang, text, html, messageID string
}

func decodeEmail(t *testing.T, m smtptest.Message) sentEmail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	e := sentEmail{to: strings.Join(m.To, ","), from: m.From, lang: msg.Header.Get("Content-Language"),
		messageID: msg.Header.Get("Message-ID")}
	if e.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch {
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain"):
			e.text = string(b)
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/html"):
			e.html = string(b)
		}
	}
	if e.text == "" || e.html == "" {
		t.Fatalf("email %q lacks a text or HTML part", e.subject)
	}
	return e
}

// serveAt calls the next ticket at desk, then serves it.
func (f *fixture) serveNext(t *testing.T, desk string) Ticket {
	t.Helper()
	ctx := context.Background()
	k, err := f.q.CallNext(ctx, bari, f.office.ID, desk, nil)
	if err != nil {
		t.Fatalf("CallNext: %v", err)
	}
	if _, err := f.q.StartServing(ctx, bari.ID, k.ID, desk); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Served(ctx, bari.ID, k.ID, desk); err != nil {
		t.Fatal(err)
	}
	return k
}

// outboxKeys lists the keys of the queue's outbox items.
func outboxKeys(t *testing.T, n *cluster.Node) []string {
	t.Helper()
	rows, err := n.DB().Query(`SELECT key FROM cluster_outbox WHERE kind = ? ORDER BY key`, OutboxKind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestEmailsNearAndCalled follows a line of five through a desk: the
// citizen who left an email hears once that the turn is close (when two
// are before them), then that a desk calls, and again on a recall; the
// one who took a number already that close hears only the call; nobody
// else gets anything. The emails cross a real SMTP server.
func TestEmailsNearAndCalled(t *testing.T) {
	t.Parallel()
	f, srv := newMailFixture(t)
	ctx := context.Background()
	d, err := f.book.WriteDesk(ctx, bari.ID, booking.Desk{OfficeID: f.office.ID, Label: "Sportello 4", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	desk := d.ID
	f.clock.Set(at(9, 0))
	first := f.take(t, TakeRequest{Email: "primo@example.it"}) // position 0: no "manca poco"
	f.take(t, TakeRequest{})
	f.take(t, TakeRequest{})
	f.take(t, TakeRequest{})
	anna := f.take(t, TakeRequest{Email: "anna@example.it", Lang: "de-DE", Source: SourceWeb})
	if anna.Status.Position != 4 {
		t.Fatalf("anna's position %d, want 4", anna.Status.Position)
	}
	f.clock.Advance(time.Minute)
	f.serveNext(t, desk) // first called: anna at 3
	f.clock.Advance(time.Minute)
	f.serveNext(t, desk) // anna at 2: "manca poco"
	f.clock.Advance(time.Minute)
	f.serveNext(t, desk) // anna at 1: nothing more
	f.clock.Advance(time.Minute)
	f.serveNext(t, desk) // anna at 0
	f.clock.Advance(time.Minute)
	k, err := f.q.CallNext(ctx, bari, f.office.ID, desk, nil)
	if err != nil || k.ID != anna.Ticket.ID {
		t.Fatalf("call anna: got %s (%v)", k.Number, err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Recall(ctx, bari.ID, k.ID, desk); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(t, 4, 20*time.Second)
	var got []sentEmail
	for _, m := range msgs {
		got = append(got, decodeEmail(t, m))
	}
	// One sequence per ticket: anna's three in order; first's may come
	// anywhere.
	sort.SliceStable(got, func(i, j int) bool { return got[i].to > got[j].to })
	if got[0].to != "primo@example.it" || !strings.Contains(got[0].subject, "È il tuo turno: Sportello 4") ||
		!strings.Contains(got[0].text, "Anagrafe") || got[0].lang != "it" {
		t.Errorf("first's email: %+v", got[0])
	}
	for i, want := range []string{"Sie sind bald an der Reihe (Nummer A005)", "Sie sind an der Reihe: Sportello 4", "Wir rufen Sie erneut auf: Sportello 4"} {
		e := got[i+1]
		if e.to != "anna@example.it" || !strings.Contains(e.subject, want) || e.lang != "de" {
			t.Errorf("anna's email %d: to %s subject %q lang %s, want %q in German", i+1, e.to, e.subject, e.lang, want)
		}
		if e.from != "noreply@sportello.example.it" {
			t.Errorf("anna's email %d: envelope from %s, want the node's default sender", i+1, e.from)
		}
		if strings.Contains(e.html, "<img") || strings.Contains(e.html, "http") {
			t.Errorf("anna's email %d links or loads something: %s", i+1, e.html)
		}
	}
	if !strings.Contains(got[1].text, "Vor Ihnen sind noch 2 Personen.") {
		t.Errorf("the near email does not tell the position:\n%s", got[1].text)
	}
	keys := outboxKeys(t, f.node)
	if len(keys) != 4 {
		t.Errorf("outbox: got %d queue emails %v, want 4", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(k, first.Ticket.ID) && !strings.Contains(k, anna.Ticket.ID) {
			t.Errorf("an email for a ticket without address: %s", k)
		}
	}
	// Serving anna forgets her address.
	if _, err := f.q.StartServing(ctx, bari.ID, anna.Ticket.ID, desk); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Served(ctx, bari.ID, anna.Ticket.ID, desk); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.node.DB().QueryRow(`SELECT count(*) FROM queue_notify WHERE tenant = ?`, bari.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("queue_notify keeps %d rows after every ticket closed (%v)", n, err)
	}
	time.Sleep(200 * time.Millisecond)
	if extra := srv.Messages(); len(extra) != 4 {
		t.Errorf("got %d emails in the end, want 4", len(extra))
	}
}

// TestCheckInEmailsTheBooking: a booked citizen who checks in without
// giving an email is told at the booking's address.
func TestCheckInEmailsTheBooking(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code := f.bookAt(t, at(10, 0), "RSSMRA85T10A562S")
	f.clock.Set(at(9, 50))
	walkIn := f.take(t, TakeRequest{})
	b := f.take(t, TakeRequest{BookingCode: code, Source: SourceKiosk})
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(at(10, 0))
	k, err := f.q.CallNext(ctx, bari, f.office.ID, "2", nil)
	if err != nil || k.ID != b.Ticket.ID {
		t.Fatalf("call the booked citizen: %s (%v)", k.Number, err)
	}
	var payload []byte
	if err := f.node.DB().QueryRow(`SELECT payload FROM cluster_outbox WHERE kind = ? AND key LIKE ?`,
		OutboxKind, "%/"+b.Ticket.ID+"/called/%").Scan(&payload); err != nil {
		t.Fatalf("the booked citizen's call email: %v", err)
	}
	var n notice
	if err := json.Unmarshal(payload, &n); err != nil || n.Email != "maria@example.it" || n.Desk != "1" && n.Desk != "2" {
		t.Errorf("notice %+v (%v), want to maria@example.it", n, err)
	}
	for _, key := range outboxKeys(t, f.node) {
		if strings.Contains(key, walkIn.Ticket.ID) {
			t.Errorf("the walk-in without email got %s", key)
		}
	}
}

func TestTakeRefusesBadEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	err := f.takeErr(TakeRequest{Email: "not an address"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Fields["email"] == "" {
		t.Fatalf("bad email: got %v, want a field error on email", err)
	}
	if err := f.takeErr(TakeRequest{Source: "fax"}); !isField(err, "source") {
		t.Errorf("bad source: got %v", err)
	}
}

// TestEmailTexts composes each kind of email in the three languages.
func TestEmailTexts(t *testing.T) {
	t.Parallel()
	base := notice{Tenant: "bari", TenantName: "Comune di Bari", Sender: bari.Sender, Email: "c@example.it",
		TicketID: "t1", Number: "B014", Office: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Key: "queue/bari/t1/near/1"}
	base.Sender.Address = "comune@bari.example.it"
	for _, c := range []struct {
		lang, want string
		kind       noticeKind
		position   int
		recall     bool
	}{
		{"it", "Manca poco al tuo turno (numero B014)", noticeNear, 3, false},
		{"it", "Nessuno ti precede", noticeNear, 0, false},
		{"it", "È il tuo turno: sportello 3 (numero B014)", noticeCalled, 0, false},
		{"it", "Ti stiamo chiamando di nuovo: sportello 3", noticeCalled, 0, true},
		{"en", "There is one person before you.", noticeNear, 1, false},
		{"en", "It's your turn: desk 3 (number B014)", noticeCalled, 0, false},
		{"de", "Sie sind an der Reihe: Schalter 3 (Nummer B014)", noticeCalled, 0, false},
	} {
		n := base
		n.Lang, n.Kind, n.Position, n.Recall, n.Desk = c.lang, c.kind, c.position, c.recall, "3"
		from, to, msg, err := composeEmail(n, at(9, 0))
		if err != nil || from != "comune@bari.example.it" || to != "c@example.it" {
			t.Fatalf("%s %s: %s → %s (%v)", c.lang, c.kind, from, to, err)
		}
		e := decodeEmail(t, smtptest.Message{From: from, To: []string{to}, Data: msg})
		if !strings.Contains(e.subject+"\n"+e.text, c.want) || !strings.Contains(e.html, "B014") || e.lang != c.lang {
			t.Errorf("%s %s: subject %q lang %s, text lacks %q:\n%s", c.lang, c.kind, e.subject, e.lang, c.want, e.text)
		}
	}
	// A resend of the same email has the same Message-ID.
	_, _, m1, _ := composeEmail(base, at(9, 0))
	_, _, m2, _ := composeEmail(base, at(9, 5))
	id := func(m []byte) string {
		msg, _ := netmail.ReadMessage(bytes.NewReader(m))
		return msg.Header.Get("Message-ID")
	}
	if id(m1) == "" || id(m1) != id(m2) {
		t.Errorf("Message-IDs %q and %q, want one stable ID", id(m1), id(m2))
	}
	noSender := base
	noSender.Sender.Address = ""
	if _, _, _, err := composeEmail(noSender, at(9, 0)); !errors.Is(err, ErrNoSender) {
		t.Errorf("without a sender: got %v, want ErrNoSender", err)
	}
}

// TestTransferAndResumeEmails: a called citizen sent back to the line is
// not told "manca poco" by the transfer that put them first (the operator
// just said so), and hears "è il tuo turno" again at the next call; a
// parked ticket resumed is called again too.
func TestTransferAndResumeEmails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	k := f.take(t, TakeRequest{Email: "carla@example.it", Lang: "en"})
	f.take(t, TakeRequest{})
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Minute)
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	if keys := outboxKeys(t, f.node); len(keys) != 1 || !strings.Contains(keys[0], "/called/") {
		t.Fatalf("after the transfer: got %v, want only the first call's email", keys)
	}
	f.clock.Advance(time.Minute)
	if c, err := f.q.CallNext(ctx, bari, f.office.ID, "2", nil); err != nil || c.ID != k.Ticket.ID {
		t.Fatalf("call the transferred ticket: %s (%v)", c.Number, err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Park(ctx, bari.ID, k.Ticket.ID, "2"); err != nil {
		t.Fatalf("Park: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Resume(ctx, bari, k.Ticket.ID, "2"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	keys := outboxKeys(t, f.node)
	if len(keys) != 3 {
		t.Fatalf("got emails %v, want three calls (first, after the transfer, after the resume)", keys)
	}
	var payload []byte
	if err := f.node.DB().QueryRow(`SELECT payload FROM cluster_outbox WHERE key = ?`, keys[2]).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var n notice
	if err := json.Unmarshal(payload, &n); err != nil || n.Kind != noticeCalled || n.Lang != "en" || n.Desk != "2" {
		t.Errorf("last email %+v (%v), want an English call to desk 2", n, err)
	}
}
