package cluster

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
)

// gateCache remembers which (type, version) pairs the version gate let
// through, so that the leader does not query the capabilities tables for
// every command it proposes (under load that query was a twentieth of the
// leader's CPU). An answer stays valid while the configuration's members
// and the recorded capabilities (fsm.capGen) are those it was computed
// with. Only "supported" is kept: a refusal is checked again each time, so
// that an upgraded node is let through as soon as it has recorded itself.
type gateCache struct {
	mu sync.Mutex
	ok map[gateKey]gateStamp
}

type gateKey struct {
	typ     string
	version int
}

type gateStamp struct {
	members uint64 // membersSig of the configuration
	capGen  uint64
}

// membersSig condenses the configuration's members (IDs and suffrage).
func membersSig(servers []raft.Server) uint64 {
	sig := uint64(len(servers))
	for _, s := range servers {
		for _, c := range string(s.ID) + "\x00" + s.Suffrage.String() + "\x00" {
			sig = sig*1099511628211 + uint64(c)
		}
	}
	return sig
}

// supported is checkSupported through the cache.
func (n *Node) supported(ctx context.Context, r *raft.Raft, cmd Command) error {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.checkSupported(ctx, r, cmd)
	}
	key := gateKey{cmd.Type, cmd.Version}
	// The generation is read before the check: a capabilities change that
	// lands during the check moves it again once committed.
	stamp := gateStamp{members: membersSig(f.Configuration().Servers), capGen: n.fsm.capGen.Load()}
	n.gate.mu.Lock()
	hit := n.gate.ok[key] == stamp
	n.gate.mu.Unlock()
	if hit {
		return nil
	}
	if err := n.checkSupported(ctx, r, cmd); err != nil {
		return err
	}
	n.gate.mu.Lock()
	if n.gate.ok == nil {
		n.gate.ok = make(map[gateKey]gateStamp)
	}
	n.gate.ok[key] = stamp
	n.gate.mu.Unlock()
	return nil
}
