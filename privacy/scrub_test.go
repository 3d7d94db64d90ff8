package privacy_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/privacy"
)

// TestEraseCitizenScrubsCopiesByContent: a citizen's erasure deletes the
// outbox rows of the Comune and the recorded request results that carry
// one of the citizen's booking codes, email or codice fiscale, in any
// case of ASCII letters, and nothing else; the rows are exactly those
// the statements before one pass for all texts deleted (one
// instr(lower(...)) per text), which nodes of the previous version still
// run on the same command.
func TestEraseCitizenScrubsCopiesByContent(t *testing.T) {
	e := newEnvWith(t, clustertest.HandleSQL)
	ctx := context.Background()
	citizen := booking.Citizen{GivenName: "Giulia", FamilyName: "Bianchi", FiscalCode: "MRARSS80A01H501T", Email: "Giulia.Bianchi@example.it"}
	// Fifteen bookings: with the email in two cases and the codice
	// fiscale, more texts than one pass takes (needlesPerPass).
	var bs []booking.Booking
	for i := range 15 {
		bs = append(bs, e.bookAt(t, 1+i/8, 8+(i%8+1)/2, 30*((i%8+1)%2), citizen, ""))
	}
	b1, b2 := bs[0], bs[len(bs)-1]
	other := e.bookAt(t, 1, 9, 0, booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}, "")
	clustertest.RunSQL(t, e.node, `INSERT INTO cluster_outbox (id, cmd_index, tenant, kind, key, payload, status, created, next_attempt) VALUES
		('p-upper', 1, 'bari', 'email', 'p/1', CAST('{"to":"GIULIA.BIANCHI@EXAMPLE.IT"}' AS BLOB), 'sent', 1, 1),
		('p-code', 1, 'bari', 'email', 'p/2', CAST('{"x":"`+strings.ToLower(b2.Code)+`"}' AS BLOB), 'sent', 1, 1),
		('p-fc', 1, 'bari', 'appio', 'p/3', CAST('{"fiscal_code":"mrarss80a01h501t","é":"\u00e9"}' AS BLOB), 'pending', 1, 1),
		('p-roma', 1, 'roma', 'email', 'p/4', CAST('{"to":"giulia.bianchi@example.it"}' AS BLOB), 'sent', 1, 1),
		('p-other', 1, 'bari', 'email', 'p/5', CAST('{"to":"maria@example.it","code":"`+other.Code+`"}' AS BLOB), 'sent', 1, 1),
		('p-part', 1, 'bari', 'email', 'p/6', CAST('{"to":"giulia.bianchi@example.i"}' AS BLOB), 'sent', 1, 1)`)
	// Recorded now, so the idempotency window does not prune them.
	at := strconv.FormatInt(e.clock.Now().UnixMilli(), 10)
	clustertest.RunSQL(t, e.node, `INSERT INTO cluster_requests (rid, cmd_index, type, fingerprint, value, error, at) VALUES
		('r-code', 1, 'booking.create', 'f', CAST('{"code":"`+b1.Code+`"}' AS BLOB), NULL, `+at+`),
		('r-null', 1, 'booking.create', 'f', NULL, NULL, `+at+`),
		('r-other', 1, 'booking.create', 'f', CAST('{"code":"`+other.Code+`"}' AS BLOB), NULL, `+at+`)`)

	ids := func(q string, args ...any) []string {
		t.Helper()
		return column(t, e.node.DB(), q, args...)
	}
	// What the statements of the previous version delete: one per text.
	var oldOutbox, oldRequests []string
	texts := []string{citizen.Email, strings.ToLower(citizen.Email), citizen.FiscalCode}
	for _, b := range bs {
		texts = append(texts, b.Code)
	}
	for _, s := range texts {
		oldOutbox = append(oldOutbox, ids(`SELECT id FROM cluster_outbox WHERE tenant = ? AND instr(lower(CAST(payload AS TEXT)), lower(?)) > 0`, "bari", s)...)
		oldRequests = append(oldRequests, ids(`SELECT rid FROM cluster_requests WHERE instr(lower(CAST(value AS TEXT)), lower(?)) > 0`, s)...)
	}
	slices.Sort(oldOutbox)
	oldOutbox = slices.Compact(oldOutbox)
	slices.Sort(oldRequests)
	oldRequests = slices.Compact(oldRequests)
	for _, want := range []string{"p-upper", "p-code", "p-fc"} {
		if !slices.Contains(oldOutbox, want) {
			t.Fatalf("the old statements would keep %s (%v): the test's rows are wrong", want, oldOutbox)
		}
	}
	allOutbox := ids(`SELECT id FROM cluster_outbox ORDER BY id`)
	allRequests := ids(`SELECT rid FROM cluster_requests ORDER BY rid`)

	rep, err := e.priv.EraseCitizen(ctx, bari.ID, privacy.Subject{FiscalCode: citizen.FiscalCode, Email: citizen.Email}, "test")
	if err != nil || rep.Counts[privacy.ClassBookings] != len(bs) {
		t.Fatalf("EraseCitizen: %+v, %v; want %d bookings", rep, err, len(bs))
	}
	keep := func(all, gone []string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return slices.Contains(gone, s) })
	}
	if got, want := ids(`SELECT id FROM cluster_outbox ORDER BY id`), keep(allOutbox, oldOutbox); !slices.Equal(got, want) {
		t.Errorf("outbox after the erasure: %v, want %v", got, want)
	}
	// (The erasure's own request is recorded too: only the rows there
	// before count.)
	after := ids(`SELECT rid FROM cluster_requests ORDER BY rid`)
	if got, want := slices.DeleteFunc(after, func(s string) bool { return !slices.Contains(allRequests, s) }), keep(allRequests, oldRequests); !slices.Equal(got, want) {
		t.Errorf("recorded requests after the erasure: %v, want %v", got, want)
	}
	for _, kept := range []string{"p-roma", "p-other", "p-part"} {
		if !slices.Contains(ids(`SELECT id FROM cluster_outbox`), kept) {
			t.Errorf("the erasure deleted %s, which does not name the citizen in bari", kept)
		}
	}
	if r := ids(`SELECT rid FROM cluster_requests`); !slices.Contains(r, "r-other") || !slices.Contains(r, "r-null") || slices.Contains(r, "r-code") {
		t.Errorf("recorded requests after the erasure: %v, want r-code gone, r-other and r-null kept", r)
	}
}

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
