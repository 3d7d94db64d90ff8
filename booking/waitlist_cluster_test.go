package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestWaitlistOnThreeNodes runs the waiting list over a real three-node
// Raft cluster whose leader stamps commands with an injected clock: a
// cancellation through one follower holds the seat on every node, a
// booking through the other follower is refused, the expiry proposed by
// every node's worker at once passes the seat once, and the next in
// line books it through the leader.
func TestWaitlistOnThreeNodes(t *testing.T) {
	t.Parallel()
	clock := clustertest.NewClock(startTime)
	nodes := reminderCluster(t, clock, &deliveries{by: map[string][]string{}})
	books := make([]*Book, len(nodes))
	for i, n := range nodes {
		books[i] = NewBook(n, n.DB(), clock.Now, rand.Reader)
	}
	ctx := context.Background()
	loc := bari.Location()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	office, err := books[0].SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := books[0].SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, MinNotice: time.Hour, HorizonDays: 60, CancelDeadline: time.Hour, MaxActivePerCitizen: 1})
	if err != nil {
		t.Fatal(err)
	}
	slot := time.Date(2026, 3, 11, 10, 0, 0, 0, loc)
	req := func(n int) Request {
		return Request{ServiceID: svc.ID, Start: slot, Channel: InPerson, PrivacyAccepted: true,
			Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(n), Email: "maria@example.it"}}
	}
	holder, err := books[1].Create(ctx, bari, req(1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	join := func(b *Book, email string) WaitJoined {
		j, err := b.JoinWaitlist(ctx, bari, WaitRequest{ServiceID: svc.ID, PrivacyAccepted: true,
			Citizen: Citizen{GivenName: "Anna", FamilyName: "Bianchi", Email: email}}, "https://bari.example.it")
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	first := join(books[2], "first@example.it")
	second := join(books[1], "second@example.it")
	if _, err := books[2].Cancel(ctx, bari, holder.Booking.Code, holder.ManageToken, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	status := func(b *Book, j WaitJoined) WaitStatus {
		e, err := b.WaitEntry(ctx, bari.ID, j.Entry.ID, j.Token)
		if err != nil {
			return ""
		}
		return e.Status
	}
	for i, b := range books {
		eventually(t, "the offer on every node", func() bool { return status(b, first) == WaitOffered })
		if s := status(b, second); s != WaitWaiting {
			t.Errorf("node%d: second in line %s, want waiting", i+1, s)
		}
	}
	if _, err := books[1].Create(ctx, bari, req(9), "https://bari.example.it"); !errors.Is(err, ErrSlotFull) {
		t.Fatalf("booking the held seat through a follower: %v, want ErrSlotFull", err)
	}

	clock.Advance(DefaultOfferHold + time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	expired := 0
	for _, b := range books {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &WaitlistWorker{Book: b, Log: clustertest.Logger(t),
				Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }}
			n, err := w.Tick(ctx)
			if err != nil && !errors.Is(err, cluster.ErrNotLeader) {
				t.Errorf("Tick: %v", err)
			}
			mu.Lock()
			expired += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if expired != 1 {
		t.Errorf("three workers expired %d offers, want 1", expired)
	}
	for _, b := range books {
		eventually(t, "the next in line offered on every node", func() bool {
			return status(b, first) == WaitLapsed && status(b, second) == WaitOffered
		})
	}
	items, err := nodes[0].Outbox(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	offers := 0
	for _, it := range items {
		if it.Kind == WaitlistOutboxKind && strings.HasPrefix(it.Key, "waitlist/bari/"+second.Entry.ID+"/offer/") {
			offers++
		}
	}
	if offers != 1 {
		t.Errorf("%d offer emails queued for the second in line, want 1", offers)
	}
	c, err := books[0].AcceptOffer(ctx, bari, second.Entry.ID, second.Token, Acceptance{FiscalCode: testFiscalCode(2), Channel: InPerson, PrivacyAccepted: true}, "https://bari.example.it")
	if err != nil {
		t.Fatalf("accept through the leader: %v", err)
	}
	for _, b := range books {
		eventually(t, "the booking on every node", func() bool {
			_, err := b.Get(ctx, bari.ID, c.Booking.Code, c.ManageToken)
			return err == nil
		})
	}
}
