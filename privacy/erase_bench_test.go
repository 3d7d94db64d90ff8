package privacy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/privacy"
)

// BenchmarkEraseCitizen erases a citizen with three bookings in a
// Comune that holds 50 000 other bookings, 100 000 delivered emails of
// about a kilobyte each in the outbox (what the retention keeps of a
// busy office's last months) and 20 000 recorded request results: the
// time is what one citizen's erasure holds up apply on every node.
func BenchmarkEraseCitizen(b *testing.B) {
	e := newEnvWith(b, clustertest.HandleSQL)
	ctx := context.Background()
	bk := e.bookAt(b, 1, 9, 0, booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S",
		Email: "maria@example.it"}, "")
	const bookings, emails, results = 50000, 100000, 20000
	copyRows(b, e, "booking_bookings", bk.ID, bookings, map[string]string{"id": "'o-' || printf('%06d', i)", "code": "'BA-O' || i",
		"email": "'c' || i || '@example.it'", "fiscal_code": "'CF' || printf('%014d', i)"})
	clustertest.RunSQL(b, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO cluster_outbox (id, cmd_index, tenant, kind, key, payload, status, created, next_attempt, sent)
		SELECT 'x' || i, 1000000 + i, o.tenant, o.kind, 'bench/' || i,
			CAST(replace(replace(CAST(o.payload AS TEXT), 'maria@example.it', 'c' || i || '@example.it'), '%[2]s', 'BA-O' || i) AS BLOB),
			'sent', o.created, o.next_attempt, o.created
		FROM n, (SELECT * FROM cluster_outbox WHERE key LIKE 'booking/%%' LIMIT 1) o`, emails-1, bk.Code))
	clustertest.RunSQL(b, e.node, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		INSERT INTO cluster_requests (rid, cmd_index, type, fingerprint, value, error, at)
		SELECT 'r' || i, 2000000 + i, 'booking.create', 'f', CAST('{"code":"BA-O' || i || '","email":"c' || i || '@example.it"}' AS BLOB), NULL, 1
		FROM n`, results-1))
	citizen := booking.Citizen{GivenName: "Giulia", FamilyName: "Bianchi", FiscalCode: "MRARSS80A01H501T", Email: "Giulia.Bianchi@example.it"}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for k := range 3 {
			e.bookAt(b, 1+k, 10, 0, citizen, "")
		}
		b.StartTimer()
		rep, err := e.priv.EraseCitizen(ctx, bari.ID, privacy.Subject{FiscalCode: citizen.FiscalCode, Email: citizen.Email}, "test")
		if err != nil || rep.Counts[privacy.ClassBookings] != 3 {
			b.Fatalf("erasure %d: %+v, %v; want three bookings", i, rep, err)
		}
	}
}
