package clustertest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/sportello-virtuale/sportello/cluster"
)

// HoldType is the command type of a Gate: its apply function does nothing,
// except on a node the gate holds at that command, where it waits until
// the gate lets go. Hold commands share log entries with other commands
// (Registry.ShareEntries).
const HoldType = "clustertest.hold"

// Gate makes one node's apply stop, as a loaded or slow node does: while a
// node is held, its FSM stops at the next hold command (or at the hold
// command of a given name) and applies nothing after it, while its raft
// keeps storing and acknowledging entries, so the others go on committing.
// Pass Register to Cluster or ClusterWith; nodes are named in the order
// they register (node1, node2, ... as Cluster names them). Release every
// hold (ReleaseAll) before the cluster closes: a node stopped in apply
// cannot shut down.
type Gate struct {
	mu   sync.Mutex
	next int
	// held maps a node to the names it stops at ("" for every hold
	// command) and the channel closed when it may go on.
	held map[string]map[string]chan struct{}
}

// NewGate returns a gate that holds no node.
func NewGate() *Gate { return &Gate{held: map[string]map[string]chan struct{}{}} }

type holdPayload struct {
	Name string `json:"name,omitempty"`
}

// Register registers HoldType on the next node.
func (g *Gate) Register(r *cluster.Registry) {
	g.mu.Lock()
	g.next++
	id := fmt.Sprintf("node%d", g.next)
	g.mu.Unlock()
	r.Handle(HoldType, 1, func(_ *sql.Tx, cmd cluster.Command) (any, error) {
		var p holdPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return nil, err
		}
		g.mu.Lock()
		ch := g.held[id][p.Name]
		if ch == nil {
			ch = g.held[id][""]
		}
		g.mu.Unlock()
		if ch != nil {
			<-ch
		}
		return nil, nil
	})
	r.ShareEntries(HoldType)
}

// Hold makes node id stop at every hold command until Release.
func (g *Gate) Hold(id string) { g.HoldAt(id, "") }

// HoldAt makes node id stop at the hold commands named name until
// ReleaseAt(id, name).
func (g *Gate) HoldAt(id, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[id] == nil {
		g.held[id] = map[string]chan struct{}{}
	}
	if g.held[id][name] == nil {
		g.held[id][name] = make(chan struct{})
	}
}

// Release lets node id apply again (the holds of Hold).
func (g *Gate) Release(id string) { g.ReleaseAt(id, "") }

// ReleaseAt ends the hold of HoldAt(id, name).
func (g *Gate) ReleaseAt(id, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ch := g.held[id][name]; ch != nil {
		close(ch)
		delete(g.held[id], name)
	}
}

// ReleaseAll ends every hold.
func (g *Gate) ReleaseAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, names := range g.held {
		for name, ch := range names {
			close(ch)
			delete(names, name)
		}
		delete(g.held, id)
	}
}

// Stop proposes an unnamed hold command through n and returns once n has
// applied it: n must not be held.
func (g *Gate) Stop(ctx context.Context, n *cluster.Node) error {
	_, err := g.Propose(ctx, n, "")
	return err
}

// Propose proposes the hold command name through n.
func (g *Gate) Propose(ctx context.Context, n *cluster.Node, name string) (cluster.Result, error) {
	cmd, err := cluster.NewCommand(HoldType, 1, "", holdPayload{Name: name})
	if err != nil {
		return cluster.Result{}, err
	}
	return n.Propose(ctx, cmd)
}
