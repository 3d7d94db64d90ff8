package privacy_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/privacy/legalhold"
	"github.com/sportello-virtuale/sportello/queue"
)

// copyRows inserts n copies of the row of table whose id is id, each
// with the values of the columns in set (SQL over the copy's number i,
// 0 to n-1) instead of the original's.
func copyRows(t testing.TB, e *env, table, id string, n int, set map[string]string) {
	t.Helper()
	var cols string
	if err := e.node.DB().QueryRow(`SELECT group_concat(name, ',') FROM pragma_table_info(?)`, table).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	var sel []string
	for _, c := range strings.Split(cols, ",") {
		if v, ok := set[c]; ok {
			c = v
		}
		sel = append(sel, c)
	}
	clustertest.RunSQL(t, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO %s (%s) SELECT %s FROM %[2]s, n WHERE id = '%[5]s'`, n-1, table, cols, strings.Join(sel, ", "), id))
}

// TestRetentionMarks: from privacy schema 2 the hourly retention reads
// only the bookings and tickets since its last complete pass, and that
// loses nothing: a pass cut short by the batch limit goes on from the
// same place, an appointment under way at the cut is erased by a later
// pass, and a booking passed over under a legal hold is erased once the
// hold is lifted.
func TestRetentionMarks(t *testing.T) {
	e := newEnvWith(t, clustertest.HandleSQL)
	ctx := context.Background()
	db := e.node.DB()
	maria := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it", Phone: "3331234567"}
	old := e.bookAt(t, 1, 9, 0, maria, "vecchia")
	held := e.bookAt(t, 1, 9, 30, maria, "bloccata")
	under := e.bookAt(t, 2, 9, 0, maria, "in corso al taglio")
	later := e.bookAt(t, 3, 9, 0, maria, "dopo")
	taken, err := e.q.Take(ctx, bari, queue.TakeRequest{OfficeID: e.off.ID, ServiceID: e.svc.ID,
		Channel: queue.InPerson, Email: "luigi@example.it", Source: queue.SourceDesk})
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if err := e.priv.SetHold(ctx, bari.ID, held.ID, true, "Contenzioso", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		t.Fatalf("SetHold: %v", err)
	}
	// More than one command's worth (maxBatch, 200) of both, due at the
	// same time as old and the ticket.
	const bulk = 250
	copyRows(t, e, "booking_bookings", old.ID, bulk, map[string]string{"id": "'bulk-' || i", "code": "'BA-BULK' || i"})
	copyRows(t, e, "queue_tickets", taken.Ticket.ID, bulk, map[string]string{"id": "'tk-' || i", "seq": "1000 + i", "number": "'Z' || i"})

	personal := func(ids ...string) []string {
		var have []string
		for _, id := range ids {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM booking_bookings WHERE tenant = 'bari' AND id = ? AND given_name <> ''`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				have = append(have, id)
			}
		}
		return have
	}
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	marks := func() map[string]string {
		m := map[string]string{}
		rows, err := db.Query(`SELECT class, mark FROM privacy_marks WHERE tenant = 'bari'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var c, v string
			if err := rows.Scan(&c, &v); err != nil {
				t.Fatal(err)
			}
			m[c] = v
		}
		return m
	}
	retain := func(want int) {
		t.Helper()
		if n, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || n != want {
			t.Fatalf("RetainTenant at %s: %d records, %v; want %d", e.clock.Now().Format(time.RFC3339), n, err, want)
		}
	}

	// The bookings' cut (90 days) falls ten minutes into under's
	// appointment; the tickets' (30 days) is long past the ticket's day.
	days := privacy.DefaultPolicy().DaysOf(privacy.ClassBookings)
	e.clock.Set(under.Start.Add(10*time.Minute + time.Duration(days)*24*time.Hour))
	retain(2 * (bulk + 1)) // old and its copies; the ticket and its copies
	if got, want := personal(old.ID, held.ID, under.ID, later.ID), []string{held.ID, under.ID, later.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the first pass, personal data in %v, want %v", got, want)
	}
	if n := count(`SELECT count(*) FROM booking_bookings WHERE tenant = 'bari' AND id GLOB 'bulk-*' AND given_name <> ''`); n != 0 {
		t.Errorf("%d of the %d copies not pseudonymised", n, bulk)
	}
	if n := count(`SELECT count(*) FROM queue_tickets WHERE tenant = 'bari' AND length(secret_hash) > 0`); n != 0 {
		t.Errorf("%d of the %d tickets not pseudonymised", n, bulk+1)
	}
	cutDay := e.clock.Now().Add(-time.Duration(privacy.DefaultPolicy().DaysOf(privacy.ClassTickets)) * 24 * time.Hour).UTC().Format(time.DateOnly)
	if got, want := marks(), map[string]string{"bookings": strconv.FormatInt(under.Start.Unix(), 10), "tickets": cutDay}; !reflect.DeepEqual(got, want) {
		t.Errorf("marks %v, want %v (the start of the appointment under way, the tickets' cut)", got, want)
	}

	// Once under's appointment has ended before the cut, a pass erases
	// it, though it started before the cut of the pass that set the mark.
	e.clock.Advance(30 * time.Minute)
	retain(1)
	if got, want := personal(held.ID, under.ID, later.ID), []string{held.ID, later.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the second pass, personal data in %v, want %v", got, want)
	}
	// Lifting the hold: the held booking lies behind the mark, and the
	// next pass erases it.
	if err := e.priv.SetHold(ctx, bari.ID, held.ID, false, "", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		t.Fatalf("lift hold: %v", err)
	}
	retain(1)
	if got, want := personal(held.ID, later.ID), []string{later.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("after the hold was lifted, personal data in %v, want %v", got, want)
	}
	retain(0)
	e.clock.Advance(24 * time.Hour)
	retain(1)
	if got := personal(later.ID); len(got) != 0 {
		t.Errorf("a day later, personal data in %v", got)
	}
}

// TestRetentionReadsUseTheirIndexes: the bounded retention's reads
// search an index by office and time, and the erasure of a booking finds
// its tickets, rooms and documents through an index on the reference;
// none reads the Comune whole.
func TestRetentionReadsUseTheirIndexes(t *testing.T) {
	e := newEnvWith(t, media.Register)
	tickets, err := privacy.TicketsDueQuery(e.node.DB())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, q, want string
		args          []any
	}{
		{"bookings due", privacy.BookingsDueQuery, "booking_bookings_office (tenant=? AND office_id=? AND start_unix>? AND start_unix<?)",
			[]any{"bari", 0, 1, 2, 200}},
		{"bookings left", privacy.BookingsLeftQuery, "booking_bookings_office (tenant=? AND office_id=? AND start_unix>? AND start_unix<?)",
			[]any{"bari", 0, 1}},
		{"tickets due", tickets, "queue_tickets_number (tenant=? AND office_id=? AND day>? AND day<?)",
			[]any{"bari", "2026-01-01", "2026-02-01", 200}},
		{"audit due", privacy.AuditDueQuery, "cluster_audit_tenant (tenant=?",
			[]any{"bari", 0, 200}},
		{"a booking's tickets", privacy.TicketsOfBookingQuery, "queue_tickets_code (tenant=? AND booking_code=?)",
			[]any{"bari", "BA-X"}},
		{"a booking's rooms", privacy.RoomsOfBookingQuery, "media_rooms_ref (tenant=? AND ref_kind=? AND ref_id=?)",
			[]any{"bari", "BA-X", "id"}},
		{"a booking's documents", privacy.DocsOfBookingQuery, "media_docs_ref (tenant=? AND ref=?)",
			[]any{"bari", "a", "b", "c", "d"}},
		{"a room's documents", privacy.DocsOfRoomQuery, "media_docs_room (tenant=? AND room=?)",
			[]any{"bari", "room"}},
	} {
		got := clustertest.QueryPlan(t, e.node, c.q, c.args...)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: plan\n%s\nwant a search of %s", c.name, got, c.want)
		}
		if strings.Contains(got, "SCAN ") {
			t.Errorf("%s: plan\n%s\nreads a table whole", c.name, got)
		}
	}
	// Whether a document, room or ticket is under a legal hold: asked
	// for each one an erasure reaches. The holds are read first, and each
	// hold's booking and tickets by their keys.
	hold, err := legalhold.Load(context.Background(), e.node.DB())
	if err != nil {
		t.Fatal(err)
	}
	for table, cond := range map[string]string{"media_docs": hold.Document("qt"), "media_rooms": hold.Room("qt"), "queue_tickets": hold.Ticket("qt")} {
		got := clustertest.QueryPlan(t, e.node, `SELECT count(*) FROM `+table+` qt WHERE qt.tenant = ? AND qt.id = ? AND `+cond, "bari", "x")
		for _, want := range []string{"SEARCH h USING PRIMARY KEY (tenant=?)", "SEARCH b USING PRIMARY KEY (tenant=? AND id=?)"} {
			if !strings.Contains(got, want) {
				t.Errorf("hold of %s: plan\n%s\nwant %s", table, got, want)
			}
		}
		if strings.Contains(got, "SCAN ") || strings.Contains(got, "SEARCH k USING INDEX sqlite_autoindex_queue_tickets_1 (tenant=?)") {
			t.Errorf("hold of %s: plan\n%s\nreads every booking or ticket of the Comune", table, got)
		}
	}
}

// TestRetentionAudit: the retention deletes a Comune's audit rows older
// than its period, not another Comune's nor recent ones. From privacy
// schema 2 it reads only the rows before the first recent one, so a row
// stamped earlier than the row before it waits for a later pass; while a
// member of the older release is in the cluster the schema stays at 1
// and the retention deletes by time alone, the same on every member.
func TestRetentionAudit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		first, second func(*cluster.Registry)
		marks         bool
		left          []string // rows left after the first pass
	}{
		{"current", register, register, true, []string{"altro-old", "recent", "skewed"}},
		{"older member", registerSchema1, registerOlder, false, []string{"altro-old", "recent"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := clustertest.NewClock(startTime)
			node, _ := clustertest.TwoMembers(t, clock.Now, withSQL(c.first), withSQL(c.second))
			var tables int
			if err := node.DB().QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'privacy_marks'`).Scan(&tables); err != nil {
				t.Fatal(err)
			}
			if got := tables == 1; got != c.marks {
				t.Fatalf("privacy_marks exists: %v, want %v", got, c.marks)
			}
			priv := privacy.NewService(node, node.DB(), privacy.Options{Now: clock.Now, Logger: clustertest.Logger(t)})
			cut := clock.Now().Add(-time.Duration(privacy.DefaultPolicy().DaysOf(privacy.ClassAudit)) * 24 * time.Hour)
			// In the order the log would have written them.
			var rows []string
			for i, r := range []struct {
				summary, tenant string
				at              time.Time
			}{
				{"old", "bari", cut.Add(-2 * time.Hour)},
				{"altro-old", "altro", cut.Add(-2 * time.Hour)},
				{"recent", "bari", cut.Add(time.Hour)},
				{"skewed", "bari", cut.Add(-time.Hour)},
			} {
				rows = append(rows, fmt.Sprintf("(%d, %d, %d, '%s', 'u1', 'Anna', '%[4]s', '', 'test.audit', '%s')",
					1000000+i, 100+i, r.at.UnixMilli(), r.tenant, r.summary))
			}
			clustertest.RunSQL(t, node, `INSERT INTO cluster_audit (id, cmd_index, at, tenant, actor_id, actor_name, actor_tenant, actor_addr, type, summary)
				VALUES `+strings.Join(rows, ", "))
			twoPasses(t, priv, clock, node.DB(), `SELECT summary FROM cluster_audit WHERE type = 'test.audit' ORDER BY summary`,
				c.left, []string{"altro-old"})
		})
	}
}
