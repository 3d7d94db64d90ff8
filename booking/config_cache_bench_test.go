package booking

import (
	"context"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// BenchmarkServiceForCreate measures apply's settings query for a booking
// in a slot that holds a few bookings already (as in BenchmarkCreate and
// cmd/loadgen), with the service's configuration cached.
//
//	go test ./booking/ -run '^$' -bench ServiceForCreate
func BenchmarkServiceForCreate(b *testing.B) {
	node, book, svc := benchBook(b)
	ctx := context.Background()
	today := civil.DateOf(time.Now())
	start, _ := today.AddDays(2).In(bari.Location(), 10, 0)
	for i := range int64(5) {
		if _, err := book.Create(ctx, bari, Request{
			ServiceID: svc.ID, Start: start, Channel: InPerson,
			Citizen:         Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: benchFiscalCode(i), Email: "maria@example.it"},
			PrivacyAccepted: true,
		}, "https://bari.example.it"); err != nil {
			b.Fatal(err)
		}
	}
	tx, err := node.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	c := newConfigCache()
	now := time.Now()
	for b.Loop() {
		_, s, err := c.serviceForCreate(ctx, tx, bari.ID, svc.ID, benchFiscalCode(1), start, now)
		if err != nil || s.counts.slot != 5 {
			b.Fatal(err, s)
		}
	}
}
