package clustertest

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/sportello-virtuale/sportello/cluster"
)

// HoldType is the command type of a Gate: its apply function does nothing,
// except on a node the gate holds, where it waits until the gate lets go.
const HoldType = "clustertest.hold"

// Gate makes one node's apply lag behind the others, as a loaded or slow
// follower does: while a node is held, its FSM stops at the next hold
// command and applies nothing after it, while its raft keeps storing and
// acknowledging entries, so the others go on committing. Pass Register to
// Cluster or ClusterWith; nodes are named in the order they register
// (node1, node2, ... as Cluster names them). Call Release (or ReleaseAll)
// before the cluster closes: a node stopped in apply cannot shut down.
type Gate struct {
	mu   sync.Mutex
	next int
	held map[string]chan struct{}
}

// NewGate returns a gate that holds no node.
func NewGate() *Gate { return &Gate{held: map[string]chan struct{}{}} }

// Register registers HoldType on the next node.
func (g *Gate) Register(r *cluster.Registry) {
	g.mu.Lock()
	g.next++
	id := fmt.Sprintf("node%d", g.next)
	g.mu.Unlock()
	r.Handle(HoldType, 1, func(*sql.Tx, cluster.Command) (any, error) {
		g.mu.Lock()
		ch := g.held[id]
		g.mu.Unlock()
		if ch != nil {
			<-ch
		}
		return nil, nil
	})
}

// Hold makes node id stop at the next hold command until Release.
func (g *Gate) Hold(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[id] == nil {
		g.held[id] = make(chan struct{})
	}
}

// Release lets node id apply again.
func (g *Gate) Release(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.held[id]; ch != nil {
		close(ch)
		delete(g.held, id)
	}
}

// ReleaseAll releases every held node.
func (g *Gate) ReleaseAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, ch := range g.held {
		close(ch)
		delete(g.held, id)
	}
}

// Stop proposes a hold command through n, which must not be held: the
// held nodes stop when they reach it. It returns once n has applied it.
func (g *Gate) Stop(ctx context.Context, n *cluster.Node) error {
	cmd, err := cluster.NewCommand(HoldType, 1, "", struct{}{})
	if err != nil {
		return err
	}
	_, err = n.Propose(ctx, cmd)
	return err
}
