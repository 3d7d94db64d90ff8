package chat

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/queue"
)

// fiscalCode is a valid codice fiscale (Mario Rossi, Rome, 1 January
// 1980).
const fiscalCode = "RSSMRA80A01H501U"

// TestConversationBooks follows a citizen from a sentence to a real
// booking: the service and the time are understood, the nearest free
// times offered, the data collected and checked as the web form checks
// them, and only the explicit confirmation books, through booking.Book,
// whose confirmation email reaches the SMTP server.
func TestConversationBooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if !booking.ValidFiscalCode(fiscalCode) {
		t.Fatalf("test fiscal code %s is not valid", fiscalCode)
	}
	c := e.conv(e.bari)
	r := c.say("vorrei rinnovare la carta d'identità domani mattina")
	slots := actions(r, ActionBook)
	if len(slots) == 0 || slots[0].ServiceID != "cie" || slots[0].Start == nil {
		t.Fatalf("want slots of cie, got %+v", r.Actions)
	}
	tomorrow := civil.DateOf(testNow.AddDate(0, 0, 1))
	for _, a := range slots {
		if civil.DateOf(a.Start.In(rome)) != tomorrow || a.Start.In(rome).Hour() >= 13 {
			t.Errorf("slot %v is not tomorrow morning", a.Start)
		}
	}
	if len(r.Suggestions) == 0 || r.Suggestions[0].ServiceID != "cie" {
		t.Errorf("suggestions %+v, want cie first", r.Suggestions)
	}
	wantReply(t, r, "Carta d'identità", formatWhen("it", slots[0].Start.In(rome)))
	start := *slots[0].Start

	r = c.say(slots[0].Message)
	wantReply(t, r, "nome")
	r = c.say("Mario")
	wantReply(t, r, "cognome")
	r = c.say("Rossi")
	wantReply(t, r, "codice fiscale")
	r = c.say("RSSMRA80A01H501X")
	wantReply(t, r, "non è valido")
	r = c.say(strings.ToLower(fiscalCode))
	wantReply(t, r, "email")
	r = c.say("mario.rossi@")
	wantReply(t, r, "non è valido")
	r = c.say("mario.rossi@example.it")
	wantReply(t, r, "Confermi", fiscalCode, "mario.rossi@example.it", "/privacy")
	if len(actions(r, ActionConfirm)) != 2 {
		t.Errorf("confirm actions %+v, want yes and no", r.Actions)
	}
	beforeYes := c.id
	// Nothing is booked before the confirmation.
	if bks, _ := e.book.Bookings(context.Background(), e.bari.ID, "anagrafe", testNow, testNow.AddDate(0, 0, 7)); len(bks) != 0 {
		t.Fatalf("%d bookings before the confirmation", len(bks))
	}
	r = c.say("sì")
	wantReply(t, r, "Fatto", "Codice della prenotazione", "mario.rossi@example.it")
	links := actions(r, ActionLink)
	if len(links) == 0 || !strings.Contains(links[0].URL, testBase+"/prenotazioni/") {
		t.Fatalf("want the manage link, got %+v", r.Actions)
	}
	bks, err := e.book.Bookings(context.Background(), e.bari.ID, "anagrafe", testNow, testNow.AddDate(0, 0, 7))
	if err != nil || len(bks) != 1 {
		t.Fatalf("bookings: %v, %d, want 1", err, len(bks))
	}
	bk := bks[0]
	if bk.ServiceID != "cie" || !bk.Start.Equal(start) || bk.Citizen.FiscalCode != fiscalCode || bk.Citizen.GivenName != "Mario" {
		t.Errorf("booking %+v", bk)
	}
	if !strings.Contains(r.Reply, bk.Code) {
		t.Errorf("reply %q lacks the code %s", r.Reply, bk.Code)
	}
	msgs := e.smtp.Wait(t, 1, 15*time.Second)
	if len(msgs[0].To) != 1 || msgs[0].To[0] != "mario.rossi@example.it" || !strings.Contains(string(msgs[0].Data), bk.Code) {
		t.Errorf("email to %v lacks the booking %s", msgs[0].To, bk.Code)
	}

	// The same confirmation sent again (a retry, or a copied token on
	// another node) answers with the same booking, not a second one.
	again := &conv{e: e, t: e.bari, id: beforeYes, ip: c.ip}
	r = again.say("sì")
	wantReply(t, r, bk.Code)
	if bks, _ := e.book.Bookings(context.Background(), e.bari.ID, "anagrafe", testNow, testNow.AddDate(0, 0, 7)); len(bks) != 1 {
		t.Errorf("%d bookings after a replayed confirmation, want 1", len(bks))
	}
}

// TestConversationSlotTaken: when the chosen time is taken before the
// confirmation, the booking's own rule refuses it and the assistant
// offers other times, keeping the citizen's data.
func TestConversationSlotTaken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("devo prenotare la carta d'identità")
	slot := actions(r, ActionBook)[0]
	for _, m := range []string{slot.Message, "Mario", "Rossi", fiscalCode, "mario.rossi@example.it"} {
		c.say(m)
	}
	if _, err := e.book.Create(context.Background(), e.bari, booking.Request{
		ServiceID: "cie", Start: *slot.Start, Channel: booking.InPerson, PrivacyAccepted: true,
		Citizen: booking.Citizen{GivenName: "Anna", FamilyName: "Bianchi", FiscalCode: validFiscal(t, "BNCNNA85M41A662"), Email: "anna@example.it"},
	}, testBase); err != nil {
		t.Fatalf("other booking: %v", err)
	}
	r = c.say("si")
	wantReply(t, r, "non è più disponibile")
	next := actions(r, ActionBook)
	if len(next) == 0 || next[0].Start.Equal(*slot.Start) {
		t.Fatalf("want other slots, got %+v", r.Actions)
	}
	r = c.say("1")
	wantReply(t, r, "Confermi", fiscalCode)
}

// TestConversationTicket: "prendi il numero" takes a real ticket in the
// office's queue through queue.Queue.Take.
func TestConversationTicket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("mi serve un certificato di residenza")
	if len(r.Suggestions) == 0 || r.Suggestions[0].ServiceID != "certificati" {
		t.Fatalf("suggestions %+v, want certificati", r.Suggestions)
	}
	r = c.say("prendi il numero")
	tickets := actions(r, ActionTicket)
	if len(tickets) != 1 || tickets[0].Number == "" || !strings.HasPrefix(tickets[0].URL, testBase+"/coda/biglietto/") {
		t.Fatalf("want a ticket, got %+v", r.Actions)
	}
	wantReply(t, r, tickets[0].Number, "Anagrafe")
	line, err := e.queue.Line(context.Background(), e.bari, "anagrafe")
	if err != nil || len(line) != 1 || line[0].Number != tickets[0].Number || line[0].ServiceID != "certificati" {
		t.Fatalf("line %+v (%v), want the ticket %s", line, err, tickets[0].Number)
	}

	// "voglio andare adesso" at a closed hour: the queue says when it
	// opens again, and no ticket is taken.
	e.clock.Set(time.Date(2027, 3, 1, 18, 0, 0, 0, rome))
	c2 := e.conv(e.bari)
	r = c2.say("voglio prendere il numero per la tessera elettorale")
	wantReply(t, r, "non è aperta", "Riapre")
	if len(actions(r, ActionTicket)) != 0 {
		t.Errorf("ticket action while closed: %+v", r.Actions)
	}
}

// TestConversationClarify: a vague request gets a short question with the
// candidates as suggestions; picking one answers about it.
func TestConversationClarify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("certificato")
	if len(r.Suggestions) < 2 {
		t.Fatalf("want a clarifying question, got %q %+v", r.Reply, r.Suggestions)
	}
	wantReply(t, r, "Quale ti serve")
	for i := 1; i < len(r.Suggestions); i++ {
		if r.Suggestions[i].Score > r.Suggestions[i-1].Score {
			t.Errorf("suggestions not best first: %+v", r.Suggestions)
		}
	}
	pick := r.Suggestions[1]
	r = c.say(pick.Name)
	wantReply(t, r, pick.Name, testBase+"/servizi/"+pick.ServiceID)
}

// TestConversationInformation: what to bring, opening hours, where and
// cost come from the Comune's data, always with the service page; a cost
// the data do not give is said to be missing, with the contacts.
func TestConversationInformation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("cosa serve per la carta d'identità?")
	wantReply(t, r, "fototessera", testBase+"/servizi/cie")
	r = c.say("a che ora apre?")
	wantReply(t, r, "Anagrafe", "lunedì: 8:30–12:30", testBase+"/servizi/cie")
	r = c.say("dove si trova l'ufficio?")
	wantReply(t, r, "Piazza del Municipio 1", "080 000 1001", testBase+"/servizi/cie")
	r = c.say("quanto costa il permesso ZTL?")
	wantReply(t, r, "non è indicato", "080 000 1020", testBase+"/servizi/ztl")

	// An FAQ entry of the Comune answers its question.
	r = c.say("la carta d'identità cartacea vale ancora per l'espatrio?")
	wantReply(t, r, "3 agosto 2026", testBase+"/servizi/cie")
	r = c.say("dove si parcheggia vicino al municipio")
	wantReply(t, r, "Piazza Garibaldi")

	// Cancel and move point to the email's link.
	r = c.say("devo disdire l'appuntamento")
	wantReply(t, r, "email di conferma")

	// Something the catalogue does not know: the URP and an operator.
	r = c.say("vorrei comprare una bicicletta usata")
	wantReply(t, r, "URP", "080 000 1000")
	if len(actions(r, ActionHandoff)) != 1 {
		t.Errorf("want an operator action, got %+v", r.Actions)
	}
}

// TestConversationHandoff: "parla con un operatore" puts the citizen in
// the video line of the URP, which has a remote desk; for an office
// without one it gives the contacts.
func TestConversationHandoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("vorrei parlare con un operatore")
	h := actions(r, ActionHandoff)
	if len(h) != 1 || h[0].Number == "" || !strings.HasPrefix(h[0].URL, testBase+"/coda/biglietto/") {
		t.Fatalf("want a video ticket, got %q %+v", r.Reply, r.Actions)
	}
	line, err := e.queue.Line(context.Background(), e.bari, "urp")
	if err != nil || len(line) != 1 || line[0].Channel != queue.Video {
		t.Fatalf("urp line %+v (%v), want one video ticket", line, err)
	}

	c2 := e.conv(e.bari)
	c2.say("iscrizione alla TARI")
	r = c2.say("voglio parlare con una persona")
	h = actions(r, ActionHandoff)
	if len(h) != 1 || h[0].Phone != "080 000 1010" || h[0].URL != "tel:0800001010" {
		t.Fatalf("want the Tributi contacts, got %q %+v", r.Reply, r.Actions)
	}
	wantReply(t, r, "Tributi", "080 000 1010")

	// The office named in the request.
	r = e.conv(e.bari).say("vorrei parlare con un operatore della polizia locale")
	h = actions(r, ActionHandoff)
	if len(h) != 1 || h[0].Phone != "080 000 1020" {
		t.Fatalf("want the Polizia locale contacts, got %q %+v", r.Reply, r.Actions)
	}
}

// TestConversationEnglish: English messages and lang=en are answered in
// English; German falls back to English and says so once.
func TestConversationEnglish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("What do I need to bring for the identity card?")
	if r.Lang != "en" {
		t.Errorf("lang %q, want en", r.Lang)
	}
	wantReply(t, r, "bring", "Source: "+testBase+"/servizi/cie")
	d := e.conv(e.bari)
	d.lang = "de"
	r = d.say("Personalausweis")
	wantReply(t, r, "Ich spreche noch kein Deutsch")
	r = d.say("identity card")
	if strings.Contains(r.Reply, "Deutsch") || r.Lang != "en" {
		t.Errorf("second German turn: lang %s, reply %q", r.Lang, r.Reply)
	}
}

// TestHostileInput: empty, long and binary messages are refused with a
// field error; a forged token, another Comune's token and an expired one
// start a new conversation; a conversation has a turn cap and the node a
// cap on conversations.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxTurns = 4 })
	ctx := context.Background()
	for _, m := range []string{"", "   ", strings.Repeat("a", MaxMessage+1), "ciao\x00", "\xff\xfe"} {
		_, err := e.engine.Handle(ctx, e.bari, Request{Message: m, BaseURL: testBase})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "message" {
			t.Errorf("message %q: err %v, want a field error", m, err)
		}
	}
	if _, err := e.engine.Handle(ctx, e.bari, Request{Message: strings.Repeat("è", MaxMessage), BaseURL: testBase}); err != nil {
		t.Errorf("a message of %d characters: %v", MaxMessage, err)
	}

	c := e.conv(e.bari)
	c.say("cosa serve per la carta d'identità?")
	// The token is opaque and sealed: a changed byte, or the same token
	// on another Comune's host, starts over.
	forged := c.id[:len(c.id)-2] + "AA"
	if forged == c.id {
		forged = c.id[:len(c.id)-2] + "BB"
	}
	for name, tc := range map[string]struct {
		token string
		ten   string
	}{"forged": {forged, "bari"}, "other comune": {c.id, "lecce"}, "garbage": {"c1.!!!", "bari"}} {
		ten := e.bari
		if tc.ten == "lecce" {
			ten = e.lecce
		}
		r, err := e.engine.Handle(ctx, ten, Request{Message: "a che ora apre?", ConversationID: tc.token, BaseURL: testBase})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(r.Reply, "8:30") {
			t.Errorf("%s token kept the conversation: %q", name, r.Reply)
		}
	}
	// Expiry.
	e.clock.Advance(DefaultTTL + time.Second)
	r := c.say("a che ora apre?")
	wantReply(t, r, "scaduta")
	// The turn cap: the fifth message starts a new conversation.
	c2 := e.conv(e.bari)
	for range 4 {
		c2.say("ciao")
	}
	r = c2.say("ciao")
	wantReply(t, r, "troppo lunga")
	// The node's cap: three live conversations, the fourth is refused
	// until one expires.
	capped, err := New(Config{Catalogues: e.cats, Book: e.book, Key: make([]byte, 32), Now: e.clock.Now, MaxConversations: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := capped.Handle(ctx, e.bari, Request{Message: "ciao", BaseURL: testBase}); err != nil {
			t.Fatalf("conversation %d: %v", i, err)
		}
	}
	if _, err := capped.Handle(ctx, e.bari, Request{Message: "ciao", BaseURL: testBase}); !errors.Is(err, ErrBusy) {
		t.Errorf("fourth conversation: %v, want ErrBusy", err)
	}
	e.clock.Advance(DefaultTTL + time.Second)
	if _, err := capped.Handle(ctx, e.bari, Request{Message: "ciao", BaseURL: testBase}); err != nil {
		t.Errorf("after the others expired: %v", err)
	}
}

// TestConversationPendingIntent: "voglio prendere il numero" before the
// service is named asks which one, and the answer takes the number.
func TestConversationPendingIntent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.conv(e.bari)
	r := c.say("voglio prendere il numero")
	wantReply(t, r, "Per quale servizio")
	r = c.say("carta d'identità")
	if len(actions(r, ActionTicket)) != 1 || actions(r, ActionTicket)[0].Number == "" {
		t.Fatalf("want a ticket, got %q %+v", r.Reply, r.Actions)
	}
}

// TestConversationOverKnowledgeStore runs the engine over the real
// knowledge.Store, as cmd/sportello wires it: its catalogue finds the
// service, and an FAQ entry the administrator saved answers its question.
func TestConversationOverKnowledgeStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.store.SaveFAQ(ctx, e.bari.ID, knowledge.FAQ{Question: "Posso portare il cane in municipio?",
		Answer: "Sì, i cani al guinzaglio sono ammessi negli uffici.", OfficeID: "urp"}); err != nil {
		t.Fatalf("save FAQ: %v", err)
	}
	var key [32]byte
	eng, err := New(Config{Catalogues: e.store, Book: e.book, Queue: e.queue, Key: key[:], Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(m string) Response {
		r, err := eng.Handle(ctx, e.bari, Request{Message: m, BaseURL: testBase})
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		return r
	}
	wantReply(t, ask("cosa serve per la carta d'identità?"), "fototessera", testBase+"/servizi/cie")
	wantReply(t, ask("posso portare il cane in municipio?"), "guinzaglio")
}

// TestConversationOfficeHours: hours asked of an office, not of a
// service, are the office's, citing the offices page.
func TestConversationOfficeHours(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.conv(e.bari).say("a che ora apre l'anagrafe?")
	wantReply(t, r, "Anagrafe", "8:30–12:30", testBase)
}

// TestEmptyCatalogue: a Comune whose catalogue is empty gets answers
// that say nothing was found, not errors.
func TestEmptyCatalogue(t *testing.T) {
	t.Parallel()
	e, err := New(Config{Catalogues: fixedCatalogues{&knowledge.Catalogue{}}, Book: booking.NewBook(nil, nil, time.Now, nil), Key: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"carta d'identità", "parla con un operatore", "prendi il numero", "a che ora apre?"} {
		r, err := e.Handle(context.Background(), testTenant, Request{Message: m, BaseURL: testBase})
		if err != nil || r.Reply == "" {
			t.Errorf("%q: %v %q", m, err, r.Reply)
		}
	}
}
