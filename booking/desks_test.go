package booking

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// deskFixture is the fixture with a second service in the Anagrafe and a
// second office (Tributi) with a service of its own.
type deskFixture struct {
	*fixture
	svc2       Service
	tributi    Office
	tributiSvc Service
}

func newDeskFixture(t *testing.T) *deskFixture {
	t.Helper()
	f := &deskFixture{fixture: newFixture(t, false)}
	ctx := context.Background()
	var err error
	f.svc2, err = f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: f.office.ID, Name: "Cambio di residenza", Duration: 20 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	f.tributi, err = f.book.SaveOffice(ctx, bari.ID, Office{Name: "Tributi", Address: "Via Roma 1"})
	if err != nil {
		t.Fatalf("SaveOffice: %v", err)
	}
	f.tributiSvc, err = f.book.SaveService(ctx, bari.ID, Service{
		OfficeID: f.tributi.ID, Name: "TARI", Duration: 20 * time.Minute,
		Channels: []Channel{InPerson, Phone}, Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService: %v", err)
	}
	return f
}

// fieldOf returns the message of field key in a *ValidationError, or "".
func fieldOf(err error, key string) string {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return ""
	}
	return ve.Fields[key]
}

// TestDeskSaveAndRead creates, edits and lists desks, and checks what they
// serve.
func TestDeskSaveAndRead(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := context.Background()
	w, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: " Sportello 3 ", Kind: DeskCounter,
		ServiceIDs: []string{f.svc.ID}}, false)
	if err != nil || w.ID == "" || w.Index == 0 {
		t.Fatalf("WriteDesk: got %+v, %v", w, err)
	}
	d, err := f.book.Desk(ctx, bari.ID, w.ID)
	if err != nil {
		t.Fatalf("Desk: %v", err)
	}
	if d.Label != "Sportello 3" || d.Kind != DeskCounter || d.OfficeID != f.office.ID || !slices.Equal(d.ServiceIDs, []string{f.svc.ID}) ||
		d.Archived || d.Tenant != bari.ID {
		t.Errorf("stored desk: got %+v", d)
	}
	if !d.Serves(f.svc.ID) || d.Serves(f.svc2.ID) {
		t.Errorf("Serves: the desk serves only %s", f.svc.ID)
	}
	if !d.Takes(InPerson) || d.Takes(Video) || !(Desk{Kind: DeskRemote}).Takes(Phone) || (Desk{Kind: DeskRemote}).Takes(InPerson) {
		t.Error("Takes: a counter takes citizens in person, a remote station video and phone")
	}
	// An edit replaces label, kind and services; no services means all.
	d.Label, d.Kind, d.ServiceIDs = "Postazione video 1", DeskRemote, nil
	if _, err := f.book.WriteDesk(ctx, bari.ID, d, true); err != nil {
		t.Fatalf("WriteDesk update: %v", err)
	}
	got, _ := f.book.Desk(ctx, bari.ID, d.ID)
	if got.Label != "Postazione video 1" || got.Kind != DeskRemote || got.ServiceIDs != nil || !got.Serves(f.svc2.ID) {
		t.Errorf("after the edit: got %+v", got)
	}
	if _, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.tributi.ID, Label: "Sportello 1", Kind: DeskCounter}, false); err != nil {
		t.Fatalf("WriteDesk tributi: %v", err)
	}
	if desks, err := f.book.Desks(ctx, bari.ID, f.office.ID); err != nil || len(desks) != 1 || desks[0].ID != d.ID {
		t.Errorf("Desks of the Anagrafe: got %+v, %v", desks, err)
	}
	if desks, err := f.book.Desks(ctx, bari.ID, ""); err != nil || len(desks) != 2 {
		t.Errorf("Desks of the Comune: got %+v, %v; want 2", desks, err)
	}
	if _, err := f.book.Desk(ctx, bari.ID, "nessuno"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown desk: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.WriteDesk(ctx, bari.ID, Desk{ID: "nessuno", OfficeID: f.office.ID, Label: "X", Kind: DeskCounter}, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of an unknown desk: got %v, want ErrNotFound", err)
	}
}

// TestDeskValidation checks the field errors of the proposer, and that
// apply refuses the same desks when proposed directly.
func TestDeskValidation(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := context.Background()
	ok := Desk{OfficeID: f.office.ID, Label: "Sportello 1", Kind: DeskCounter}
	existing, err := f.book.WriteDesk(ctx, bari.ID, ok, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*Desk)
		field string
	}{
		{"empty label", func(d *Desk) { d.Label = "  " }, "label"},
		{"label of 41 characters", func(d *Desk) { d.Label = strings.Repeat("è", 41) }, "label"},
		{"control character", func(d *Desk) { d.Label = "Sportello\t2" }, "label"},
		{"unknown kind", func(d *Desk) { d.Kind = "kiosk" }, "kind"},
		{"no office", func(d *Desk) { d.OfficeID = "" }, "office_id"},
		{"unknown office", func(d *Desk) { d.OfficeID = "nessuno" }, "office_id"},
		{"service of another office", func(d *Desk) { d.ServiceIDs = []string{f.svc.ID, f.tributiSvc.ID} }, "service_ids"},
		{"unknown service", func(d *Desk) { d.ServiceIDs = []string{"nessuno"} }, "service_ids"},
		{"service twice", func(d *Desk) { d.ServiceIDs = []string{f.svc.ID, f.svc.ID} }, "service_ids"},
		{"label of a desk in use", func(d *Desk) { d.Label = "sportello 1" }, "label"},
	}
	for _, c := range cases {
		d := ok
		d.Label = "Sportello 2"
		c.edit(&d)
		_, err := f.book.WriteDesk(ctx, bari.ID, d, false)
		if msg := fieldOf(err, c.field); msg == "" {
			t.Errorf("%s: got %v, want a message on %s", c.name, err, c.field)
		}
		// Apply checks it again: a proposer that skipped the checks
		// (another binary, a bug) stores nothing either.
		d.ID = "diretto"
		cmd, _ := cluster.NewCommand(CmdDeskSave, payloadVersion, string(bari.ID), deskPayload{Desk: d})
		if _, err := f.node.Propose(ctx, cmd); fieldOf(err, c.field) == "" {
			t.Errorf("%s in apply: got %v, want a message on %s", c.name, err, c.field)
		}
	}
	// 40 characters are fine; a desk never changes office.
	d := ok
	d.Label = strings.Repeat("è", 40)
	if _, err := f.book.WriteDesk(ctx, bari.ID, d, false); err != nil {
		t.Errorf("label of 40 characters: %v", err)
	}
	moved := ok
	moved.ID, moved.OfficeID = existing.ID, f.tributi.ID
	if _, err := f.book.WriteDesk(ctx, bari.ID, moved, true); fieldOf(err, "office_id") == "" {
		t.Errorf("moving a desk to another office: got %v", err)
	}
	if desks, _ := f.book.Desks(ctx, bari.ID, ""); len(desks) != 2 {
		t.Errorf("desks stored: got %+v, want the two valid ones", desks)
	}
}

// TestDeskTenantIsolationInApply proposes commands of Comune lecce that
// name bari's office, services and desk: apply reads only lecce's rows,
// so it finds none of them.
func TestDeskTenantIsolationInApply(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := context.Background()
	w, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Sportello 1", Kind: DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	propose := func(typ string, payload any) error {
		cmd, err := cluster.NewCommand(typ, payloadVersion, "lecce", payload)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.node.Propose(ctx, cmd)
		return err
	}
	// A new desk of lecce in bari's office.
	err = propose(CmdDeskSave, deskPayload{Desk: Desk{ID: "intruso", OfficeID: f.office.ID, Label: "Intruso", Kind: DeskCounter}})
	if fieldOf(err, "office_id") == "" {
		t.Errorf("lecce's desk in bari's office: got %v, want refused", err)
	}
	// Overwriting bari's desk under its ID, from lecce.
	err = propose(CmdDeskSave, deskPayload{Desk: Desk{ID: w.ID, OfficeID: f.office.ID, Label: "Intruso", Kind: DeskCounter}})
	if err == nil {
		t.Error("lecce overwrote bari's desk")
	}
	if err := propose(CmdDeskArchive, archivePayload{ID: w.ID, Archived: true}); !errors.Is(err, ErrNotFound) {
		t.Errorf("lecce archiving bari's desk: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.ArchiveDesk(ctx, "lecce", w.ID, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("ArchiveDesk from lecce: got %v, want ErrNotFound", err)
	}
	if _, err := f.book.Desk(ctx, "lecce", w.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("bari's desk read as lecce's: got %v, want ErrNotFound", err)
	}
	if desks, _ := f.book.Desks(ctx, "lecce", ""); len(desks) != 0 {
		t.Errorf("lecce's desks: got %+v, want none", desks)
	}
	if d, _ := f.book.Desk(ctx, bari.ID, w.ID); d.Label != "Sportello 1" || d.Archived {
		t.Errorf("bari's desk after lecce's attempts: got %+v", d)
	}
}

// TestDeskArchiveKeepsIt archives a desk: it is still read (what happened
// at it keeps its name), still editable, and its label is free for a new
// desk; restoring it while another desk holds the label is refused.
func TestDeskArchiveKeepsIt(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := context.Background()
	w, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Sportello 1", Kind: DeskCounter,
		ServiceIDs: []string{f.svc.ID, f.svc2.ID}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := f.book.ArchiveDesk(ctx, bari.ID, w.ID, true); err != nil || a.Index == 0 {
		t.Fatalf("ArchiveDesk: got %+v, %v", a, err)
	}
	d, err := f.book.Desk(ctx, bari.ID, w.ID)
	if err != nil || !d.Archived || d.Label != "Sportello 1" || len(d.ServiceIDs) != 2 {
		t.Fatalf("archived desk: got %+v, %v; want it kept and marked", d, err)
	}
	// Archiving twice is harmless; an edit keeps the mark.
	if _, err := f.book.ArchiveDesk(ctx, bari.ID, w.ID, true); err != nil {
		t.Errorf("archiving twice: %v", err)
	}
	d.Kind = DeskRemote
	if _, err := f.book.WriteDesk(ctx, bari.ID, d, true); err != nil {
		t.Fatalf("editing an archived desk: %v", err)
	}
	if d, _ = f.book.Desk(ctx, bari.ID, w.ID); !d.Archived || d.Kind != DeskRemote {
		t.Errorf("archived desk after an edit: got %+v", d)
	}
	// Its label is free again while it is archived.
	if _, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Sportello 1", Kind: DeskCounter}, false); err != nil {
		t.Fatalf("a new desk with the archived one's label: %v", err)
	}
	if _, err := f.book.ArchiveDesk(ctx, bari.ID, w.ID, false); fieldOf(err, "label") == "" {
		t.Errorf("restoring onto a label in use: got %v, want a label message", err)
	}
	if desks, _ := f.book.Desks(ctx, bari.ID, f.office.ID); len(desks) != 2 {
		t.Errorf("Desks: got %+v, want both, archived included", desks)
	}
	d.Label = "Sportello 2"
	if _, err := f.book.WriteDesk(ctx, bari.ID, d, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.ArchiveDesk(ctx, bari.ID, w.ID, false); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if d, _ = f.book.Desk(ctx, bari.ID, w.ID); d.Archived {
		t.Errorf("restored desk still archived: %+v", d)
	}
	if _, err := f.book.ArchiveDesk(ctx, bari.ID, "nessuno", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("archiving an unknown desk: got %v, want ErrNotFound", err)
	}
}

// TestDeskAudit checks that desk commands proposed for a logged-in
// administrator leave audit rows naming the desk and office by ID, never
// the label typed.
func TestDeskAudit(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := cluster.WithActor(context.Background(), cluster.Actor{ID: "u-anna", Name: "Anna Bianchi", Tenant: string(bari.ID), Addr: "192.0.2.7"})
	w, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Stanza riservata", Kind: DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.ArchiveDesk(ctx, bari.ID, w.ID, true); err != nil {
		t.Fatal(err)
	}
	rows, err := f.node.Audit(context.Background(), string(bari.ID), cluster.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	got := map[string]string{}
	for _, e := range rows {
		got[e.Type] = e.Summary
		if strings.Contains(e.Summary, "riservata") {
			t.Errorf("row %s %q holds the label", e.Type, e.Summary)
		}
	}
	if want := "desk=" + w.ID + " office=" + f.office.ID; got[CmdDeskSave] != want {
		t.Errorf("%s: got %q, want %q", CmdDeskSave, got[CmdDeskSave], want)
	}
	if want := "desk=" + w.ID + " archived"; got[CmdDeskArchive] != want {
		t.Errorf("%s: got %q, want %q", CmdDeskArchive, got[CmdDeskArchive], want)
	}
}
