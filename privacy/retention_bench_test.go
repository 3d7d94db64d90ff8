package privacy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/privacy/legalhold"
	"github.com/sportello-virtuale/sportello/queue"
)

// BenchmarkRetentionLargeOutbox runs one Comune's hourly retention over
// an outbox of 100 000 delivered emails of ten Comuni, all within the
// retention period: the pass has nothing to delete, and the time is what
// finding that out costs apply, on every node, each hour for each Comune.
func BenchmarkRetentionLargeOutbox(b *testing.B) {
	e := newEnvWith(b, clustertest.HandleSQL)
	now := e.clock.Now()
	// Sent rows over the last 20 days, oldest first (the order the log
	// wrote them in), each with a notice of about 1 KB.
	clustertest.RunSQL(b, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
		INSERT INTO cluster_outbox (id, cmd_index, tenant, kind, key, payload, status, created, next_attempt, sent)
		SELECT 'x' || i, 1000000 + i, 'c' || (i %% 10), 'email', 'bench/' || i, zeroblob(1000), 'sent',
			%[1]d + i * %[2]d, %[1]d + i * %[2]d, %[1]d + i * %[2]d FROM n`,
		now.Add(-20*24*time.Hour).UnixNano(), (20*24*time.Hour/100000).Nanoseconds()))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := e.priv.RetainTenant(ctx, "c3"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetentionLargeHistory runs one Comune's hourly retention when
// nothing is due, over a year of history already pseudonymised (100 000
// bookings, 50 000 tickets) and 50 000 audit rows within their period:
// what finding that out costs apply, on every node, each hour for each
// Comune. "schema1" is the retention before privacy schema 2 (the marks'
// table dropped), which reads all of it each time; "marks" starts where
// the last complete pass stopped.
func BenchmarkRetentionLargeHistory(b *testing.B) {
	for _, marks := range []bool{false, true} {
		name := "schema1"
		if marks {
			name = "marks"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnvWith(b, clustertest.HandleSQL)
			ctx := context.Background()
			bk, tk := bookedAndTaken(b, e)
			const n = 100000
			start := bk.Start.Unix()
			copyRows(b, e, "booking_bookings", bk.ID, n, map[string]string{"id": "'h-' || printf('%06d', i)", "code": "'BA-H' || i",
				"start_unix": fmt.Sprint(start, " - 300 * i"), "end_unix": fmt.Sprint(start, " - 300 * i + 1800"),
				"given_name": "''", "family_name": "''", "fiscal_code": "''", "email": "''", "phone": "''", "details": "''"})
			copyRows(b, e, "queue_tickets", tk.Ticket.ID, n/2, map[string]string{"id": "'t-' || i", "seq": "i", "number": "'H' || i",
				"day": "date('2026-03-08', '-' || (i / 150) || ' days')", "secret_hash": "x''"})
			now := e.clock.Now().Add(92 * 24 * time.Hour)
			clustertest.RunSQL(b, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
				INSERT INTO cluster_audit (cmd_index, at, tenant, actor_id, actor_name, actor_tenant, actor_addr, type, summary)
				SELECT 1000000 + i, %d + i, 'bari', 'u1', 'Anna', 'bari', '', 'test.audit', 'x' FROM n`, n/2-1, now.Add(-300*24*time.Hour).UnixMilli()))
			if !marks {
				clustertest.RunSQL(b, e.node, `DROP TABLE privacy_marks`)
			}
			e.clock.Set(now)
			if got, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || got != 2 {
				b.Fatalf("first pass: %d, %v; want the booking and the ticket", got, err)
			}
			b.ResetTimer()
			for range b.N {
				if got, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || got != 0 {
					b.Fatalf("RetainTenant: %d, %v", got, err)
				}
			}
		})
	}
}

// BenchmarkRetentionErasesDue runs the hourly retention of one Comune
// that has 200 bookings due (one command's worth) and a year of tickets
// (50 000, already pseudonymised): the erasure of each booking looks for
// its tickets, rooms and documents. "schema5" drops queue_tickets_code,
// as before queue schema 6, when each booking's tickets were looked for
// through every ticket of the Comune.
func BenchmarkRetentionErasesDue(b *testing.B) {
	for _, index := range []bool{false, true} {
		name := "schema5"
		if index {
			name = "schema6"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnvWith(b, clustertest.HandleSQL, media.Register)
			ctx := context.Background()
			bk, tk := bookedAndTaken(b, e)
			const n = 50000
			copyRows(b, e, "queue_tickets", tk.Ticket.ID, n, map[string]string{"id": "'t-' || i", "seq": "i", "number": "'H' || i",
				"day": "date('2026-03-08', '-' || (i / 150) || ' days')", "secret_hash": "x''"})
			if !index {
				clustertest.RunSQL(b, e.node, `DROP INDEX queue_tickets_code`)
			}
			e.clock.Set(e.clock.Now().Add(92 * 24 * time.Hour))
			if got, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || got != 2 {
				b.Fatalf("first pass: %d, %v; want the booking and the ticket", got, err)
			}
			b.ResetTimer()
			for i := range b.N {
				// A day later, 200 more bookings have ended a retention
				// period ago (after the mark of the pass before).
				b.StopTimer()
				e.clock.Advance(24 * time.Hour)
				start := bk.Start.Unix() + int64(i+1)*86400
				copyRows(b, e, "booking_bookings", bk.ID, 200, map[string]string{"id": fmt.Sprintf("'d%d-' || i", i),
					"code": fmt.Sprintf("'BA-D%d-' || i", i), "start_unix": fmt.Sprint(start), "end_unix": fmt.Sprint(start + 1800), "given_name": "'Maria'"})
				b.StartTimer()
				if got, err := e.priv.RetainTenant(ctx, bari.ID); err != nil || got != 200 {
					b.Fatalf("RetainTenant: %d, %v; want 200", got, err)
				}
			}
		})
	}
}

// BenchmarkHoldCheck asks whether a document is under a legal hold, as
// the erasure of each document does, in a Comune of 100 000 bookings
// with one hold. "join" is the condition as it was before the
// CROSS JOIN, which SQLite answered by reading every booking of the
// Comune.
func BenchmarkHoldCheck(b *testing.B) {
	e := newEnvWith(b, clustertest.HandleSQL, media.Register)
	ctx := context.Background()
	bk := e.bookAt(b, 1, 9, 0, booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S",
		Email: "maria@example.it"}, "")
	copyRows(b, e, "booking_bookings", bk.ID, 100000, map[string]string{"id": "'h-' || printf('%06d', i)", "code": "'BA-H' || i"})
	if err := e.priv.SetHold(ctx, bari.ID, bk.ID, true, "Contenzioso", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		b.Fatal(err)
	}
	// A document of another booking's call: not held, so every clause
	// of the condition is asked.
	clustertest.RunSQL(b, e.node, `INSERT INTO media_docs (tenant, id, room, ref, name, type, size, sha256, sender, chunks, uploaded, expires)
		VALUES ('bari', 'doc', 'room-1', 'booking:BA-H7', 'a.pdf', 'application/pdf', 1, '', 'citizen', 1, 1, 2)`)
	hold, err := legalhold.Load(ctx, e.node.DB())
	if err != nil {
		b.Fatal(err)
	}
	cond := hold.Document("qt")
	for _, c := range []struct{ name, cond string }{
		{"join", strings.Replace(cond, "CROSS JOIN", "JOIN", 1)},
		{"cross", cond},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := `SELECT count(*) FROM media_docs qt WHERE qt.tenant = ? AND qt.id = ? AND ` + c.cond
			for range b.N {
				var n int
				if err := e.node.DB().QueryRowContext(ctx, q, bari.ID, "doc").Scan(&n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bookedAndTaken books the day after startTime and takes a ticket at the
// desk: the rows a benchmark copies into a history.
func bookedAndTaken(b *testing.B, e *env) (booking.Booking, queue.Taken) {
	b.Helper()
	bk := e.bookAt(b, 1, 9, 0, booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S",
		Email: "maria@example.it"}, "")
	tk, err := e.q.Take(context.Background(), bari, queue.TakeRequest{OfficeID: e.off.ID, ServiceID: e.svc.ID,
		Channel: queue.InPerson, Source: queue.SourceDesk})
	if err != nil {
		b.Fatal(err)
	}
	return bk, tk
}
