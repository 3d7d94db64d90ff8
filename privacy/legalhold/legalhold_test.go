package legalhold

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	_ "github.com/mattn/go-sqlite3"
)

// TestRule runs the conditions on a real SQLite database with the
// columns the rule joins: without privacy_holds nothing is held; with a
// hold on one booking, exactly its documents (by reference, by its
// ticket's reference, by its room or its ticket's room), its check-in
// ticket and its rooms are held, in its own Comune only. The schema here
// is the subset of the real tables' columns the rule reads; the
// integration test is privacy's TestLegalHoldKeepsCallDocuments.
func TestRule(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE media_docs (tenant TEXT, id TEXT, room TEXT, ref TEXT)`)
	r, err := Load(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r.Document("d") != "0" || r.Ticket("k2") != "0" || r.Room("r") != "0" {
		t.Fatalf("without privacy_holds the rule holds something: %q", r.Document("d"))
	}
	exec(`CREATE TABLE booking_bookings (tenant TEXT, id TEXT, code TEXT)`)
	exec(`CREATE TABLE privacy_holds (tenant TEXT, booking_id TEXT)`)
	exec(`CREATE TABLE queue_tickets (tenant TEXT, id TEXT, booking_code TEXT)`)
	exec(`CREATE TABLE media_rooms (tenant TEXT, id TEXT, ref_kind TEXT, ref_id TEXT)`)
	exec(`INSERT INTO booking_bookings VALUES ('bari', 'b1', 'BA-HELD'), ('bari', 'b2', 'BA-FREE'), ('lecce', 'b1', 'LE-HELD')`)
	exec(`INSERT INTO privacy_holds VALUES ('bari', 'b1')`)
	exec(`INSERT INTO queue_tickets VALUES ('bari', 't1', 'BA-HELD'), ('bari', 't2', ''), ('bari', 't3', 'BA-FREE'), ('lecce', 't1', 'LE-HELD')`)
	exec(`INSERT INTO media_rooms VALUES ('bari', 'r1', 'booking', 'BA-HELD'), ('bari', 'r2', 'ticket', 't1'),
		('bari', 'r3', 'booking', 'BA-FREE'), ('bari', 'r4', 'ticket', 't2'), ('lecce', 'r1', 'booking', 'LE-HELD')`)
	exec(`INSERT INTO media_docs VALUES
		('bari', 'by-ref', 'x', 'booking:BA-HELD'),
		('bari', 'by-ticket', 'x', 'ticket:t1'),
		('bari', 'in-room', 'r1', ''),
		('bari', 'in-ticket-room', 'r2', ''),
		('bari', 'other-booking', 'r3', 'booking:BA-FREE'),
		('bari', 'walk-in', 'r4', 'ticket:t2'),
		('lecce', 'by-ref', 'r1', 'booking:LE-HELD')`)
	if r, err = Load(ctx, db); err != nil {
		t.Fatal(err)
	}
	held := func(table, cond string) []string {
		t.Helper()
		rows, err := db.Query(`SELECT x.tenant || '/' || x.id FROM ` + table + ` x WHERE ` + cond + ` ORDER BY 1`)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	for _, c := range []struct {
		table, cond string
		want        []string
	}{
		{"media_docs", r.Document("x"), []string{"bari/by-ref", "bari/by-ticket", "bari/in-room", "bari/in-ticket-room"}},
		{"queue_tickets", r.Ticket("x"), []string{"bari/t1"}},
		{"media_rooms", r.Room("x"), []string{"bari/r1", "bari/r2"}},
	} {
		if got := held(c.table, c.cond); !slices.Equal(got, c.want) {
			t.Errorf("%s held: %v, want %v", c.table, got, c.want)
		}
	}
}
