package media_test

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
)

// TestInvites: a guest's token is admitted only while its invite is
// recorded; an invite recorded on one node admits on another at once,
// and revoking it on a third refuses the token on every node at once
// (ErrRevoked), while the room and the others' tokens go on. An invite
// into an ended room is refused.
func TestInvites(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	now := time.Now()
	room, err := rs[0].Open(ctx, comune, media.RoomRef{Kind: media.RefTicket, ID: "T-1"}, now, now.Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	guest := func(subject string) string {
		return rs[0].Token(media.Claims{Tenant: comune, Room: room.ID, Role: media.RoleGuest, Name: "Ivo",
			Subject: subject, Expires: room.Closes.Add(media.TokenGrace)})
	}
	// Not recorded: a guest token alone is not enough.
	if _, _, err := rs[1].Admit(ctx, comune, guest("guest-nobody")); !errors.Is(err, media.ErrTokenInvalid) {
		t.Errorf("unrecorded guest: %v, want ErrTokenInvalid", err)
	}
	inv, err := rs[0].Invite(ctx, comune, room.ID, "guest-ivo", "Ivo Interprete", room.Closes.Add(media.TokenGrace))
	if err != nil || inv.Name != "Ivo Interprete" || !inv.Revoked.IsZero() || !inv.Active(time.Now()) {
		t.Fatalf("invite: %+v, %v", inv, err)
	}
	if _, err := rs[0].Invite(ctx, comune, room.ID, "guest-other", "Olga", room.Closes); err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if _, c, err := rs[i].Admit(ctx, comune, guest("guest-ivo")); err != nil || c.Subject != "guest-ivo" {
			t.Errorf("node %d: recorded guest: %+v, %v", i, c, err)
		}
	}
	if _, err := rs[2].RevokeInvite(ctx, comune, room.ID, "guest-ivo"); err != nil {
		t.Fatal(err)
	}
	// At once on every node: Admit reads after a barrier.
	for i := range rs {
		if _, _, err := rs[i].Admit(ctx, comune, guest("guest-ivo")); !errors.Is(err, media.ErrRevoked) {
			t.Errorf("node %d: revoked guest: %v, want ErrRevoked", i, err)
		}
		if _, _, err := rs[i].Admit(ctx, comune, guest("guest-other")); err != nil {
			t.Errorf("node %d: the other guest: %v", i, err)
		}
	}
	// Revoking twice keeps the first time.
	again, err := rs[1].RevokeInvite(ctx, comune, room.ID, "guest-ivo")
	if err != nil || again.Revoked.IsZero() {
		t.Errorf("revoke again: %+v, %v", again, err)
	}
	list, err := rs[1].Invites(ctx, comune, room.ID)
	if err != nil || len(list) != 2 || list[0].Subject != "guest-ivo" || list[0].Revoked.IsZero() || !list[1].Revoked.IsZero() {
		t.Errorf("invites: %+v, %v", list, err)
	}
	if _, err := rs[0].RevokeInvite(ctx, comune, room.ID, "guest-nobody"); !errors.Is(err, media.ErrNotFound) {
		t.Errorf("revoke an unknown invite: %v, want ErrNotFound", err)
	}
	if _, err := rs[0].End(ctx, comune, room.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[0].Invite(ctx, comune, room.ID, "guest-late", "Tardi", room.Closes); !errors.Is(err, media.ErrEnded) {
		t.Errorf("invite into an ended room: %v, want ErrEnded", err)
	}
}

// TestNodeAds: each node advertises its TURN URLs and SFU addresses; a
// room's TURN URLs list its node's first, then the other live nodes';
// every node's PeersFunc allows every node's SFU addresses; advertising
// the same again proposes nothing.
func TestNodeAds(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, media.Register)
	rs := rooms(t, nodes, nil)
	ctx := ctxT(t)
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.Config().NodeID
		ad := media.NodeAd{Node: ids[i], TURNURLs: []string{"turn:n" + string(rune('1'+i)) + ".example.it:3478?transport=udp"},
			SFUAddrs: []string{"10.0.0." + string(rune('1'+i))}}
		if err := rs[i].Advertise(ctx, ad); err != nil {
			t.Fatalf("advertise %s: %v", ids[i], err)
		}
	}
	fresh(t, nodes...)
	before := nodes[0].AppliedIndex()
	if err := rs[0].Advertise(ctx, media.NodeAd{Node: ids[0], TURNURLs: []string{"turn:n1.example.it:3478?transport=udp"},
		SFUAddrs: []string{"10.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if after := nodes[0].AppliedIndex(); after != before {
		t.Errorf("the same advertisement again proposed a command (index %d → %d)", before, after)
	}
	got := rs[0].TURNURLs(ctx, ids[1], []string{"turn:local"})
	want := []string{"turn:n2.example.it:3478?transport=udp", "turn:n1.example.it:3478?transport=udp", "turn:n3.example.it:3478?transport=udp"}
	if !slices.Equal(got, want) {
		t.Errorf("TURN URLs of a room on %s: %v, want %v", ids[1], got, want)
	}
	if got := rs[0].TURNURLs(ctx, "gone", []string{"turn:local"}); got[0] != "turn:local" {
		t.Errorf("a room on a node that advertised nothing: %v, want this node's URLs first", got)
	}
	// This node's own room: its URLs as the request names them first.
	want = []string{"turn:local", "turn:n2.example.it:3478?transport=udp", "turn:n3.example.it:3478?transport=udp"}
	if got := rs[0].TURNURLs(ctx, ids[0], []string{"turn:local"}); !slices.Equal(got, want) {
		t.Errorf("TURN URLs of a room on this node: %v, want %v", got, want)
	}
	for i := range rs {
		peers := rs[i].PeersFunc()()
		for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
			if !slices.Contains(peers, netip.MustParseAddr(a)) {
				t.Errorf("node %d: peers %v lack %s", i, peers, a)
			}
		}
	}
}
