package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestOfficeStepsThroughFollower records the office's steps on a
// follower of a three-node cluster: they are forwarded to the leader,
// their refusals keep matching with errors.Is, every node applies the
// same record, and every node advertises the new commands and schema to
// the version gate.
func TestOfficeStepsThroughFollower(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, Register)
	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	for _, n := range nodes {
		caps := n.Capabilities()
		// Serve and note.add are at version 2: their note may be
		// sealed (seal.go).
		for typ, want := range map[string]int{CmdArrive: payloadVersion, CmdServe: sealedNoteVersion, CmdNoShow: payloadVersion,
			CmdNoteAdd: sealedNoteVersion, CmdOfficeCancel: payloadVersion} {
			if caps[typ] != want {
				t.Errorf("node advertises %s v%d, want v%d", typ, caps[typ], want)
			}
		}
		if caps["schema:booking"] < 3 {
			t.Errorf("node advertises booking schema %d, want at least 3", caps["schema:booking"])
		}
	}
	book := NewBook(follower, follower.DB(), time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var week Week
	for d := time.Sunday; d <= time.Saturday; d++ {
		week[d] = []Interval{{hm(0, 0), hm(24, 0)}}
	}
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{
		OfficeID: office.ID, Name: "CIE", Duration: 30 * time.Minute, Channels: []Channel{InPerson},
		Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Three days ahead, so the booking is never "today" in Rome, or the
	// first day after on which the office opens (not a national holiday
	// or the patron day).
	loc := bari.Location()
	day := time.Now().In(loc).AddDate(0, 0, 3)
	for closed, _ := bari.ClosedOn(civil.DateOf(day)); closed; closed, _ = bari.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, loc)
	c, err := book.Create(ctx, bari, Request{
		ServiceID: svc.ID, Start: start, Channel: InPerson, PrivacyAccepted: true,
		Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(1), Email: "maria@example.it"},
	}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	op := Operator{ID: "u-1", Name: "Olga Verdi"}
	if _, err := book.Arrive(ctx, bari, office.ID, c.Booking.ID, op); !errors.Is(err, ErrNotToday) {
		t.Errorf("early arrival through a follower: got %v, want ErrNotToday", err)
	}
	if _, err := book.NoShow(ctx, bari, office.ID, c.Booking.ID, op); !errors.Is(err, ErrNotStarted) {
		t.Errorf("early no-show through a follower: got %v, want ErrNotStarted", err)
	}
	if _, err := book.AddNote(ctx, bari, office.ID, c.Booking.ID, op, ""); !isField(err, "note") {
		t.Errorf("empty note: got %v, want a field error", err)
	}
	w, err := book.CancelByOffice(ctx, bari, office.ID, c.Booking.ID, op, "Sportello chiuso per guasto.", "https://bari.example.it")
	if err != nil {
		t.Fatalf("CancelByOffice through a follower: %v", err)
	}
	if _, err := book.Serve(ctx, bari, office.ID, c.Booking.ID, op, ""); !errors.Is(err, ErrCancelled) {
		t.Errorf("serve after the cancel: got %v, want ErrCancelled", err)
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, w.Index); err != nil {
			t.Fatal(err)
		}
		it, err := NewBook(n, n.DB(), time.Now, rand.Reader).AgendaItem(ctx, bari, c.Booking.ID)
		if err != nil {
			t.Fatal(err)
		}
		if it.State() != "cancelled_by_office" || it.Handling.CancelledBy != op || it.Handling.CancelReason != "Sportello chiuso per guasto." {
			t.Errorf("a node holds %s %+v, want the office's cancellation", it.State(), it.Handling)
		}
	}
}
