package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// Schema 10: the caps' counts use the partial index of their column, and
// the email index holds only filed emails, so a booking of a service
// without an email cap adds nothing to it. (The caps themselves, across
// nodes, are TestFairCapsAcrossNodes.)
func TestSchemaV10FairCountsUseTheirIndexes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	for _, col := range []string{"email", "phone"} {
		got := clustertest.QueryPlan(t, f.node, fairCountQuery(col), bari.ID, f.svc.ID, "x", 0)
		if want := "USING COVERING INDEX booking_fair_contacts_" + col; !strings.Contains(got, want) {
			t.Errorf("plan of the %s count:\n%s\nwant %s", col, got, want)
		}
	}
	c, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 16, 9, 0), 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	var filed string
	if err := f.node.DB().QueryRow(`SELECT email FROM booking_fair_contacts WHERE tenant = ? AND booking_id = ?`,
		bari.ID, c.Booking.ID).Scan(&filed); err != nil {
		t.Fatal(err)
	}
	if filed != "" {
		t.Fatalf("email filed for a service without an email cap: %q", filed)
	}
	// An index without the empty values cannot answer a query for them.
	var n int
	err = f.node.DB().QueryRow(`SELECT count(*) FROM booking_fair_contacts INDEXED BY booking_fair_contacts_email
		WHERE tenant = ? AND service_id = ? AND email = ''`, bari.ID, f.svc.ID).Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "no query solution") {
		t.Errorf("empty emails through the email index: %d rows, err %v; want them left out of the index", n, err)
	}
}

// The caps hold the same on a node that has not run schema 10 yet (the
// email index still holds every value): the counts' extra term is true of
// every value they compare.
func TestFairCapsBeforeSchema10(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, undo string }{
		{"current", ""},
		{"before schema 10", `DROP INDEX booking_fair_contacts_email;
			CREATE INDEX booking_fair_contacts_email ON booking_fair_contacts (tenant, service_id, email)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clk := clustertest.NewClock(startTime)
			node := undoMigrations(t, clk, c.undo)
			book := NewBook(node, node.DB(), clk.Now, rand.Reader)
			ctx := context.Background()
			svc := openService(t, book)
			if _, err := book.SaveFairSettings(ctx, bari.ID, svc.ID, FairSettings{MaxActivePerEmail: 1, MaxActivePerPhone: 1}); err != nil {
				t.Fatal(err)
			}
			for i, b := range []struct {
				email, phone string
				want         error
			}{
				{"anna@example.it", "080 123456", nil},
				{" Anna@Example.it", "", ErrEmailCap},
				{"bruno@example.it", "+39 080123456", ErrPhoneCap},
				{"bruno@example.it", "", nil},
			} {
				_, err := book.Create(ctx, bari, Request{ServiceID: svc.ID, Start: time.Date(2026, 3, 16+i, 9, 0, 0, 0, time.UTC),
					Channel: InPerson, PrivacyAccepted: true, Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi",
						FiscalCode: testFiscalCode(60 + i), Email: b.email, Phone: b.phone}}, "https://bari.example.it")
				if !errors.Is(err, b.want) {
					t.Errorf("booking %d (%q, %q): %v, want %v", i, b.email, b.phone, err, b.want)
				}
			}
		})
	}
}
