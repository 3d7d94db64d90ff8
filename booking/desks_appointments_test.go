package booking

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/sportello-virtuale/sportello/cluster"
)

// TestDeskAppointments reserves a desk for appointments and back: the
// mark is stored and read, proposed as booking.desk.save version 2 only
// when set, and every node advertises that version to the gate.
func TestDeskAppointments(t *testing.T) {
	t.Parallel()
	f := newDeskFixture(t)
	ctx := context.Background()
	if v := f.node.Capabilities()[CmdDeskSave]; v != deskSaveVersion {
		t.Errorf("node advertises %s v%d, want v%d", CmdDeskSave, v, deskSaveVersion)
	}
	if v := f.node.Capabilities()["schema:booking"]; v < 5 {
		t.Errorf("node advertises booking schema %d, want at least 5", v)
	}
	w, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Sportello 1", Kind: DeskCounter, Appointments: true}, false)
	if err != nil {
		t.Fatalf("WriteDesk: %v", err)
	}
	d, err := f.book.Desk(ctx, bari.ID, w.ID)
	if err != nil || !d.Appointments {
		t.Fatalf("stored desk: %+v, %v; want reserved for appointments", d, err)
	}
	other, err := f.book.WriteDesk(ctx, bari.ID, Desk{OfficeID: f.office.ID, Label: "Sportello 2", Kind: DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	desks, err := f.book.Desks(ctx, bari.ID, f.office.ID)
	if err != nil || len(desks) != 2 || !desks[0].Appointments || desks[1].Appointments || desks[1].ID != other.ID {
		t.Errorf("Desks: got %+v, %v; want Sportello 1 reserved, Sportello 2 not", desks, err)
	}
	// An edit without the mark clears it.
	d.Appointments = false
	if _, err := f.book.WriteDesk(ctx, bari.ID, d, true); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.book.Desk(ctx, bari.ID, w.ID); d.Appointments {
		t.Errorf("after the edit the desk is still reserved")
	}
	// The version follows the mark: a desk that is not reserved is the
	// version 1 payload older members apply.
	if deskSaveVersionOf(Desk{}) != 1 || deskSaveVersionOf(Desk{Appointments: true}) != 2 {
		t.Errorf("deskSaveVersionOf: got %d and %d, want 1 and 2", deskSaveVersionOf(Desk{}), deskSaveVersionOf(Desk{Appointments: true}))
	}
	// A version 1 payload carrying the mark is refused in apply, as an
	// older member (which does not know the field) refuses it.
	cmd, err := cluster.NewCommand(CmdDeskSave, 1, string(bari.ID), deskPayload{Desk: Desk{ID: w.ID, OfficeID: f.office.ID,
		Label: "Sportello 1", Kind: DeskCounter, Appointments: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.node.Propose(ctx, cmd); err == nil {
		t.Error("version 1 payload with appointments: applied, want refused")
	}
	if d, _ := f.book.Desk(ctx, bari.ID, w.ID); d.Appointments {
		t.Errorf("refused payload reserved the desk")
	}
}

// TestDeskAppointmentsBeforeMigration runs the desk's reads and
// booking.desk.save on a database at booking schema version 4, as a node
// of a cluster in the middle of a rolling upgrade has it: old entries
// (version 1, no appointments field) apply and read back unreserved, a
// reservation is refused as "not yet supported" without changing
// anything, and after the migration both work.
func TestDeskAppointmentsBeforeMigration(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, m := range Migrations() {
		if m.Version <= 4 {
			if _, err := db.ExecContext(ctx, m.SQL); err != nil {
				t.Fatalf("schema v%d: %v", m.Version, err)
			}
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO booking_offices (tenant, id, name, address, phone, email)
		VALUES ('bari', 'anagrafe', 'Anagrafe', 'Via Roma 1', '', '')`); err != nil {
		t.Fatal(err)
	}
	apply := func(version int, raw string) error {
		t.Helper()
		cmd := cluster.Command{Type: CmdDeskSave, Version: version, Tenant: "bari", Payload: []byte(raw)}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := applyDeskSave(tx, cmd); err != nil {
			return err
		}
		return tx.Commit()
	}
	// An entry written by an older binary: no appointments field.
	old := `{"desk":{"id":"s1","office_id":"anagrafe","label":"Sportello 1","kind":"counter"}}`
	if err := apply(1, old); err != nil {
		t.Fatalf("version 1 entry on schema 4: %v", err)
	}
	book := NewBook(nil, db, nil, nil)
	d, err := book.Desk(ctx, "bari", "s1")
	if err != nil || d.Appointments || d.Label != "Sportello 1" {
		t.Fatalf("desk on schema 4: %+v, %v", d, err)
	}
	if desks, err := book.Desks(ctx, "bari", ""); err != nil || len(desks) != 1 {
		t.Fatalf("Desks on schema 4: %+v, %v", desks, err)
	}
	reserved := `{"desk":{"id":"s1","office_id":"anagrafe","label":"Sportello 1","kind":"counter","appointments":true}}`
	if err := apply(2, reserved); !errors.Is(err, cluster.ErrNotSupportedByCluster) {
		t.Errorf("reservation on schema 4: got %v, want ErrNotSupportedByCluster", err)
	}
	if _, err := NewBook(nil, db, nil, nil).WriteDesk(ctx, "bari", Desk{ID: "s1", OfficeID: "anagrafe", Label: "Sportello 1",
		Kind: DeskCounter, Appointments: true}, true); !errors.Is(err, cluster.ErrNotSupportedByCluster) {
		t.Errorf("WriteDesk of a reservation on schema 4: got %v, want ErrNotSupportedByCluster before proposing", err)
	}
	for _, m := range Migrations() {
		if m.Version == 5 {
			if _, err := db.ExecContext(ctx, m.SQL); err != nil {
				t.Fatalf("schema v5: %v", err)
			}
		}
	}
	if d, err := book.Desk(ctx, "bari", "s1"); err != nil || d.Appointments {
		t.Fatalf("desk after the migration: %+v, %v; want unreserved", d, err)
	}
	if err := apply(2, reserved); err != nil {
		t.Fatalf("reservation on schema 5: %v", err)
	}
	if d, err := book.Desk(ctx, "bari", "s1"); err != nil || !d.Appointments {
		t.Errorf("desk after the reservation: %+v, %v", d, err)
	}
	// Replaying the old entry (the log from the start) clears it again.
	if err := apply(1, old); err != nil {
		t.Fatal(err)
	}
	if d, _ := book.Desk(ctx, "bari", "s1"); d.Appointments {
		t.Errorf("version 1 entry left the desk reserved")
	}
}
