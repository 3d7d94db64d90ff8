package media_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
)

func TestConcurrentOpenGivesOneRoom(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	opens := time.Now().Add(10 * time.Minute)
	ref := media.RoomRef{Kind: media.RefBooking, ID: "PR-7731"}
	var wg sync.WaitGroup
	got := make([]media.Room, 9)
	errs := make([]error, 9)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = rs[i%3].Open(ctx, comune, ref, opens, opens.Add(30*time.Minute)) })
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		if got[i].ID != got[0].ID || got[i].Node != got[0].Node {
			t.Errorf("open %d gave room %s on %s, open 0 gave %s on %s", i, got[i].ID, got[i].Node, got[0].ID, got[0].Node)
		}
	}
	r := got[0]
	if r.State != media.StateOpen || r.Epoch != 1 || r.Tenant != comune || r.Ref != ref || !r.Opens.Equal(opens.Truncate(time.Millisecond)) {
		t.Errorf("room = %+v", r)
	}
	fresh(t, nodes...)
	for _, n := range nodes {
		if c := count(t, n, `SELECT count(*) FROM media_rooms`); c != 1 {
			t.Errorf("%s holds %d rooms, want 1", n.Config().NodeID, c)
		}
	}
	if d := clustertest.Diff(clustertest.Dump(t, nodes[2]), clustertest.Dump(t, nodes[0])); d != "" {
		t.Errorf("states differ: %s", d)
	}
	// Every node reads the same room, by ID and by ref.
	for i, x := range rs {
		byID, err := x.Get(ctx, comune, r.ID)
		if err != nil || byID.ID != r.ID {
			t.Errorf("node %d Get: %+v, %v", i+1, byID, err)
		}
		byRef, err := x.ByRef(ctx, comune, ref)
		if err != nil || byRef.ID != r.ID {
			t.Errorf("node %d ByRef: %+v, %v", i+1, byRef, err)
		}
		// Rooms belong to their Comune: another's lookups find nothing.
		if _, err := x.Get(ctx, "altrove", r.ID); !errors.Is(err, media.ErrNotFound) {
			t.Errorf("node %d Get of another Comune: %v, want ErrNotFound", i+1, err)
		}
	}
}

func TestPlacementSpreadsRooms(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	opens := time.Now()
	perNode := map[string]int{}
	var order []string
	for i := range 6 {
		// Through a follower: placement reads the local counts, which the
		// previous Open has applied here before it returned.
		r, err := rs[1].Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: fmt.Sprint("T", i)}, opens, opens.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		perNode[r.Node]++
		order = append(order, r.Node)
	}
	want := []string{"node1", "node2", "node3", "node1", "node2", "node3"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("placements %v, want %v (fewest open rooms, ties by node ID)", order, want)
	}
	// An ended room no longer counts: the next room goes where it was.
	r0, _ := rs[0].ByRef(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: "T1"})
	if _, err := rs[0].End(ctx, comune, r0.ID, "fine"); err != nil {
		t.Fatal(err)
	}
	fresh(t, nodes[2])
	r, err := rs[2].Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: "T6"}, opens, opens.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.Node != r0.Node {
		t.Errorf("room after an end went to %s, want %s (the node with the fewest open rooms)", r.Node, r0.Node)
	}
}

func TestMoveOffDeadNodeOnce(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	opens := time.Now()
	ids := map[string][]string{}
	for i := range 6 {
		r, err := rs[0].Open(ctx, comune, media.RoomRef{Kind: media.RefBooking, ID: fmt.Sprint("B", i)}, opens, opens.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids[r.Node] = append(ids[r.Node], r.ID)
	}
	if len(ids["node2"]) != 2 {
		t.Fatalf("rooms per node %v", ids)
	}
	// A room on a live node does not move for a caller that names another.
	onNode1 := ids["node1"][0]
	if r, err := rs[2].Move(ctx, comune, onNode1, "node2"); err != nil || r.Node != "node1" || r.Epoch != 1 {
		t.Errorf("Move of a room not on fromNode: %+v, %v", r, err)
	}

	if err := nodes[1].Close(); err != nil {
		t.Fatal(err)
	}
	// Node 1 and node 3 notice the death at once: the room moves once.
	dead := ids["node2"][0]
	var wg sync.WaitGroup
	moved := make([]media.Room, 2)
	errs := make([]error, 2)
	for i, x := range []*media.Rooms{rs[0], rs[2]} {
		wg.Go(func() { moved[i], errs[i] = x.Move(ctx, comune, dead, "node2") })
	}
	wg.Wait()
	for i := range moved {
		if errs[i] != nil {
			t.Fatalf("move %d: %v", i, errs[i])
		}
		if moved[i].Node == "node2" || moved[i].Epoch != 2 || moved[i].Node != moved[0].Node {
			t.Errorf("move %d: room on %s epoch %d; the other on %s", i, moved[i].Node, moved[i].Epoch, moved[0].Node)
		}
	}
	// A late caller with the old holder gets the current room, unchanged.
	again, err := rs[2].Move(ctx, comune, dead, "node2")
	if err != nil || again.Node != moved[0].Node || again.Epoch != 2 {
		t.Errorf("second Move: %+v, %v", again, err)
	}

	// Locate finds the other room of the dead node and moves it (a fresh
	// Rooms, so no cached view of the members).
	loc := media.NewRooms(nodes[2], testSecrets(t), nil)
	r, err := loc.Locate(ctx, comune, ids["node2"][1])
	if err != nil || r.Node == "node2" || r.Epoch != 2 {
		t.Errorf("Locate: %+v, %v", r, err)
	}
	// A room on a live node is located where it is.
	if r, err := loc.Locate(ctx, comune, onNode1); err != nil || r.Node != "node1" || r.Epoch != 1 {
		t.Errorf("Locate of a live room: %+v, %v", r, err)
	}
	// Both survivors hold the same state.
	fresh(t, nodes[0], nodes[2])
	if d := clustertest.Diff(clustertest.Dump(t, nodes[2]), clustertest.Dump(t, nodes[0])); d != "" {
		t.Errorf("states differ: %s", d)
	}
}

func TestEndRoom(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	opens := time.Now()
	ref := media.RoomRef{Kind: media.RefBooking, ID: "B-1"}
	r, err := rs[0].Open(ctx, comune, ref, opens, opens.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ended, err := rs[1].End(ctx, comune, r.ID, "  chiamata conclusa ")
	if err != nil {
		t.Fatal(err)
	}
	if ended.State != media.StateEnded || ended.EndReason != "chiamata conclusa" || ended.Ended.IsZero() {
		t.Errorf("ended room %+v", ended)
	}
	// Ending again keeps the first reason.
	again, err := rs[2].End(ctx, comune, r.ID, "altro")
	if err != nil || again.EndReason != "chiamata conclusa" || !again.Ended.Equal(ended.Ended) {
		t.Errorf("second End: %+v, %v", again, err)
	}
	// An ended room does not move, and its ref gets a new room.
	if _, err := rs[2].Move(ctx, comune, r.ID, r.Node); !errors.Is(err, media.ErrEnded) {
		t.Errorf("Move of an ended room: %v, want ErrEnded", err)
	}
	fresh(t, nodes[2])
	if got, err := rs[2].ByRef(ctx, comune, ref); err != nil || got.ID != r.ID || got.State != media.StateEnded {
		t.Errorf("ByRef after the end: %+v, %v", got, err)
	}
	r2, err := rs[2].Open(ctx, comune, ref, opens, opens.Add(time.Hour))
	if err != nil || r2.ID == r.ID || r2.State != media.StateOpen {
		t.Errorf("Open after the end: %+v, %v", r2, err)
	}
	fresh(t, nodes[1])
	if got, err := rs[1].ByRef(ctx, comune, ref); err != nil || got.ID != r2.ID {
		t.Errorf("ByRef prefers the open room: %+v, %v", got, err)
	}
	// Errors cross forwarding: a follower gets the sentinel.
	if _, err := rs[1].End(ctx, comune, "nope", ""); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("End of an unknown room through a follower: %v, want ErrNotFound", err)
	}
	if _, err := rs[1].End(ctx, "altrove", r2.ID, ""); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("End of another Comune's room: %v, want ErrNotFound", err)
	}
	// Bad requests are refused before proposing.
	for name, ref := range map[string]media.RoomRef{"kind": {Kind: "riunione", ID: "x"}, "id": {Kind: media.RefTicket}} {
		if _, err := rs[0].Open(ctx, comune, ref, opens, opens.Add(time.Hour)); !errors.Is(err, media.ErrInvalid) {
			t.Errorf("Open with bad %s: %v", name, err)
		}
	}
	if _, err := rs[0].Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: "x"}, opens, opens); !errors.Is(err, media.ErrInvalid) {
		t.Errorf("Open with closes == opens: %v", err)
	}
}

func TestSweepEndsRoomsAfterTheirTime(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clock := clustertest.NewClock(start)
	n := clockNode(t, clock)
	rs := media.NewRooms(n, testSecrets(t), clock.Now)
	ctx := ctxT(t)
	early, err := rs.Open(ctx, comune, media.RoomRef{Kind: media.RefBooking, ID: "early"}, start, start.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	late, err := rs.Open(ctx, "altrove", media.RoomRef{Kind: media.RefBooking, ID: "late"}, start, start.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(80 * time.Minute) // 30 min after the early one's Closes: within the grace
	if got, err := rs.Sweep(ctx); err != nil || got != 0 {
		t.Fatalf("sweep within the grace: %d, %v", got, err)
	}
	clock.Advance(11 * time.Minute)
	if got, err := rs.Sweep(ctx); err != nil || got != 1 {
		t.Fatalf("sweep after the grace: %d, %v", got, err)
	}
	r, _ := rs.Get(ctx, comune, early.ID)
	if r.State != media.StateEnded || r.EndReason != media.ReasonExpired || !r.Ended.Equal(clock.Now()) {
		t.Errorf("swept room %+v", r)
	}
	if r, _ := rs.Get(ctx, "altrove", late.ID); r.State != media.StateOpen {
		t.Errorf("room not yet due was ended: %+v", r)
	}
	// Nothing due: no command at all.
	before := n.AppliedIndex()
	if got, err := rs.Sweep(ctx); err != nil || got != 0 || n.AppliedIndex() != before {
		t.Errorf("idle sweep: %d, %v, index %d → %d", got, err, before, n.AppliedIndex())
	}
	// A room whose time is over does not open.
	if _, err := rs.Open(ctx, comune, media.RoomRef{Kind: media.RefBooking, ID: "past"}, start, start.Add(time.Hour)); !errors.Is(err, media.ErrTooLate) {
		t.Errorf("Open after closes: %v, want ErrTooLate", err)
	}
}

func TestRehomeAfterNodeRemoved(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	opens := time.Now()
	var onNode3 []string
	for i := range 6 {
		r, err := rs[0].Open(ctx, comune, media.RoomRef{Kind: media.RefBooking, ID: fmt.Sprint("R", i)}, opens, opens.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if r.Node == "node3" {
			onNode3 = append(onNode3, r.ID)
		}
	}
	if _, err := rs[0].End(ctx, comune, onNode3[1], "fine"); err != nil {
		t.Fatal(err)
	}
	// Nothing to do while every holder is a member.
	if n, err := rs[0].Rehome(ctx); err != nil || n != 0 {
		t.Fatalf("rehome with every node present: %d, %v", n, err)
	}
	if err := nodes[0].RemoveServer(ctx, "node3"); err != nil {
		t.Fatal(err)
	}
	nodes[2].Close()
	n, err := rs[0].Rehome(ctx)
	if err != nil || n != 1 {
		t.Fatalf("rehome after removing node3: %d, %v; want the one open room moved", n, err)
	}
	r, _ := rs[0].Get(ctx, comune, onNode3[0])
	if r.Node == "node3" || r.Epoch != 2 {
		t.Errorf("room of the removed node: %+v", r)
	}
	if r, _ := rs[0].Get(ctx, comune, onNode3[1]); r.Node != "node3" || r.State != media.StateEnded {
		t.Errorf("ended room was moved: %+v", r)
	}
	if n, err := rs[1].Rehome(ctx); err != nil || n != 0 {
		t.Errorf("second rehome: %d, %v", n, err)
	}
}
