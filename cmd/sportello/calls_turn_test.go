package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	pturn "github.com/pion/turn/v4"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/media"
	"github.com/sportello-virtuale/sportello/media/docs"
	"github.com/sportello-virtuale/sportello/push"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// freeUDP returns a loopback UDP address free now.
func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// TestCallTURNPerNode: on a two-node cluster (real Raft), each node runs
// its own TURN server and advertises it with its SFU's address. A room's
// participants get the room node's TURN first and the other node's
// after it, with one credential that both accept; and the other node's
// TURN relays to the room node's SFU (its address is internal, so only
// the advertisement lets it through) and to nothing else internal. So a
// citizen whose browser cannot reach the room node's TURN is relayed by
// the other's.
func TestCallTURNPerNode(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 2, tenant.Register, booking.Register, queue.Register, auth.Register, push.Register,
		media.Register, docs.Register)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// One secrets key for both nodes, as secrets.key is copied to every
	// node of a real cluster: tokens and TURN secrets are the same.
	secrets, err := auth.NewSecrets(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]*calls, len(nodes))
	turnAddr := make([]string, len(nodes))
	// Each node's SFU has an address of its own (benchmark range, so
	// internal to the relay filter), as nodes on a private network do.
	sfuIP := []string{"198.18.0.71", "198.18.0.72"}
	for i, n := range nodes {
		cfg := defaultConfig()
		cfg.NodeID = n.Config().NodeID
		turnAddr[i] = freeUDP(t)
		cfg.Media.Loopback = true
		cfg.Media.PublicIPs = []string{sfuIP[i]}
		cfg.Media.TURN = TURNConfig{UDP: turnAddr[i], RelayIP: "127.0.0.1",
			URLs: []string{"turn:" + turnAddr[i] + "?transport=udp"}}
		c, err := newCalls(cfg, n, secrets, clustertest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.close)
		calls[i] = c
	}
	// Both advertisements reach both nodes.
	for i, c := range calls {
		for {
			ads, err := c.rooms.NodeAds(ctx)
			if err == nil && len(ads) == 2 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d: advertisements %+v, %v", i, ads, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	now := time.Now()
	room, err := calls[0].rooms.Open(ctx, "bari", media.RoomRef{Kind: media.RefTicket, ID: "T-turn"}, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	at := slices.IndexFunc(nodes, func(n *cluster.Node) bool { return n.Config().NodeID == room.Node })
	other := 1 - at
	urls := calls[at].iceURLs(ctx, room, "bari.localhost")
	want := []string{"turn:" + turnAddr[at] + "?transport=udp", "turn:" + turnAddr[other] + "?transport=udp"}
	if !slices.Equal(urls, want) {
		t.Fatalf("TURN URLs of a room on %s: %v, want its own then the other node's %v", room.Node, urls, want)
	}
	ice, err := calls[at].rooms.ICEServers(ctx, room.ID+"-cit-1", urls, time.Hour)
	if err != nil || len(ice) != 1 {
		t.Fatalf("ICE servers: %+v, %v", ice, err)
	}
	if err := nodes[other].ReadFresh(ctx); err != nil {
		t.Fatal(err)
	}

	// The other node's TURN: the credential minted on the room's node,
	// a permission towards the room node's SFU, none towards a
	// neighbour of it.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: turnAddr[other], TURNServerAddr: turnAddr[other],
		Username: ice[0].Username, Password: ice[0].Credential, Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Allocate(); err != nil {
		t.Fatalf("allocate on the other node's TURN with the room node's credential: %v", err)
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(sfuIP[at]), Port: 5000}); err != nil {
		t.Errorf("the other node's TURN refuses the room node's SFU %s: %v", sfuIP[at], err)
	}
	err = c.CreatePermission(&net.UDPAddr{IP: net.ParseIP("198.18.0.99"), Port: 5000})
	var te *stun.TurnError
	if !errors.As(err, &te) || te.ErrorCodeAttr.Code != 403 {
		t.Errorf("permission towards an internal address no node advertised: %v, want 403", err)
	}
	t.Logf("room on %s: TURN %v; %s's TURN relays to %s", room.Node, urls, nodes[other].Config().NodeID, sfuIP[at])
}
