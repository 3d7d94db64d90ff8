package privacy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
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
			bk := e.bookAt(b, 1, 9, 0, booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S",
				Email: "maria@example.it"}, "")
			tk, err := e.q.Take(ctx, bari, queue.TakeRequest{OfficeID: e.off.ID, ServiceID: e.svc.ID,
				Channel: queue.InPerson, Source: queue.SourceDesk})
			if err != nil {
				b.Fatal(err)
			}
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
