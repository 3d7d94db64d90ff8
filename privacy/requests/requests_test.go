package requests_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy/requests"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// operator is the actor of the back office's commands in these tests.
func operator(ctx context.Context) context.Context {
	return cluster.WithActor(ctx, cluster.Actor{ID: "op-1", Name: "Operatrice Uno", Tenant: "bari"})
}

// pdf is a small document that sniffs as PDF.
func pdf(canary string) *bytes.Reader {
	return bytes.NewReader([]byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + canary + "\n%%EOF\n"))
}

// people are the citizens of the export test: Maria and Mario share a
// surname and an email domain; Maria has the same codice fiscale and
// address in Lecce too.
type people struct {
	maria, mario booking.Citizen
}

func newPeople(t *testing.T) people {
	return people{
		maria: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: fiscalCode(t, "RSSMRA85T50A662"), Email: "maria.rossi@example.it"},
		mario: booking.Citizen{GivenName: "Mario", FamilyName: "Rossi", FiscalCode: fiscalCode(t, "RSSMRA80A01A662"), Email: "mario.rossi@example.it"},
	}
}

// TestExportHoldsEverythingAboutTheCitizenAndNothingElse is the issue's
// export test, over three real Raft nodes: bookings (with outcome, notes
// and channel), queue tickets, call documents, emails and audit entries
// of the citizen are all in the export, made on another node than the
// writes; nothing of a citizen sharing their surname and email domain,
// nor of the same codice fiscale and address in another Comune, is.
func TestExportHoldsEverythingAboutTheCitizenAndNothingElse(t *testing.T) {
	t.Parallel()
	ms, _ := newCluster(t, 3)
	ctx := context.Background()
	p := newPeople(t)
	officeB, svcB := anagrafe(t, ms[0], bari.ID)
	officeL, svcL := anagrafe(t, ms[0], lecce.ID)

	c1 := bookSlotCreated(t, ms[0], bari, svcB, 0, p.maria, "canary-maria-1")
	b1 := c1.Booking
	// The second through a follower, with the address typed in capitals.
	upper := p.maria
	upper.Email = "Maria.Rossi@Example.it"
	b2 := bookSlot(t, ms[1], bari, svcB, 1, upper, "canary-maria-2")
	c3 := bookSlotCreated(t, ms[0], bari, svcB, 2, p.mario, "canary-mario")
	b3 := c3.Booking
	b4 := bookSlot(t, ms[0], lecce, svcL, 0, p.maria, "canary-lecce")

	by := booking.Operator{ID: "op-1", Name: "Operatrice Uno"}
	if _, err := ms[0].book.AddNote(operator(ctx), bari, officeB.ID, b1.ID, by, "nota-maria"); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if _, err := ms[0].book.AddNote(operator(ctx), bari, officeB.ID, b3.ID, by, "nota-mario"); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if _, err := ms[0].book.NoShow(operator(ctx), bari, officeB.ID, b2.ID, by); err == nil {
		t.Log("no-show recorded before the appointment") // allowed or not, the export shows the state
	}
	take := func(m member, tn tenant.Tenant, office, email string) queue.Taken {
		t.Helper()
		k, err := m.queue.Take(ctx, tn, queue.TakeRequest{OfficeID: office, Channel: queue.InPerson, Email: email, Source: queue.SourceDesk})
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return k
	}
	tMaria := take(ms[1], bari, officeB.ID, "maria.rossi@example.it")
	kMaria := tMaria.Ticket
	tMario := take(ms[0], bari, officeB.ID, p.mario.Email)
	kMario := tMario.Ticket
	kLecce := take(ms[0], lecce, officeL.ID, p.maria.Email).Ticket

	// Browsers subscribed to Maria's booking and ticket, and to Mario's.
	rcv := pushtest.New(t)
	for _, m := range ms {
		m.queue.PushPolicy = rcv.Policy()
	}
	if err := ms[0].book.SubscribePush(ctx, bari.ID, b1.Code, c1.ManageToken, rcv.Subscribe(), rcv.Policy()); err != nil {
		t.Fatalf("SubscribePush: %v", err)
	}
	if err := ms[0].book.SubscribePush(ctx, bari.ID, b3.Code, c3.ManageToken, rcv.Subscribe(), rcv.Policy()); err != nil {
		t.Fatalf("SubscribePush: %v", err)
	}
	if err := ms[1].queue.SubscribePush(ctx, bari.ID, kMaria.ID, tMaria.Secret, rcv.Subscribe(), "it"); err != nil {
		t.Fatalf("queue SubscribePush: %v", err)
	}
	if err := ms[1].queue.SubscribePush(ctx, bari.ID, kMario.ID, tMario.Secret, rcv.Subscribe(), "it"); err != nil {
		t.Fatalf("queue SubscribePush: %v", err)
	}
	rcvHost := strings.TrimPrefix(strings.TrimPrefix(rcv.URL(), "https://"), "http://")

	put := func(tn tenant.ID, ref, name, canary string) docs.Document {
		t.Helper()
		d, err := ms[0].docs.Put(ctx, tn, "room-"+ref, ref, "Cittadino", name, pdf(canary), docs.Policy{})
		if err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
		return d
	}
	dMaria := put(bari.ID, "booking:"+b1.ID, "ricevuta-maria.pdf", "doc-maria")
	dTicket := put(bari.ID, "ticket:"+kMaria.ID, "delega-maria.pdf", "doc-maria-ticket")
	dMario := put(bari.ID, "booking:"+b3.ID, "ricevuta-mario.pdf", "doc-mario")
	dLecce := put(lecce.ID, "booking:"+b4.ID, "ricevuta-lecce.pdf", "doc-lecce")

	// Made on the third node, which wrote nothing.
	catchUp(t, ms[0], ms[2])
	catchUp(t, ms[1], ms[2])
	ex, err := ms[2].ex.Export(ctx, bari, requests.Subject{FiscalCode: strings.ToLower(p.maria.FiscalCode), Email: " MARIA.ROSSI@example.it "}, requests.ScopeOperator)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if ex.Format != requests.ExportFormat || ex.Comune.ID != "bari" || ex.Subject.FiscalCode != p.maria.FiscalCode || ex.Subject.Email != "maria.rossi@example.it" {
		t.Errorf("header %+v %+v %+v", ex.Format, ex.Comune, ex.Subject)
	}
	var ids []string
	for _, b := range ex.Bookings {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	want := []string{b1.ID, b2.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("bookings %v, want %v", ids, want)
	}
	for _, b := range ex.Bookings {
		if b.ID == b1.ID && (len(b.Notes) != 1 || b.Notes[0].Text != "nota-maria" || b.Channel != "in_person" || b.Outcome != "booked" || b.Service == "") {
			t.Errorf("booking 1: %+v", b)
		}
	}
	wantPush := []requests.ExportPush{{Record: "booking:" + b1.Code, Host: rcvHost}, {Record: "ticket:" + kMaria.Number + " " + kMaria.Day, Host: rcvHost}}
	if !slices.Equal(ex.Push, wantPush) {
		t.Errorf("push subscriptions %+v, want %+v", ex.Push, wantPush)
	}
	if len(ex.Tickets) != 1 || ex.Tickets[0].ID != kMaria.ID || ex.Tickets[0].Email != "maria.rossi@example.it" {
		t.Errorf("tickets %+v, want only %s", ex.Tickets, kMaria.ID)
	}
	var docIDs []string
	for _, d := range ex.Documents {
		docIDs = append(docIDs, d.ID)
		if d.URL != "/gestione/privacy/documenti/"+d.ID {
			t.Errorf("document %s: URL %q", d.ID, d.URL)
		}
	}
	slices.Sort(docIDs)
	wantDocs := []string{dMaria.ID, dTicket.ID}
	slices.Sort(wantDocs)
	if !slices.Equal(docIDs, wantDocs) {
		t.Errorf("documents %v, want %v", docIDs, wantDocs)
	}
	// Each booking queued its confirmation email.
	confirms := 0
	for _, e := range ex.Emails {
		if e.Kind == booking.OutboxKind && e.About == "confirm" {
			confirms++
		}
	}
	if confirms != 2 {
		t.Errorf("confirmation emails %d, want 2: %+v", confirms, ex.Emails)
	}
	noted := false
	for _, a := range ex.Audit {
		if strings.Contains(a.Summary, "booking="+b1.ID) && a.Actor == "Operatrice Uno" {
			noted = true
		}
		if strings.Contains(a.Summary, b3.ID) {
			t.Errorf("audit entry of Mario's booking: %+v", a)
		}
	}
	if !noted {
		t.Errorf("the audit entry of the note is missing: %+v", ex.Audit)
	}

	// Everything of Maria in Bari is there; nothing of anyone else.
	raw, err := json.Marshal(ex)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, w := range []string{"canary-maria-1", "canary-maria-2", "nota-maria", kMaria.ID, "ricevuta-maria.pdf", "delega-maria.pdf"} {
		if !strings.Contains(s, w) {
			t.Errorf("export lacks %q", w)
		}
	}
	for _, w := range []string{"canary-mario", "nota-mario", p.mario.FiscalCode, "mario.rossi", "Mario", b3.ID, b3.Code, kMario.ID,
		dMario.ID, "canary-lecce", b4.ID, b4.Code, kLecce.ID, dLecce.ID, "lecce", "Lecce"} {
		if strings.Contains(s, w) {
			t.Errorf("export holds %q, which is not Maria's in Bari", w)
		}
	}

	// The same codice fiscale in Lecce: Lecce's booking only.
	exL, err := ms[1].ex.Export(ctx, lecce, requests.Subject{FiscalCode: p.maria.FiscalCode}, requests.ScopeOperator)
	if err != nil {
		t.Fatal(err)
	}
	if len(exL.Bookings) != 1 || exL.Bookings[0].ID != b4.ID {
		t.Errorf("Lecce's export: %+v", exL.Bookings)
	}
	// An email domain or a surname is not an address.
	for _, who := range []requests.Subject{{Email: "rossi@example.it"}, {Email: "example.it"}, {FiscalCode: "RSSMRA"}} {
		e, err := ms[2].ex.Export(ctx, bari, who, requests.ScopeOperator)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Bookings)+len(e.Tickets)+len(e.Emails) != 0 {
			t.Errorf("export of %+v found %d bookings, %d tickets, %d emails", who, len(e.Bookings), len(e.Tickets), len(e.Emails))
		}
	}
}

// TestCitizenVerifiesTheirEmail runs the citizen's flow over three real
// nodes and a real SMTP server: the link arrives by email, opens the
// data of that address only, once; the answer never depends on whether
// the Comune knows the address; one address gets at most
// MaxLinksPerHour links an hour.
func TestCitizenVerifiesTheirEmail(t *testing.T) {
	t.Parallel()
	ms, srv := newCluster(t, 3)
	ctx := context.Background()
	p := newPeople(t)
	_, svcB := anagrafe(t, ms[0], bari.ID)
	bMaria := bookSlot(t, ms[0], bari, svcB, 0, p.maria, "canary-maria")
	// Her codice fiscale with another address: not tied to the email,
	// so not in her own export.
	other := p.maria
	other.Email = "maria.lavoro@example.it"
	bOther := bookSlot(t, ms[0], bari, svcB, 1, other, "canary-other-address")
	bookSlot(t, ms[0], bari, svcB, 2, p.mario, "canary-mario")

	sent, err := ms[1].store.SendLink(ctx, bari, "  Maria.Rossi@example.it", "https://bari.example.it/privacy/richiesta/")
	if err != nil || !sent {
		t.Fatalf("SendLink: %v, %v", sent, err)
	}
	e := waitMail(t, srv, "maria.rossi@example.it", "Accesso ai tuoi dati")
	if !strings.Contains(e.text, "Comune di Bari") || !strings.Contains(e.text, "una sola volta") {
		t.Errorf("link email:\n%s", e.text)
	}
	tok := tokenOf(t, e)

	// Another Comune does not know the token.
	if _, err := ms[2].store.UseLink(ctx, lecce.ID, tok); !errors.Is(err, requests.ErrLinkInvalid) {
		t.Errorf("use in Lecce: %v, want ErrLinkInvalid", err)
	}
	acc, err := ms[2].store.UseLink(ctx, bari.ID, tok)
	if err != nil || acc.Email != "maria.rossi@example.it" {
		t.Fatalf("UseLink: %+v, %v", acc, err)
	}
	// Once only, on any node.
	for _, m := range ms {
		if _, err := m.store.UseLink(ctx, bari.ID, tok); !errors.Is(err, requests.ErrLinkInvalid) {
			t.Errorf("second use on %s: %v, want ErrLinkInvalid", m.node.Config().NodeID, err)
		}
	}
	catchUp(t, ms[2], ms[0])
	email, err := ms[0].store.AccessEmail(ctx, bari.ID, acc.Secret)
	if err != nil || email != "maria.rossi@example.it" {
		t.Fatalf("AccessEmail: %q, %v", email, err)
	}
	if _, err := ms[0].store.AccessEmail(ctx, lecce.ID, acc.Secret); !errors.Is(err, requests.ErrAccessInvalid) {
		t.Errorf("access in Lecce: %v, want ErrAccessInvalid", err)
	}
	if _, err := ms[0].store.AccessEmail(ctx, bari.ID, tok); !errors.Is(err, requests.ErrAccessInvalid) {
		t.Errorf("the token as access secret: %v, want ErrAccessInvalid", err)
	}
	ex, err := ms[0].ex.Export(ctx, bari, requests.Subject{Email: email}, requests.ScopeCitizen)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Bookings) != 1 || ex.Bookings[0].ID != bMaria.ID {
		t.Errorf("citizen export bookings %+v, want only %s (not %s)", ex.Bookings, bMaria.ID, bOther.ID)
	}
	raw, _ := json.Marshal(ex)
	for _, w := range []string{"canary-mario", "canary-other-address", "mario.rossi", "maria.lavoro"} {
		if strings.Contains(string(raw), w) {
			t.Errorf("citizen export holds %q", w)
		}
	}
	for _, d := range ex.Documents {
		if d.URL != "" {
			t.Errorf("citizen export has the operator's link %q", d.URL)
		}
	}

	// An address the Comune does not know gets the same answer and a
	// link (which opens an empty export).
	sent, err = ms[0].store.SendLink(ctx, bari, "nessuno@example.it", "https://bari.example.it/privacy/richiesta/")
	if err != nil || !sent {
		t.Fatalf("SendLink unknown: %v, %v", sent, err)
	}
	waitMail(t, srv, "nessuno@example.it", "Accesso ai tuoi dati")

	// The limit per address: MaxLinksPerHour in an hour, then nothing.
	for i := 1; i < requests.MaxLinksPerHour; i++ {
		if sent, err := ms[i%3].store.SendLink(ctx, bari, "maria.rossi@example.it", "https://bari.example.it/privacy/richiesta/"); err != nil || !sent {
			t.Fatalf("link %d: %v, %v", i+1, sent, err)
		}
	}
	if sent, err := ms[2].store.SendLink(ctx, bari, "maria.rossi@example.it", "https://bari.example.it/privacy/richiesta/"); err != nil || sent {
		t.Errorf("link beyond the limit: sent %v, %v", sent, err)
	}
	// Lecce's limit is its own.
	if sent, err := ms[2].store.SendLink(ctx, lecce, "maria.rossi@example.it", "https://lecce.example.it/privacy/richiesta/"); err != nil || !sent {
		t.Errorf("Lecce's link: sent %v, %v", sent, err)
	}
	time.Sleep(500 * time.Millisecond)
	n := 0
	for _, m := range srv.Messages() {
		if e := decodeEmail(t, m); e.to == "maria.rossi@example.it" && strings.Contains(e.text, "Comune di Bari") {
			n++
		}
	}
	if n != requests.MaxLinksPerHour {
		t.Errorf("Maria received %d links from Bari, want %d", n, requests.MaxLinksPerHour)
	}
	if _, err := ms[0].store.SendLink(ctx, bari, "non un indirizzo", "https://bari.example.it/privacy/richiesta/"); err == nil {
		t.Error("SendLink accepted a malformed address")
	}
}

// TestLinkAndAccessExpire checks the expiries with the cluster's and the
// store's clock injected, on a real Raft node.
func TestLinkAndAccessExpire(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	clock := clustertest.NewClock(time.Now())
	node := clustertest.New(t, cluster.Config{Now: clock.Now}, register)
	node.HandleOutbox(requests.OutboxKind, requests.EmailDeliverer(sender, defaultFrom, clock.Now, clustertest.Logger(t)))
	clustertest.Start(t, node)
	m := newMember(node, clock.Now)
	ctx := context.Background()
	link := func(addr string) string {
		t.Helper()
		if sent, err := m.store.SendLink(ctx, bari, addr, "https://bari.example.it/privacy/richiesta/"); err != nil || !sent {
			t.Fatalf("SendLink: %v, %v", sent, err)
		}
		return tokenOf(t, waitMail(t, srv, addr, "Accesso ai tuoi dati"))
	}
	late := link("late@example.it")
	clock.Advance(requests.LinkTTL + time.Second)
	if _, err := m.store.UseLink(ctx, bari.ID, late); !errors.Is(err, requests.ErrLinkInvalid) {
		t.Errorf("expired link: %v, want ErrLinkInvalid", err)
	}
	ontime := link("ontime@example.it")
	clock.Advance(requests.LinkTTL - time.Minute)
	acc, err := m.store.UseLink(ctx, bari.ID, ontime)
	if err != nil {
		t.Fatalf("link used in time: %v", err)
	}
	clock.Advance(requests.AccessTTL - time.Second)
	if _, err := m.store.AccessEmail(ctx, bari.ID, acc.Secret); err != nil {
		t.Errorf("access before its end: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := m.store.AccessEmail(ctx, bari.ID, acc.Secret); !errors.Is(err, requests.ErrAccessInvalid) {
		t.Errorf("access after its end: %v, want ErrAccessInvalid", err)
	}
	// The hour of the per-address limit slides with the clock.
	for i := 0; i < requests.MaxLinksPerHour; i++ {
		m.store.SendLink(ctx, bari, "busy@example.it", "https://bari.example.it/privacy/richiesta/")
	}
	if sent, _ := m.store.SendLink(ctx, bari, "busy@example.it", "https://bari.example.it/privacy/richiesta/"); sent {
		t.Error("a link beyond the limit was sent")
	}
	clock.Advance(time.Hour + time.Second)
	if sent, err := m.store.SendLink(ctx, bari, "busy@example.it", "https://bari.example.it/privacy/richiesta/"); err != nil || !sent {
		t.Errorf("a link an hour later: %v, %v", sent, err)
	}
}

// TestErasureRequestDecided files requests, refuses one with its reason
// and approves another, which runs the replicated erasure
// (privacy.Service.EraseCitizen): the decision is recorded on every
// node, the citizen is told by email, and the erasure touched Maria's
// data in Bari only.
func TestErasureRequestDecided(t *testing.T) {
	t.Parallel()
	ms, srv := newCluster(t, 3)
	ctx := context.Background()
	p := newPeople(t)
	_, svcB := anagrafe(t, ms[0], bari.ID)
	_, svcL := anagrafe(t, ms[0], lecce.ID)
	bookSlot(t, ms[0], bari, svcB, 0, p.maria, "canary-maria")
	bMario := bookSlot(t, ms[0], bari, svcB, 1, p.mario, "canary-mario")
	bLecce := bookSlot(t, ms[0], lecce, svcL, 0, p.maria, "canary-lecce")

	// The citizen's own request, filed through a follower.
	req, err := ms[1].store.File(ctx, bari, requests.Filing{Subject: requests.Subject{Email: "Maria.Rossi@example.it"}, Origin: requests.OriginCitizen})
	if err != nil {
		t.Fatalf("File: %v", err)
	}
	if req.State != requests.StatePending || req.Email != "maria.rossi@example.it" || req.Origin != requests.OriginCitizen {
		t.Errorf("filed %+v", req)
	}
	waitMail(t, srv, "maria.rossi@example.it", "Abbiamo ricevuto la tua richiesta")
	// The office's request about Mario, by codice fiscale.
	reqMario, err := ms[0].store.File(operator(ctx), bari, requests.Filing{Subject: requests.Subject{FiscalCode: p.mario.FiscalCode, Email: p.mario.Email},
		Origin: requests.OriginOperator, Note: "Richiesta allo sportello", By: requests.Person{ID: "op-1", Name: "Operatrice Uno"}})
	if err != nil {
		t.Fatalf("File Mario: %v", err)
	}
	if _, err := ms[0].store.File(ctx, bari, requests.Filing{Origin: requests.OriginOperator}); !errors.Is(err, requests.ErrNoSubject) {
		t.Errorf("request about nobody: %v, want ErrNoSubject", err)
	}

	admin := requests.Person{ID: "admin-1", Name: "Amministratrice"}
	// Refusing needs a reason, and changes nothing without one.
	var ve *requests.ValidationError
	if _, err := ms[2].store.Decide(ctx, bari, reqMario.ID, requests.Decision{By: admin}, ms[2].erase); !errors.As(err, &ve) || ve.Fields["reason"] == "" {
		t.Fatalf("refusal without reason: %v", err)
	}
	refused, err := ms[2].store.Decide(ctx, bari, reqMario.ID, requests.Decision{Reason: "Dati necessari per un procedimento in corso.", By: admin}, ms[2].erase)
	if err != nil {
		t.Fatalf("refuse: %v", err)
	}
	if refused.State != requests.StateRefused || refused.DecidedBy != admin || refused.Decided.IsZero() || refused.EraseIndex != 0 {
		t.Errorf("refused %+v", refused)
	}
	em := waitMail(t, srv, p.mario.Email, "Decisione sulla tua richiesta")
	if !strings.Contains(em.text, "non è stata accolta") || !strings.Contains(em.text, "procedimento in corso") {
		t.Errorf("refusal email:\n%s", em.text)
	}

	// Approval: the erasure runs, then the decision is recorded.
	approved, err := ms[1].store.Decide(ctx, bari, req.ID, requests.Decision{Approve: true, By: admin}, ms[1].erase)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	if approved.State != requests.StateApproved || approved.EraseIndex == 0 || approved.DecidedBy != admin {
		t.Errorf("approved %+v", approved)
	}
	em = waitMail(t, srv, "maria.rossi@example.it", "Decisione sulla tua richiesta")
	if !strings.Contains(em.text, "è stata accolta") {
		t.Errorf("approval email:\n%s", em.text)
	}
	if _, err := ms[0].store.Decide(ctx, bari, req.ID, requests.Decision{Reason: "ripensamento", By: admin}, ms[0].erase); !errors.Is(err, requests.ErrDecided) {
		t.Errorf("second decision: %v, want ErrDecided", err)
	}

	// The decision is on every node, and in Bari only.
	for _, m := range ms {
		catchUp(t, ms[1], m)
		got, err := m.store.Request(ctx, bari.ID, req.ID)
		if err != nil || got.State != requests.StateApproved || got.DecidedBy != admin || got.EraseIndex != approved.EraseIndex {
			t.Errorf("%s: %+v, %v", m.node.Config().NodeID, got, err)
		}
		if _, err := m.store.Request(ctx, lecce.ID, req.ID); !errors.Is(err, requests.ErrNotFound) {
			t.Errorf("%s: the request is visible in Lecce: %v", m.node.Config().NodeID, err)
		}
	}
	list, err := ms[0].store.Requests(ctx, bari.ID)
	if err != nil || len(list) != 2 {
		t.Errorf("Bari's requests: %d, %v", len(list), err)
	}
	if list, _ := ms[0].store.Requests(ctx, lecce.ID); len(list) != 0 {
		t.Errorf("Lecce has %d requests", len(list))
	}

	// Maria's data in Bari is gone; Mario's and Lecce's remain.
	ex, err := ms[2].ex.Export(ctx, bari, requests.Subject{FiscalCode: p.maria.FiscalCode, Email: p.maria.Email}, requests.ScopeOperator)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Bookings) != 0 {
		t.Errorf("after the erasure Maria still has %d bookings in Bari", len(ex.Bookings))
	}
	if len(ex.Requests) != 1 || ex.Requests[0].ID != req.ID {
		t.Errorf("the request is not in her export: %+v", ex.Requests)
	}
	exM, _ := ms[2].ex.Export(ctx, bari, requests.Subject{FiscalCode: p.mario.FiscalCode}, requests.ScopeOperator)
	if len(exM.Bookings) != 1 || exM.Bookings[0].ID != bMario.ID || exM.Bookings[0].Details != "canary-mario" {
		t.Errorf("Mario's booking was touched: %+v", exM.Bookings)
	}
	exL, _ := ms[2].ex.Export(ctx, lecce, requests.Subject{FiscalCode: p.maria.FiscalCode}, requests.ScopeOperator)
	if len(exL.Bookings) != 1 || exL.Bookings[0].ID != bLecce.ID || exL.Bookings[0].Email != p.maria.Email {
		t.Errorf("Lecce's booking was touched: %+v", exL.Bookings)
	}
}
