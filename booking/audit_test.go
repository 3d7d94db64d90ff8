package booking

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestAuditSummaries makes back-office and operator writes as a logged-in
// user through real Raft and reads the audit rows they left: each names
// the objects by ID and none holds the citizen's data or a typed text.
func TestAuditSummaries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	tue := func(hh, mm int) time.Time { return f.at(2026, time.March, 10, hh, mm) }
	req := f.request(f.svc.ID, tue(9, 0), 7)
	made, err := f.book.Create(ctx, bari, req, "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	b := made.Booking
	f.clock.Set(tue(8, 50))

	// Everything below is proposed for Anna, as the back office does
	// for the request of a session.
	ctx = cluster.WithActor(ctx, cluster.Actor{ID: "u-anna", Name: "Anna Bianchi", Tenant: string(bari.ID), Addr: "192.0.2.7"})
	office := f.office
	office.Name = "Anagrafe centrale"
	wOffice, err := f.book.WriteOffice(ctx, bari.ID, office, true)
	if err != nil {
		t.Fatalf("WriteOffice: %v", err)
	}
	closure, err := f.book.WriteClosure(ctx, bari.ID, Closure{
		OfficeID: office.ID, From: civil.Date{Year: 2026, Month: time.April, Day: 2}, To: civil.Date{Year: 2026, Month: time.April, Day: 3},
		Reason: "Lutto della collega " + req.Citizen.FamilyName,
	})
	if err != nil {
		t.Fatalf("WriteClosure: %v", err)
	}
	if _, err := f.book.RemoveClosure(ctx, bari.ID, closure.ID); err != nil {
		t.Fatalf("RemoveClosure: %v", err)
	}
	if _, err := f.book.ArchiveService(ctx, bari.ID, f.svc.ID, true); err != nil {
		t.Fatalf("ArchiveService: %v", err)
	}
	if _, err := f.book.ArchiveService(ctx, bari.ID, f.svc.ID, false); err != nil {
		t.Fatalf("restore service: %v", err)
	}
	op := Operator{ID: "u-anna", Name: "Anna Bianchi"}
	if _, err := f.book.Arrive(ctx, bari, office.ID, b.ID, op); err != nil {
		t.Fatalf("Arrive: %v", err)
	}
	note := "Il sig. " + req.Citizen.FamilyName + " (" + req.Citizen.FiscalCode + ") ha portato la fototessera."
	if _, err := f.book.AddNote(ctx, bari, office.ID, b.ID, op, note); err != nil {
		t.Fatalf("AddNote: %v", err)
	}
	if _, err := f.book.Serve(ctx, bari, office.ID, b.ID, op, "Servito "+req.Citizen.GivenName); err != nil {
		t.Fatalf("Serve: %v", err)
	}

	rows, err := f.node.Audit(context.Background(), string(bari.ID), cluster.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	got := map[string][]string{}
	for _, e := range rows {
		if e.Actor.ID != "u-anna" || e.Actor.Addr != "192.0.2.7" {
			t.Errorf("row %d %s: actor %+v, want Anna from 192.0.2.7", e.ID, e.Type, e.Actor)
		}
		got[e.Type] = append(got[e.Type], e.Summary)
		for _, secret := range []string{req.Citizen.FamilyName, req.Citizen.GivenName, req.Citizen.FiscalCode,
			req.Citizen.Email, "fototessera", "Lutto", "Anagrafe centrale"} {
			if strings.Contains(strings.ToLower(e.Summary), strings.ToLower(secret)) {
				t.Errorf("row %s %q holds %q", e.Type, e.Summary, secret)
			}
		}
	}
	bk := "booking=" + b.ID + " office=" + office.ID
	want := map[string][]string{
		CmdOfficeSave:     {"office=" + wOffice.ID},
		CmdClosureAdd:     {"closure=" + closure.ID + " office=" + office.ID},
		CmdClosureRemove:  {"closure=" + closure.ID},
		CmdServiceArchive: {"service=" + f.svc.ID + " restored", "service=" + f.svc.ID + " archived"}, // newest first
		CmdArrive:         {bk},
		CmdNoteAdd:        {bk},
		CmdServe:          {bk},
	}
	for typ, w := range want {
		if strings.Join(got[typ], "|") != strings.Join(w, "|") {
			t.Errorf("%s: got summaries %q, want %q", typ, got[typ], w)
		}
	}
	if len(got[CmdCreate]) != 0 {
		t.Errorf("the citizen's booking, made without a session, was audited: %q", got[CmdCreate])
	}
}

// TestDescribersNameOnlyIDs checks the describers of commands that the
// test above does not propose, on commands built by hand.
func TestDescribersNameOnlyIDs(t *testing.T) {
	t.Parallel()
	cmd := func(typ string, p any) cluster.Command {
		t.Helper()
		c, err := cluster.NewCommand(typ, payloadVersion, string(bari.ID), p)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		name string
		fn   func(cluster.Command) string
		cmd  cluster.Command
		want string
	}{
		{"service save", describeServiceSave, cmd(CmdServiceSave, servicePayload{Service: Service{ID: "s1", OfficeID: "o1", Name: "CIE"}}), "service=s1 office=o1"},
		{"closure of every office", describeClosureAdd, cmd(CmdClosureAdd, closurePayload{Closure: Closure{ID: "c1", Reason: "Santo patrono"}}), "closure=c1 office=*"},
		{"opening add", describeOpeningAdd, cmd(CmdOpeningAdd, openingPayload{Opening: Opening{ID: "a1", OfficeID: "o1", Reason: "Elezioni"}}), "opening=a1 office=o1"},
		{"opening remove", describeRemove("opening"), cmd(CmdOpeningRemove, removePayload{ID: "a1"}), "opening=a1"},
		{"office archive", describeArchive("office"), cmd(CmdOfficeArchive, archivePayload{ID: "o1", Archived: true}), "office=o1 archived"},
		{"garbage", describeOfficeSave, cluster.Command{Type: CmdOfficeSave, Payload: []byte(`"x"`)}, ""},
	} {
		if got := c.fn(c.cmd); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}
