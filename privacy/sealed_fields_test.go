package privacy_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/privacy"
)

// agendaTexts returns, for the booking id in the office's agenda of day,
// its details, its notes and its outcome note, as the agenda reads them.
func agendaTexts(t *testing.T, b *booking.Book, officeID string, day civil.Date, id string) (string, []string, string) {
	t.Helper()
	items, err := b.Agenda(context.Background(), bari, officeID, day)
	if err != nil {
		t.Fatalf("Agenda: %v", err)
	}
	for _, it := range items {
		if it.Booking.ID != id {
			continue
		}
		var notes []string
		for _, n := range it.Notes {
			notes = append(notes, n.Text)
		}
		return it.Booking.Details, notes, it.Handling.OutcomeNote
	}
	t.Fatalf("booking %s is not in the agenda of %s", id, day)
	return "", nil, ""
}

// TestSealedFieldsNeverInClear is the canary scan for the sealed
// booking fields: a booking's details, an internal note and the note
// given when it was served are sealed in the proposer under the Comune's
// key, so no file of the data folder (raft log, snapshot, state.db and
// its WAL) ever holds them in the clear or in base64, while every reader
// (agenda, the citizen's page, the data-protection export) gets them in
// the clear. A booking made by a node without secrets.key (an old clear
// row) is on disk as it is, which proves the scan can fail, and still
// reads. Once the Comune's key is destroyed the sealed texts read as
// erased, never as an error.
func TestSealedFieldsNeverInClear(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.book.SealFields(e.keys)
	details := "DETAILS-" + randHex(t, 12)
	note := "NOTE-" + randHex(t, 12)
	served := "SERVED-" + randHex(t, 12)
	clearText := "CLEAR-" + randHex(t, 12)
	citizen := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}
	other := booking.Citizen{GivenName: "Luigi", FamilyName: "Bianchi", FiscalCode: fiscalCode(t, "BNCLGU80A01A662"), Email: "luigi@example.it"}

	// Today at 9:30: the office may serve it.
	start := time.Date(2026, 3, 9, 9, 30, 0, 0, bari.Location())
	cr, err := e.book.Create(ctx, bari, booking.Request{ServiceID: e.svc.ID, Start: start, Channel: booking.InPerson,
		PrivacyAccepted: true, Citizen: citizen, Details: "Certificato medico: " + details}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if want := "Certificato medico: " + details; cr.Booking.Details != want {
		t.Errorf("Create answered details %q, want %q", cr.Booking.Details, want)
	}
	op := booking.Operator{ID: "op-1", Name: "Operatore Uno"}
	if _, err := e.book.AddNote(ctx, bari, e.off.ID, cr.Booking.ID, op, "Figlio minore: "+note); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.book.Serve(ctx, bari, e.off.ID, cr.Booking.ID, op, "Esito: "+served); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// A booking of a node without secrets.key: stored in the clear.
	plain := booking.NewBook(e.node, e.node.DB(), e.clock.Now, rand.Reader)
	oldCr, err := plain.Create(ctx, bari, booking.Request{ServiceID: e.svc.ID, Start: start.AddDate(0, 0, 1), Channel: booking.InPerson,
		PrivacyAccepted: true, Citizen: other, Details: "Richiesta: " + clearText}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create without sealer: %v", err)
	}
	old := oldCr.Booking

	if err := e.node.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	dir := e.node.Config().Dir
	if hits := findCanary(t, dir, details, note, served); len(hits) > 0 {
		t.Errorf("sealed texts on disk in the clear: %s", strings.Join(hits, ", "))
	}
	if hits := findCanary(t, dir, clearText); len(hits) == 0 {
		t.Fatal("the clear booking's text is nowhere on disk: the scan cannot tell anything")
	}
	// What is stored is ciphertext, not the text.
	var stored string
	if err := e.node.DB().QueryRow(`SELECT details FROM booking_bookings WHERE tenant = ? AND id = ?`, bari.ID, cr.Booking.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == "" || strings.Contains(stored, details) {
		t.Errorf("stored details %q: want a sealed value", stored)
	}

	// Every reader opens them.
	day := civil.DateOf(start)
	gotDetails, gotNotes, gotOutcome := agendaTexts(t, e.book, e.off.ID, day, cr.Booking.ID)
	if gotDetails != "Certificato medico: "+details || len(gotNotes) != 1 || gotNotes[0] != "Figlio minore: "+note || gotOutcome != "Esito: "+served {
		t.Errorf("agenda reads %q %q %q", gotDetails, gotNotes, gotOutcome)
	}
	if b, err := e.book.Get(ctx, bari.ID, cr.Booking.Code, cr.ManageToken); err != nil || b.Details != "Certificato medico: "+details {
		t.Errorf("the citizen's page reads %q (%v)", b.Details, err)
	}
	cbs, err := e.book.CitizenBookings(ctx, bari, citizen.FiscalCode, "")
	if err != nil || len(cbs) != 1 || cbs[0].Booking.Details != "Certificato medico: "+details || len(cbs[0].Notes) != 1 ||
		cbs[0].Notes[0].Text != "Figlio minore: "+note || cbs[0].Handling.OutcomeNote != "Esito: "+served {
		t.Errorf("the export reads %+v (%v)", cbs, err)
	}
	found, _, err := e.book.SearchAgenda(ctx, bari, booking.AgendaSearch{Text: "rossi", Offices: []string{e.off.ID},
		From: start.Add(-time.Hour), To: start.Add(time.Hour)})
	if err != nil || len(found) != 1 || found[0].Booking.Details != "Certificato medico: "+details {
		t.Errorf("the agenda's search reads %+v (%v)", found, err)
	}
	// The old clear row reads as it is.
	if got, _, _ := agendaTexts(t, e.book, e.off.ID, day.AddDays(1), old.ID); got != "Richiesta: "+clearText {
		t.Errorf("the clear booking reads %q", got)
	}

	// The Comune's key is destroyed: the sealed texts read as erased.
	if err := e.keys.DestroyKey(ctx, bari.ID); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	gotDetails, gotNotes, gotOutcome = agendaTexts(t, e.book, e.off.ID, day, cr.Booking.ID)
	if gotDetails != booking.ErasedText || len(gotNotes) != 1 || gotNotes[0] != booking.ErasedText || gotOutcome != booking.ErasedText {
		t.Errorf("after DestroyKey the agenda reads %q %q %q, want %q", gotDetails, gotNotes, gotOutcome, booking.ErasedText)
	}
	if b, err := e.book.Get(ctx, bari.ID, cr.Booking.Code, cr.ManageToken); err != nil || b.Details != booking.ErasedText {
		t.Errorf("after DestroyKey the citizen's page reads %q (%v)", b.Details, err)
	}
	if got, _, _ := agendaTexts(t, e.book, e.off.ID, day.AddDays(1), old.ID); got != "Richiesta: "+clearText {
		t.Errorf("after DestroyKey the clear booking reads %q", got)
	}
	// A node without the sealer shows the marker, not ciphertext.
	items, err := plain.Agenda(ctx, bari, e.off.ID, day)
	if err != nil || len(items) != 1 || items[0].Booking.Details != booking.UnreadableText {
		t.Errorf("a Book without sealer reads %+v (%v), want %q", items, err, booking.UnreadableText)
	}
	// A new booking after the destruction gets a new key and reads.
	again := e.bookAt(t, 2, 9, 0, citizen, "Dopo: "+details)
	if got, _, _ := agendaTexts(t, e.book, e.off.ID, day.AddDays(2), again.ID); got != "Dopo: "+details {
		t.Errorf("a booking after the key's destruction reads %q", got)
	}
}

// TestSealedFieldsOnAnotherNode books with details and adds a note
// through one node of a three-node cluster and reads them in the clear on
// another (each node has its own Keys over the same secrets.key, as in
// production); the data folders of all three hold no clear copy. Once the
// key is destroyed through a third node, the texts read as erased
// everywhere.
func TestSealedFieldsOnAnotherNode(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, register)
	ctx := context.Background()
	wrap := make([]byte, 32)
	if _, err := rand.Read(wrap); err != nil {
		t.Fatal(err)
	}
	books := make([]*booking.Book, len(nodes))
	keys := make([]*privacy.Keys, len(nodes))
	for i, n := range nodes {
		books[i] = booking.NewBook(n, n.DB(), time.Now, rand.Reader)
		keys[i] = privacy.NewKeys(n, n.DB(), wrap, nil)
		books[i].SealFields(keys[i])
	}
	var week booking.Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		week[d] = []booking.Interval{{Start: 0, End: 24 * 60}}
	}
	off, err := books[0].SaveOffice(ctx, bari.ID, booking.Office{Name: "Anagrafe", Address: "Piazza 1", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := books[0].SaveService(ctx, bari.ID, booking.Service{OfficeID: off.ID, Name: "CIE", Description: "CIE.",
		Duration: 15 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 3, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	details := "DETAILS-" + randHex(t, 12)
	note := "NOTE-" + randHex(t, 12)
	// Two days ahead, or the first day after that is not a national
	// holiday: the office, open every day, is closed on those.
	day := time.Now().In(bari.Location()).AddDate(0, 0, 2)
	for closed, _ := bari.ClosedOn(civil.DateOf(day)); closed; closed, _ = bari.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	cr, err := books[0].Create(ctx, bari, booking.Request{ServiceID: svc.ID, Channel: booking.InPerson, PrivacyAccepted: true,
		Start:   time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, bari.Location()),
		Citizen: booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"},
		Details: details}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	w, err := books[0].AddNote(ctx, bari, off.ID, cr.Booking.ID, booking.Operator{ID: "op-1", Name: "Operatore"}, note)
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, nodes, w.Index)

	reader := books[1]
	d, notes, _ := agendaTexts(t, reader, off.ID, civil.DateOf(cr.Booking.Start), cr.Booking.ID)
	if d != details || len(notes) != 1 || notes[0] != note {
		t.Errorf("another node's agenda reads %q %q, want %q %q", d, notes, details, note)
	}
	cbs, err := reader.CitizenBookings(ctx, bari, "", "maria@example.it")
	if err != nil || len(cbs) != 1 || cbs[0].Booking.Details != details || len(cbs[0].Notes) != 1 || cbs[0].Notes[0].Text != note {
		t.Errorf("another node's export reads %+v (%v)", cbs, err)
	}
	for _, n := range nodes {
		if err := n.Snapshot(); err != nil && !strings.Contains(err.Error(), "nothing new") {
			t.Logf("%s: snapshot: %v", n.Config().NodeID, err)
		}
		if hits := findCanary(t, n.Config().Dir, details, note); len(hits) > 0 {
			t.Errorf("%s holds the sealed texts in the clear: %s", n.Config().NodeID, strings.Join(hits, ", "))
		}
	}

	if err := keys[2].DestroyKey(ctx, bari.ID); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	// Any write after the destruction tells when every node applied it.
	w, err = books[2].AddNote(ctx, bari, off.ID, cr.Booking.ID, booking.Operator{ID: "op-2", Name: "Operatore"}, "seconda")
	if err != nil {
		t.Fatal(err)
	}
	waitAll(t, nodes, w.Index)
	for i, b := range books {
		d, notes, _ := agendaTexts(t, b, off.ID, civil.DateOf(cr.Booking.Start), cr.Booking.ID)
		if d != booking.ErasedText || len(notes) != 2 || notes[0] != booking.ErasedText || notes[1] != "seconda" {
			t.Errorf("node %d after DestroyKey reads %q %q", i, d, notes)
		}
	}
}

// waitAll waits until every node applied index.
func waitAll(t *testing.T, nodes []*cluster.Node, index uint64) {
	t.Helper()
	for _, n := range nodes {
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.WaitApplied(wctx, index)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", n.Config().NodeID, err)
		}
	}
}
