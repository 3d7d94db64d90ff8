package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestCreateThroughFollower books on a follower of a three-node cluster:
// the command is forwarded to the leader, the caller gets the same Created
// as on the leader and reads it back on the follower at once, and the
// leader's domain errors keep working with errors.Is and errors.As.
func TestCreateThroughFollower(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, Register)
	leader, follower := clustertest.LeaderAndFollower(t, nodes...)
	book := NewBook(follower, follower.DB(), time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start, req := followerService(t, ctx, book)

	created, err := book.Create(ctx, bari, req(1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create through a follower: %v", err)
	}
	if created.Booking.Code == "" || created.ManageToken == "" || created.Index == 0 || !created.Booking.Start.Equal(start) {
		t.Errorf("Create through a follower: got %+v, want a booking at %v with code, token and index", created, start)
	}
	got, err := book.Get(ctx, bari.ID, created.Booking.Code, created.ManageToken)
	if err != nil || got.ID != created.Booking.ID {
		t.Errorf("Get on the follower right after: got %+v, %v; want booking %s", got, err, created.Booking.ID)
	}
	// The leader's result, decoded on the follower, is the stored row.
	if !reflect.DeepEqual(inUTC(created.Booking), inUTC(got)) {
		t.Errorf("Create through a follower returned\n%+v\nbut the follower stores\n%+v", created.Booking, got)
	}
	// A video booking gets its join token back through the follower.
	video := req(3)
	video.Start, video.Channel = start.Add(30*time.Minute), Video
	vc, err := book.Create(ctx, bari, video, "https://bari.example.it")
	if err != nil {
		t.Fatalf("video booking through a follower: %v", err)
	}
	vgot, err := book.Get(ctx, bari.ID, vc.Booking.Code, vc.ManageToken)
	if err != nil || vc.Booking.JoinToken == "" || !reflect.DeepEqual(inUTC(vc.Booking), inUTC(vgot)) {
		t.Errorf("video booking through a follower: got %+v, stored %+v (%v); want the same, with a join token", vc.Booking, vgot, err)
	}

	_, err = book.Create(ctx, bari, req(2), "https://bari.example.it")
	if !errors.Is(err, ErrSlotFull) {
		t.Fatalf("second booking of a one-desk slot through a follower: got %v, want ErrSlotFull", err)
	}
	_, err = book.Create(ctx, bari, req(1), "https://bari.example.it")
	if !errors.Is(err, ErrAlreadyBooked) && !errors.Is(err, ErrSlotFull) {
		t.Fatalf("same citizen again: got %v, want ErrAlreadyBooked or ErrSlotFull", err)
	}

	leaderBook := NewBook(leader, leader.DB(), time.Now, rand.Reader)
	onLeader, err := leaderBook.Get(ctx, bari.ID, created.Booking.Code, created.ManageToken)
	if err != nil || onLeader.ID != created.Booking.ID {
		t.Errorf("Get on the leader: got %+v, %v", onLeader, err)
	}
}

// followerService saves, through book, an office and a one-desk service
// open on weekday mornings, and returns a slot three weekdays ahead and
// the request of citizen number i for it.
func followerService(t *testing.T, ctx context.Context, book *Book) (time.Time, func(i int) Request) {
	t.Helper()
	var week Week
	for d := time.Monday; d <= time.Friday; d++ {
		week[d] = []Interval{{hm(8, 30), hm(12, 30)}}
	}
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84, 70122 Bari", Hours: week})
	if err != nil {
		t.Fatalf("SaveOffice through a follower: %v", err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{
		OfficeID: office.ID, Name: "Rilascio carta d'identità elettronica", Category: "Anagrafe e stato civile",
		Duration: 30 * time.Minute, Channels: []Channel{InPerson, Video}, Capacity: 1,
		MinNotice: 2 * time.Hour, HorizonDays: 60, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatalf("SaveService through a follower: %v", err)
	}

	// A working day at least three days ahead, 10:00 in Rome: not a
	// weekend, a national holiday or the Comune's patron day, on which
	// the office is closed.
	loc := bari.Location()
	day := time.Now().In(loc).AddDate(0, 0, 3)
	for closed, _ := bari.ClosedOn(civil.DateOf(day)); closed || day.Weekday() == time.Saturday || day.Weekday() == time.Sunday; closed, _ = bari.ClosedOn(civil.DateOf(day)) {
		day = day.AddDate(0, 0, 1)
	}
	start := time.Date(day.Year(), day.Month(), day.Day(), 10, 0, 0, 0, loc)
	req := func(citizen int) Request {
		return Request{
			ServiceID: svc.ID, Start: start, Channel: InPerson, PrivacyAccepted: true,
			Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(citizen),
				Email: "maria@example.it"},
		}
	}
	return start, req
}

// TestGetFindsOwnWriteOnLaggingFollower: Create on a follower answers with
// the leader's result without waiting for the follower to apply it; a
// read of the new booking on that follower (the page the form redirects
// to, the API's GET) waits for the follower's own writes instead, so the
// citizen finds the booking there.
func TestGetFindsOwnWriteOnLaggingFollower(t *testing.T) {
	t.Parallel()
	gate := clustertest.NewGate()
	nodes := clustertest.Cluster(t, 3, Register, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, follower := clustertest.LeaderAndFollower(t, nodes...)
	book := NewBook(follower, follower.DB(), time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, req := followerService(t, ctx, book)

	gate.Hold(follower.Config().NodeID)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}
	created, err := book.Create(ctx, bari, req(1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create on a lagging follower: %v", err)
	}
	if follower.AppliedIndex() >= created.Index {
		t.Fatalf("the follower applied %d, want it behind the booking at %d (held)", follower.AppliedIndex(), created.Index)
	}
	type result struct {
		b   Booking
		err error
	}
	got := make(chan result, 2)
	go func() {
		b, err := book.Get(ctx, bari.ID, created.Booking.Code, created.ManageToken)
		got <- result{b, err}
	}()
	go func() {
		b, err := book.ByCode(ctx, bari.ID, created.Booking.Code)
		got <- result{b, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("a read returned %+v, %v while the follower had not applied the booking", r.b, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(follower.Config().NodeID)
	for range 2 {
		r := <-got
		if r.err != nil || r.b.ID != created.Booking.ID {
			t.Errorf("read on the follower after its catch-up: %+v, %v; want booking %s", r.b, r.err, created.Booking.ID)
		}
	}
	// A code that does not exist is still not found, at once.
	if _, err := book.Get(ctx, bari.ID, "PR-0000-0000", created.ManageToken); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown code: %v, want ErrNotFound", err)
	}
}

// inUTC returns b with its times in UTC, to compare bookings read in
// different zones.
func inUTC(b Booking) Booking {
	b.Start, b.End, b.Created, b.Updated = b.Start.UTC(), b.End.UTC(), b.Created.UTC(), b.Updated.UTC()
	return b
}

// A booking made through another node is found through a follower that
// holds it in its log and has not applied it yet: the citizen's browser
// may reach any node after the form's redirect. The read waits for the
// follower's apply instead of answering "not found".
func TestByCodeFindsAnotherNodesBookingOnLaggingFollower(t *testing.T) {
	t.Parallel()
	gate := clustertest.NewGate()
	nodes := clustertest.Cluster(t, 3, Register, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, follower := clustertest.LeaderAndFollower(t, nodes...)
	lbook := NewBook(leader, leader.DB(), time.Now, rand.Reader)
	fbook := NewBook(follower, follower.DB(), time.Now, rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, req := followerService(t, ctx, lbook)

	gate.Hold(follower.Config().NodeID)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}
	created, err := lbook.Create(ctx, bari, req(1), "https://bari.example.it")
	if err != nil {
		t.Fatalf("Create on the leader: %v", err)
	}
	// A majority holds the booking's entry; this follower may receive it
	// a moment after the leader answered.
	for follower.Status().LastLogIndex < created.Index {
		if ctx.Err() != nil {
			t.Fatal("the follower never received the booking's entry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if follower.AppliedIndex() >= created.Index {
		t.Fatalf("the follower applied %d, want it behind the booking at %d (held)", follower.AppliedIndex(), created.Index)
	}
	type result struct {
		b   Booking
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := fbook.ByCode(ctx, bari.ID, created.Booking.Code)
		got <- result{b, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("ByCode returned %+v, %v while the follower had not applied the booking", r.b, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(follower.Config().NodeID)
	if r := <-got; r.err != nil || r.b.ID != created.Booking.ID {
		t.Errorf("ByCode on the follower after its catch-up: %+v, %v; want booking %s", r.b, r.err, created.Booking.ID)
	}
}
