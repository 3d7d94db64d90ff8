package queue

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// A ticket taken through one node is found through another that has not
// applied it yet: the read waits for that node to apply what the cluster
// committed (the citizen's page, its live events and notifications may
// be served by any node). A ticket that does not exist is still not
// found.
func TestTicketFoundOnALaggingFollower(t *testing.T) {
	t.Parallel()
	gate := clustertest.NewGate()
	nodes := clustertest.Cluster(t, 3, register, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, follower := clustertest.LeaderAndFollower(t, nodes...)
	lbook := booking.NewBook(leader, leader.DB(), time.Now, rand.Reader)
	office, cie, _ := setupOffice(t, lbook, bari.ID)
	lq := New(leader, leader.DB(), lbook, time.Now, rand.Reader)
	fq := queueOn(follower)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	gate.Hold(follower.Config().NodeID)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}
	taken, err := lq.Take(ctx, bari, TakeRequest{OfficeID: office.ID, ServiceID: cie.ID, Channel: InPerson, Source: SourceDesk})
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if follower.AppliedIndex() >= taken.Index {
		t.Fatalf("the follower applied %d, want it behind the ticket at %d (held)", follower.AppliedIndex(), taken.Index)
	}
	// A majority holds the ticket's entry; this follower may receive it
	// a moment after the leader answered.
	for follower.Status().LastLogIndex < taken.Index {
		if ctx.Err() != nil {
			t.Fatal("the follower never received the ticket's entry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	type result struct {
		k   Ticket
		err error
	}
	got := make(chan result, 2)
	go func() {
		k, err := fq.TicketWithSecret(ctx, bari.ID, taken.Ticket.ID, taken.Secret)
		got <- result{k, err}
	}()
	go func() {
		k, err := fq.Ticket(ctx, bari.ID, taken.Ticket.ID)
		got <- result{k, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("a read returned %+v, %v while the follower had not applied the ticket", r.k, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(follower.Config().NodeID)
	for range 2 {
		if r := <-got; r.err != nil || r.k.ID != taken.Ticket.ID {
			t.Errorf("read on the follower after its catch-up: %+v, %v; want ticket %s", r.k, r.err, taken.Ticket.ID)
		}
	}
	if _, err := fq.TicketWithSecret(ctx, bari.ID, "nessuno", taken.Secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("a ticket that does not exist: %v, want ErrNotFound", err)
	}
}
