package booking

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkBookingsDay lists one office's bookings of one day, the
// operator's agenda and the queue's check-in, in a Comune with 20 000
// bookings over 15 days, 1 in 20 of them at that office (about 65 that
// day): through the office index (as Bookings does), and, as the
// baseline in the same run, the statement before it, which SQLite
// answered from the Comune's whole primary key.
func BenchmarkBookingsDay(b *testing.B) {
	_, book, svc := benchBook(b)
	ctx := context.Background()
	slots := benchSlots(b, book, svc)
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "URP", Address: "Via Roma 1", Hours: everyDay(Interval{0, minutesPerDay})})
	if err != nil {
		b.Fatal(err)
	}
	rest := svc
	rest.ID, rest.OfficeID = "", office.ID
	if rest, err = book.SaveService(ctx, bari.ID, rest); err != nil {
		b.Fatal(err)
	}
	const n = 20000
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				id := rest.ID
				if i%20 == 0 {
					id = svc.ID
				}
				_, err := book.Create(ctx, bari, Request{ServiceID: id, Start: slots[int64(i)*spreadStride%int64(len(slots))],
					Channel: InPerson, PrivacyAccepted: true, Citizen: Citizen{GivenName: "Maria", FamilyName: fmt.Sprintf("Rossi %d", i),
						FiscalCode: benchFiscalCode(int64(i)), Email: fmt.Sprintf("m%d@example.it", i)}}, "")
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	from := slots[len(slots)/2].Truncate(24 * time.Hour)
	before := `SELECT ` + bookingColumns + ` FROM booking_bookings
		WHERE tenant = ?1 AND (?2 = '' OR office_id = ?2) AND start_unix >= ?3 AND start_unix < ?4
		ORDER BY start_unix, code`
	for _, c := range []struct{ name, q string }{{"office index", bookingsOfOfficeQuery}, {"before", before}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				rows, err := book.db.QueryContext(ctx, c.q, bari.ID, svc.OfficeID, from.Unix(), from.Add(24*time.Hour).Unix())
				if err != nil {
					b.Fatal(err)
				}
				k := 0
				for rows.Next() {
					k++
				}
				rows.Close()
				if k == 0 {
					b.Fatal("no booking that day")
				}
			}
		})
	}
}
