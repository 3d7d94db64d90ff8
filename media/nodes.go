package media

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/sportello-virtuale/sportello/cluster"
)

// TURN per node. Every node runs its own TURN server and SFU. A browser
// is given the TURN servers of every live node, the room's node first:
// if the citizen cannot reach that node's TURN (a network that blocks
// it, a node being restarted) another node's TURN relays to the room's
// SFU. For that each node must know the others' TURN URLs, and each TURN
// server must accept the other nodes' SFU addresses as relay peers (they
// are usually private, which the relay filter refuses otherwise). Both
// come from the replicated state: at start every node advertises its
// TURN URLs and SFU addresses (media.node.advertise), which a node's own
// configuration alone could not tell the others.

// CmdAdvertise is the command of a node's advertisement.
const CmdAdvertise = "media.node.advertise"

// NodeAd is what a node advertises about its media.
type NodeAd struct {
	Node string `json:"node"`
	// TURNURLs are the node's own TURN server's URLs as browsers reach
	// them ("turn:node2.example.it:3478?transport=udp"); empty when the
	// node runs no TURN server.
	TURNURLs []string `json:"turn_urls"`
	// SFUAddrs are the addresses the node's SFU receives media at.
	SFUAddrs []string `json:"sfu_addrs"`
}

func registerNodes(reg *cluster.Registry) {
	reg.Handle(CmdAdvertise, payloadVersion, applyAdvertise)
	reg.HandleResult(CmdAdvertise, func(raw json.RawMessage) (any, error) {
		var ok bool
		err := json.Unmarshal(raw, &ok)
		return ok, err
	})
	reg.Describe(CmdAdvertise, func(cmd cluster.Command) string {
		var p NodeAd
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		return "node=" + p.Node
	})
}

func applyAdvertise(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p NodeAd
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Node == "" || len(p.TURNURLs) > 16 || len(p.SFUAddrs) > 64 {
		return nil, fmt.Errorf("%w: advertisement", ErrInvalid)
	}
	urls, _ := json.Marshal(p.TURNURLs)
	addrs, _ := json.Marshal(p.SFUAddrs)
	if _, err := tx.Exec(`INSERT INTO media_nodes (node, turn_urls, sfu_addrs, updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET turn_urls = excluded.turn_urls, sfu_addrs = excluded.sfu_addrs, updated = excluded.updated`,
		p.Node, string(urls), string(addrs), cmd.Time.UnixMilli()); err != nil {
		return nil, fmt.Errorf("advertise node: %w", err)
	}
	return true, nil
}

// Advertise records this node's TURN URLs and SFU addresses in the
// replicated state, unless they are recorded already as they are (a
// restart with the same configuration proposes nothing).
func (rs *Rooms) Advertise(ctx context.Context, ad NodeAd) error {
	if ad.TURNURLs == nil {
		ad.TURNURLs = []string{}
	}
	if ad.SFUAddrs == nil {
		ad.SFUAddrs = []string{}
	}
	ads, err := rs.NodeAds(ctx)
	if err != nil {
		return err
	}
	for _, a := range ads {
		if a.Node == ad.Node && slices.Equal(a.TURNURLs, ad.TURNURLs) && slices.Equal(a.SFUAddrs, ad.SFUAddrs) {
			return nil
		}
	}
	cmd, err := cluster.NewCommand(CmdAdvertise, payloadVersion, "", ad)
	if err != nil {
		return err
	}
	_, err = rs.node.Propose(ctx, cmd)
	return err
}

// NodeAds returns every node's advertisement, by node ID.
func (rs *Rooms) NodeAds(ctx context.Context) ([]NodeAd, error) {
	rows, err := rs.node.DB().QueryContext(ctx, `SELECT node, turn_urls, sfu_addrs FROM media_nodes ORDER BY node`)
	if err != nil {
		return nil, fmt.Errorf("media: node advertisements: %w", err)
	}
	defer rows.Close()
	var out []NodeAd
	for rows.Next() {
		var a NodeAd
		var urls, addrs string
		if err := rows.Scan(&a.Node, &urls, &addrs); err != nil {
			return nil, err
		}
		if err := errors.Join(json.Unmarshal([]byte(urls), &a.TURNURLs), json.Unmarshal([]byte(addrs), &a.SFUAddrs)); err != nil {
			return nil, fmt.Errorf("media: node %s advertisement: %w", a.Node, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// TURNURLs are the TURN URLs to give a participant of a room held by
// roomNode: the room node's own first, then those of the other nodes
// that answer now (Node.Members, reused for a few seconds), so that a
// browser that cannot reach one TURN server tries the next. local are
// this node's own URLs (as the request's host names it); they stand for
// roomNode when roomNode is this node or advertised nothing yet.
func (rs *Rooms) TURNURLs(ctx context.Context, roomNode string, local []string) []string {
	self := rs.node.Config().NodeID
	ads, err := rs.NodeAds(ctx)
	if err != nil {
		return local
	}
	live, err := rs.reachable(ctx, false)
	if err != nil {
		live = nil
	}
	var out []string
	add := func(urls []string) {
		for _, u := range urls {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	found := false
	for _, a := range ads {
		if a.Node == roomNode && roomNode != self {
			add(a.TURNURLs)
			found = true
		}
	}
	if !found {
		add(local)
	}
	for _, a := range ads {
		if a.Node != roomNode && (a.Node == self || slices.Contains(live, a.Node)) {
			add(a.TURNURLs)
		}
	}
	return out
}

// PeersFunc returns a function for media/turn.Config.AllowPeersFunc:
// the SFU addresses every node advertised, which this node's TURN server
// may relay to although they are internal. The TURN server asks at every
// CreatePermission and ChannelBind; the answer is cached until the node
// applies another command.
func (rs *Rooms) PeersFunc() func() []netip.Addr {
	var mu sync.Mutex
	var at uint64
	var cached []netip.Addr
	return func() []netip.Addr {
		idx := rs.node.AppliedIndex()
		mu.Lock()
		defer mu.Unlock()
		if cached != nil && idx == at {
			return cached
		}
		ads, err := rs.NodeAds(context.Background())
		if err != nil {
			return cached
		}
		out := []netip.Addr{}
		for _, a := range ads {
			for _, s := range a.SFUAddrs {
				if ip, err := netip.ParseAddr(s); err == nil {
					out = append(out, ip.Unmap())
				}
			}
		}
		cached, at = out, idx
		return out
	}
}
