package privacy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/privacy"
	"github.com/sportello-virtuale/sportello/queue"
)

// clockCluster starts n nodes whose leader stamps commands with clock,
// so that every apply (the queue's check-in window, the documents'
// upload times) follows the test's time.
func clockCluster(t *testing.T, n int, clock *clustertest.Clock, register ...func(*cluster.Registry)) []*cluster.Node {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*cluster.Node, n)
	for i := range nodes {
		id := fmt.Sprintf("node%d", i+1)
		nodes[i] = clustertest.New(t, cluster.Config{NodeID: id, Identity: clustertest.Identity(t, ca, id),
			Join: i > 0, Now: clock.Now}, register...)
	}
	clustertest.Start(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range nodes[1:] {
		errs := make(chan error, 1)
		go func() { errs <- node.Start(ctx) }()
		for node.RaftAddr() == "" {
			time.Sleep(5 * time.Millisecond)
		}
		if err := nodes[0].AddVoter(ctx, node.Config().NodeID, node.RaftAddr()); err != nil {
			t.Fatalf("add %s: %v", node.Config().NodeID, err)
		}
		if err := <-errs; err != nil {
			t.Fatalf("start %s: %v", node.Config().NodeID, err)
		}
	}
	return nodes
}

// TestLegalHoldKeepsCallDocuments puts a booking under legal hold and
// checks, on every node of a three-node cluster with an injected clock,
// that no deletion path erases the documents of its call — those named
// after the booking, after its check-in ticket, or stored in its call
// room — while another booking's document expires as usual: the expiry
// of media/docs, the retention and a citizen's erasure. Once the hold is
// lifted the next expiry erases them.
func TestLegalHoldKeepsCallDocuments(t *testing.T) {
	clock := clustertest.NewClock(startTime)
	nodes := clockCluster(t, 3, clock, func(r *cluster.Registry) { register(r); media.Register(r) })
	ctx := context.Background()
	leader := clustertest.Leader(t, nodes...)
	via := nodes[0]
	for _, n := range nodes {
		if n != leader {
			via = n
		}
	}
	book := booking.NewBook(via, via.DB(), clock.Now, rand.Reader)
	q := queue.New(via, via.DB(), book, clock.Now, rand.Reader)
	store := docs.NewStore(via, nil, clock.Now)
	priv := privacy.NewService(via, via.DB(), privacy.Options{Now: clock.Now, Logger: clustertest.Logger(t)})
	secrets, err := auth.NewSecrets(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	rooms := media.NewRooms(via, secrets, clock.Now)

	var week booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []booking.Interval{{Start: 8*60 + 30, End: 12*60 + 30}}
	}
	off, err := book.SaveOffice(ctx, bari.ID, booking.Office{Name: "Anagrafe", Address: "Piazza 1", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, booking.Service{OfficeID: off.ID, Name: "CIE", Description: "CIE.",
		Duration: 30 * time.Minute, Channels: []booking.Channel{booking.InPerson}, Capacity: 5, MinNotice: time.Hour, HorizonDays: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Configure(ctx, bari.ID, queue.OfficeConfig{OfficeID: off.ID, Sample: 3,
		EarlyCheckIn: queue.DefaultEarlyCheckIn, LateCheckIn: queue.DefaultLateCheckIn}); err != nil {
		t.Fatal(err)
	}
	bookAt := func(hh, mm int, c booking.Citizen) booking.Booking {
		t.Helper()
		cr, err := book.Create(ctx, bari, booking.Request{ServiceID: svc.ID, Channel: booking.InPerson, PrivacyAccepted: true,
			Start: time.Date(2026, 3, 9, hh, mm, 0, 0, bari.Location()), Citizen: c}, "https://bari.example.it")
		if err != nil {
			t.Fatalf("book: %v", err)
		}
		return cr.Booking
	}
	maria := booking.Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: "RSSMRA85T10A562S", Email: "maria@example.it"}
	luigi := booking.Citizen{GivenName: "Luigi", FamilyName: "Bianchi", FiscalCode: fiscalCode(t, "BNCLGU80A01A662"), Email: "luigi@example.it"}
	held := bookAt(10, 0, maria)
	free := bookAt(10, 30, luigi)

	// Maria checks in at 09:50: her ticket carries the booking's code.
	clock.Set(time.Date(2026, 3, 9, 9, 50, 0, 0, bari.Location()))
	taken, err := q.Take(ctx, bari, queue.TakeRequest{OfficeID: off.ID, Channel: queue.InPerson,
		BookingCode: held.Code, Source: queue.SourceDesk})
	if err != nil {
		t.Fatalf("check-in: %v", err)
	}
	room, err := rooms.Open(ctx, bari.ID, media.RoomRef{Kind: media.RefBooking, ID: held.Code}, clock.Now(), clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("open room: %v", err)
	}
	put := func(room, ref, name string) docs.Document {
		t.Helper()
		pdf := []byte("%PDF-1.7\n1 0 obj << /Title (" + name + ") >> endobj\n" + strings.Repeat("x", 500) + "\n%%EOF\n")
		d, err := store.Put(ctx, bari.ID, room, ref, "Operatore", name+".pdf", bytes.NewReader(pdf), docs.Policy{})
		if err != nil {
			t.Fatalf("Put %s: %v", name, err)
		}
		return d
	}
	byBooking := put("stanza-a", "booking:"+held.Code, "per-prenotazione")
	byTicket := put("stanza-t", "ticket:"+taken.Ticket.ID, "per-biglietto")
	inRoom := put(room.ID, "", "nella-stanza")
	other := put("stanza-b", "booking:"+free.Code, "altra-prenotazione")
	keptIDs := []string{byBooking.ID, byTicket.ID, inRoom.ID}

	if err := priv.SetHold(ctx, bari.ID, held.ID, true, "Contenzioso", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		t.Fatalf("SetHold: %v", err)
	}

	// present reports, on every node once it has caught up, which of
	// the documents still have their row and all their chunks.
	present := func(label string, want map[string]bool) {
		t.Helper()
		for _, n := range nodes {
			if err := n.ReadFresh(ctx); err != nil {
				t.Fatalf("%s: ReadFresh: %v", n.Config().NodeID, err)
			}
			for id, w := range want {
				var rows, chunks int
				n.DB().QueryRow(`SELECT COUNT(*) FROM media_docs WHERE tenant = 'bari' AND id = ?`, id).Scan(&rows)
				n.DB().QueryRow(`SELECT COUNT(*) FROM media_doc_chunks WHERE tenant = 'bari' AND doc = ?`, id).Scan(&chunks)
				if got := rows == 1 && chunks > 0; got != w {
					t.Errorf("%s, %s: document %s present %t (row %d, chunks %d), want %t",
						label, n.Config().NodeID, id, got, rows, chunks, w)
				}
			}
		}
	}

	// 31 days later every document has expired: media/docs' own expiry
	// erases only the one of the booking without a hold.
	clock.Advance(31 * 24 * time.Hour)
	if _, err := store.Expire(ctx); err != nil {
		t.Fatalf("Expire: %v", err)
	}
	present("after the expiry", map[string]bool{byBooking.ID: true, byTicket.ID: true, inRoom.ID: true, other.ID: false})
	// The Comune can still read what the hold keeps; the expired one is
	// gone for readers too.
	if got := readDoc(t, store, byBooking.ID); !bytes.HasPrefix(got, []byte("%PDF-")) {
		t.Errorf("held document read back as %q", got)
	}
	if _, err := store.Get(ctx, bari.ID, other.ID); !errors.Is(err, docs.ErrNotFound) {
		t.Errorf("expired document: Get = %v, want ErrNotFound", err)
	}
	if list, err := store.ListRef(ctx, bari.ID, "booking:"+held.Code); err != nil || len(list) != 1 {
		t.Errorf("held booking's documents: %d, %v; want 1", len(list), err)
	}

	// The retention (documents 30 days, tickets 30 days) keeps them, and
	// the check-in ticket keeps its link to the held booking.
	if _, err := priv.RetainTenant(ctx, bari.ID); err != nil {
		t.Fatalf("RetainTenant: %v", err)
	}
	present("after the retention", map[string]bool{byBooking.ID: true, byTicket.ID: true, inRoom.ID: true})
	var code string
	via.DB().QueryRow(`SELECT booking_code FROM queue_tickets WHERE tenant = 'bari' AND id = ?`, taken.Ticket.ID).Scan(&code)
	if code != held.Code {
		t.Errorf("held booking's ticket lost its booking code: %q", code)
	}

	// A citizen's erasure of Maria keeps the held booking and its
	// documents.
	if _, err := priv.EraseCitizen(ctx, bari.ID, privacy.Subject{FiscalCode: maria.FiscalCode, Email: maria.Email}, "richiesta"); err != nil {
		t.Fatalf("EraseCitizen: %v", err)
	}
	present("after the citizen's erasure", map[string]bool{byBooking.ID: true, byTicket.ID: true, inRoom.ID: true})

	// The hold lifted, the next expiry erases them on every node.
	if err := priv.SetHold(ctx, bari.ID, held.ID, false, "", cluster.Actor{ID: "u1", Name: "Anna"}); err != nil {
		t.Fatalf("lift hold: %v", err)
	}
	if n, err := store.Expire(ctx); err != nil || n != len(keptIDs) {
		t.Fatalf("Expire after the hold: %d, %v; want %d", n, err, len(keptIDs))
	}
	present("after the hold is lifted", map[string]bool{byBooking.ID: false, byTicket.ID: false, inRoom.ID: false})
}
