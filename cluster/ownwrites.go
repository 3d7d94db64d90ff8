package cluster

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// A follower forwards a write to the leader, and the leader answers once
// the command is applied there. By default the follower then also waits
// until it has applied the command itself, so that the caller's next read
// on this node sees it. That wait is the follower's whole apply lag: at
// 256 clients on three nodes it made the followers' clients about 35 ms
// slower than the leader's (p50 105 against 70 ms), and their slowest
// bookings were the cluster's p99.
//
// A caller whose answer is the apply function's result itself (a new
// booking: the citizen gets the booking from the result, not from a read)
// proposes with WithoutLocalApply and skips that wait. Read-your-writes is
// kept where it is needed, at the read: a reader that does not find what
// it looks for calls WaitOwnWrites, which waits until this node has
// applied every write it forwarded, and looks again. A citizen who just
// booked through this node and opens the booking (the page the form
// redirects to, the API's GET, the calendar file) is then sure to find
// it, as before; an address that truly does not exist costs the reader
// nothing but that check (the node's applied index is usually past it).

type noLocalApplyKey struct{}

// WithoutLocalApply returns a context with which Propose, on a follower,
// returns the leader's result without waiting for this node to apply the
// command. The caller must not read the command's effects from this
// node's database without first calling WaitApplied(Result.Index) or
// WaitOwnWrites. On the leader it changes nothing: the leader's result is
// its own apply.
func WithoutLocalApply(ctx context.Context) context.Context {
	return context.WithValue(ctx, noLocalApplyKey{}, true)
}

func withoutLocalApply(ctx context.Context) bool {
	v, _ := ctx.Value(noLocalApplyKey{}).(bool)
	return v
}

// ownWrites keeps the highest index of a command this node forwarded.
type ownWrites struct{ max atomic.Uint64 }

func (o *ownWrites) note(index uint64) {
	for {
		cur := o.max.Load()
		if index <= cur || o.max.CompareAndSwap(cur, index) {
			return
		}
	}
}

// WaitOwnWrites blocks until this node has applied every command it
// forwarded to the leader before the call (or ctx ends): after it, a read
// of this node sees every write made through it, including those
// proposed WithoutLocalApply. It returns at once when nothing is pending.
func (n *Node) WaitOwnWrites(ctx context.Context) error {
	idx := n.own.max.Load()
	if idx == 0 || n.AppliedIndex() >= idx {
		return nil
	}
	return n.WaitApplied(ctx, idx)
}

// WaitReceived blocks until this node has applied every command it had
// received when it was called (the entries in its raft log), or until
// ctx ends. A reader that does not find what a client was just given
// through another node (a ticket taken on one node, whose page then asks
// another) calls it and looks once more: the write is committed, so a
// majority holds it, and a follower that holds it but has not applied it
// yet would answer "not found". It costs no round trip and writes
// nothing; an address that truly does not exist costs the wait for what
// this node had received, usually nothing. raft's own entries (a new
// leader's no-op, a barrier) never reach the FSM, so it waits for the
// newest entry that does. An entry not committed yet (a leader lost
// before it committed) may never be applied: callers give it a deadline.
func (n *Node) WaitReceived(ctx context.Context) error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	applied := n.AppliedIndex()
	var l raft.Log
	for i := r.LastIndex(); i > applied; i-- {
		if err := n.store.GetLog(i, &l); err != nil {
			return fmt.Errorf("cluster: wait for received entries: %w", err)
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return n.WaitApplied(ctx, i)
		}
	}
	return nil
}
