package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// opReadIndex asks the leader for the index a linearizable read must wait
// for: the leader confirms it still leads (a barrier through a quorum) and
// answers with its applied index.
const opReadIndex = "read_index"

// Barrier returns an index that covers every write committed anywhere in
// the cluster before the call, once this node has applied it: a read of
// DB after Barrier sees them all (a linearizable read). On the leader it
// commits a raft barrier (which proves the leadership through a quorum and
// waits until everything before it is applied); on a follower it asks the
// leader for its read index over the node-to-node RPC and waits until this
// node has applied that index. It fails with an error matching ErrNoLeader
// when no leader can be reached, and with ctx's error when ctx ends.
func (n *Node) Barrier(ctx context.Context) (uint64, error) {
	r := n.raft.Load()
	if r == nil {
		return 0, ErrNotStarted
	}
	for attempt := 1; ; attempt++ {
		idx, err := n.readIndex(ctx, r)
		var nl *NotLeaderError
		if err == nil || !errors.As(err, &nl) || attempt == 3 {
			return idx, err
		}
		// Leadership moved between our look and the leader's answer.
		select {
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.closing:
			return 0, ErrClosed
		}
	}
}

// readIndex is one attempt of Barrier.
func (n *Node) readIndex(ctx context.Context, r *raft.Raft) (uint64, error) {
	if r.State() == raft.Leader {
		return n.leaderReadIndex(ctx, r)
	}
	addr, id := r.LeaderWithID()
	if addr == "" {
		return 0, notLeader(r)
	}
	if string(id) == n.cfg.NodeID {
		return n.leaderReadIndex(ctx, r)
	}
	resp, err := n.call(ctx, string(addr), string(id), rpcRequest{Op: opReadIndex})
	if err != nil {
		return 0, fmt.Errorf("cluster: read index: %w", err)
	}
	if err := n.codec.decode(resp.Error); err != nil {
		return 0, err
	}
	if err := n.WaitApplied(ctx, resp.Index); err != nil {
		return 0, fmt.Errorf("cluster: wait for read index %d: %w", resp.Index, err)
	}
	return resp.Index, nil
}

// leaderReadIndex commits a barrier on the leader and returns the applied
// index after it. The barrier entry itself never reaches the FSM, so the
// answer is the applied index, which covers every command before it.
func (n *Node) leaderReadIndex(ctx context.Context, r *raft.Raft) (uint64, error) {
	f := r.Barrier(timeoutOf(ctx))
	if err := waitFuture(ctx, f); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
			return 0, notLeader(r)
		case errors.Is(err, raft.ErrRaftShutdown):
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("cluster: barrier: %w", err)
	}
	return n.AppliedIndex(), nil
}

// waitFuture waits for f or ctx, whichever comes first. A helper goroutine
// turns the future into a channel; it ends when raft resolves the future,
// which raft always does.
func waitFuture(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return f.Error()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadFresh blocks until this node has applied every write committed in
// the cluster before the call (see Barrier).
func (n *Node) ReadFresh(ctx context.Context) error {
	_, err := n.Barrier(ctx)
	return err
}

// Stale reports whether this node's state may lag the cluster by more than
// Config.StaleAfter, and how long ago it last heard from the leader. A
// follower is stale when it knows no leader or its last contact with the
// leader is older than StaleAfter; a node not started or closed is stale.
// A leader is never stale: raft steps a leader down when it has not heard
// from a quorum within its lease (Config.HeartbeatTimeout), so a node that
// still leads was confirmed by a quorum within the lease. Stale is cheap
// (no network), meant to be called on every read a client sees.
func (n *Node) Stale() (stale bool, lastContact time.Duration) {
	r := n.raft.Load()
	if r == nil {
		return true, 0
	}
	select {
	case <-n.closing:
		return true, 0
	default:
	}
	switch r.State() {
	case raft.Leader:
		return false, 0
	case raft.Shutdown:
		return true, 0
	}
	last := r.LastContact()
	if last.IsZero() {
		return true, 0
	}
	since := time.Since(last)
	if addr, _ := r.LeaderWithID(); addr == "" {
		return true, since
	}
	return since > n.cfg.StaleAfter, since
}

// catchUp makes a follower that just started wait until it has applied
// the leader's read index, so it does not serve a state older than the
// cluster's right after Start. A leader returns at once. While the leader
// cannot be asked (an election, a node being added) it retries until ctx
// ends. A leader of an older version that does not know the read_index
// operation is not waited for (the node is then as fresh as raft made
// it).
func (n *Node) catchUp(ctx context.Context, r *raft.Raft) error {
	for attempt := 0; ; attempt++ {
		if r.State() == raft.Leader {
			return nil
		}
		idx, err := n.readIndex(ctx, r)
		switch {
		case err == nil:
			n.log.Info("caught up with the leader", "index", idx)
			return nil
		case errors.Is(err, ErrClosed):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("catch up with the leader: %w", ctx.Err())
		case isUnknownOp(err):
			n.log.Warn("the leader does not know read_index (older version): not waiting to catch up", "err", err)
			return nil
		}
		n.log.Debug("catch up: leader not reachable yet", "err", err)
		select {
		case <-time.After(min(time.Duration(attempt+1)*20*time.Millisecond, 500*time.Millisecond)):
		case <-ctx.Done():
			return fmt.Errorf("catch up with the leader: %w", ctx.Err())
		case <-n.closing:
			return ErrClosed
		}
	}
}

// handleReadIndex answers opReadIndex on the node that should lead.
func (n *Node) handleReadIndex(ctx context.Context) (uint64, error) {
	r := n.raft.Load()
	if r == nil {
		return 0, ErrNotStarted
	}
	if r.State() != raft.Leader {
		return 0, notLeader(r)
	}
	return n.leaderReadIndex(ctx, r)
}

// isUnknownOp tells whether err is a peer's answer to an RPC operation it
// does not know (a node of an older version).
func isUnknownOp(err error) bool {
	var re *RemoteError
	return errors.As(err, &re) && strings.Contains(re.Message, "unknown RPC operation")
}
