package booking

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// BenchmarkCreate measures Book.Create, the domain layer between the
// store (cluster's BenchmarkPropose) and HTTP (cmd/loadgen): a one-node
// cluster with its real raft log and SQLite, a service open around the
// clock in 5-minute slots of 1000 places, each booking by a distinct
// citizen, with 1 to 256 concurrent clients. Emails are queued in the
// outbox, not delivered. It reports bookings/s and the p50 and p99
// latency of Create.
//
//	go test ./booking/ -run '^$' -bench Create -benchtime 5000x
func BenchmarkCreate(b *testing.B) {
	for _, clients := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchCreate(b, clients, 1)
		})
	}
}

// BenchmarkCreateSpread is BenchmarkCreate at 256 clients with the
// bookings spread over the slots as citizens spread them: consecutive
// bookings go to slots spreadStride apart instead of to the next slot.
// The indexes keyed by start time (booking_bookings_slot, _office,
// _start) then take each booking on a leaf page of its own, as in a
// real Comune, where BenchmarkCreate and cmd/loadgen, filling the slots
// in order, put a whole batch on one or two pages of each: the FSM's
// cost per booking is about a third higher here (the inserts and the
// COMMIT, which writes each dirtied page to the WAL).
//
//	go test ./booking/ -run '^$' -bench CreateSpread -benchtime 20000x
func BenchmarkCreateSpread(b *testing.B) {
	benchCreate(b, 256, spreadStride)
}

// spreadStride is a prime larger than the slots of a 15-day horizon in
// 5-minute slots (4 320), so i·spreadStride mod n visits every slot.
const spreadStride = 7919

// benchBook starts a one-node cluster with its real raft log and SQLite
// and saves, through its Book, a service open around the clock in
// 5-minute slots of 1000 places.
func benchBook(b *testing.B) (*cluster.Node, *Book, Service) {
	b.Helper()
	node := clustertest.New(b, cluster.Config{Logger: clustertest.Logger(b)}, Register)
	clustertest.Start(b, node)
	ctx := context.Background()
	book := NewBook(node, node.DB(), time.Now, rand.Reader)
	var week Week
	for d := range week {
		week[d] = []Interval{{0, minutesPerDay}}
	}
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{
		OfficeID: office.ID, Name: "Carta d'identità", Description: "Prova di carico.",
		Duration: 5 * time.Minute, Channels: []Channel{InPerson}, Capacity: 1000, HorizonDays: 15,
	})
	if err != nil {
		b.Fatal(err)
	}
	return node, book, svc
}

// benchSlots returns the starts of svc's free slots over its horizon,
// clear of the minimum notice while the benchmark runs.
func benchSlots(b *testing.B, book *Book, svc Service) []time.Time {
	b.Helper()
	today := civil.DateOf(time.Now())
	all, err := book.Slots(context.Background(), bari, svc.ID, today, today.AddDays(14))
	if err != nil {
		b.Fatal(err)
	}
	var slots []time.Time
	for _, s := range all {
		if s.Start.After(time.Now().Add(time.Hour)) {
			slots = append(slots, s.Start)
		}
	}
	return slots
}

func benchCreate(b *testing.B, clients int, stride int64) {
	_, book, svc := benchBook(b)
	ctx := context.Background()
	slots := benchSlots(b, book, svc)

	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				_, err := book.Create(ctx, bari, Request{
					ServiceID: svc.ID, Start: slots[i*stride%int64(len(slots))], Channel: InPerson,
					Citizen: Citizen{
						GivenName: "Maria", FamilyName: fmt.Sprintf("Rossi %d", i),
						FiscalCode: benchFiscalCode(i), Email: fmt.Sprintf("maria%d@example.it", i),
					},
					PrivacyAccepted: true,
				}, "https://bari.example.it")
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "bookings/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// benchFiscalCode returns a valid codice fiscale for each i below 26^6:
// the surname and name letters spell i in base 26.
func benchFiscalCode(i int64) string {
	var letters [6]byte
	for k := 5; k >= 0; k-- {
		letters[k] = byte('A' + i%26)
		i /= 26
	}
	s := string(letters[:]) + "85T10A562"
	return s + string(fiscalCheck(s))
}

// BenchmarkComposeEmail measures the leader's work per email before SMTP:
// the MIME message with its text, HTML and ICS parts.
//
//	go test ./booking/ -run '^$' -bench ComposeEmail
func BenchmarkComposeEmail(b *testing.B) {
	n := testNotice(NoticeConfirm, InPerson)
	at := time.Date(2027, 3, 10, 9, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, _, _, err := ComposeEmail(n, at); err != nil {
			b.Fatal(err)
		}
	}
}
