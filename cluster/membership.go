package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// AddVoter adds node id, listening on addr, to the cluster as a voter (or
// updates its address if it is already a member). On a follower the
// request is forwarded to the leader. The new node must have been started
// with Config.Join (or hold the cluster's state already); it then catches
// up from the leader's log or a snapshot.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.membership(ctx, opAddVoter, id, addr)
}

// AddNonvoter adds node id at addr as a non-voter: it receives the log and
// serves reads but does not count towards the quorum.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	return n.membership(ctx, opAddNonvoter, id, addr)
}

// RemoveServer removes node id from the cluster configuration. Removing
// the leader itself makes it step down once the change is committed.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.membership(ctx, opRemove, id, "")
}

// Leave removes this node from the cluster. A leader first hands its
// leadership to another voter, so the cluster does not wait for an
// election. The node keeps running (it no longer receives the log); the
// caller then closes it.
func (n *Node) Leave(ctx context.Context) error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	if r.State() == raft.Leader {
		f := r.GetConfiguration()
		if err := f.Error(); err != nil {
			return fmt.Errorf("cluster: leave: %w", err)
		}
		voters := 0
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter && s.ID != raft.ServerID(n.cfg.NodeID) {
				voters++
			}
		}
		if voters > 0 {
			if err := r.LeadershipTransfer().Error(); err != nil {
				return fmt.Errorf("cluster: leave: transfer leadership: %w", err)
			}
			_, to := r.LeaderWithID()
			n.log.Info("leaving: leadership handed over", "to", string(to))
		}
	}
	// The new leader may take a moment to be known: retry on ErrNoLeader.
	for {
		err := n.RemoveServer(ctx, n.cfg.NodeID)
		if !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrNotLeader) {
			return err
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("cluster: leave: %w (last: %w)", ctx.Err(), err)
		}
	}
}

// membership runs a configuration change on the leader, locally or
// through the RPC.
func (n *Node) membership(ctx context.Context, op, id, addr string) error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	if r.State() == raft.Leader {
		return n.changeMembership(ctx, op, id, addr)
	}
	leaderAddr, leaderID := r.LeaderWithID()
	if leaderAddr == "" {
		return &NotLeaderError{}
	}
	resp, err := n.call(ctx, string(leaderAddr), string(leaderID), rpcRequest{Op: op, ID: id, Addr: addr})
	if err != nil {
		return fmt.Errorf("cluster: %s %s: %w", op, id, err)
	}
	return n.codec.decode(resp.Error)
}

// changeMembership applies a configuration change on this node, which
// must lead.
func (n *Node) changeMembership(ctx context.Context, op, id, addr string) error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	if r.State() != raft.Leader {
		return notLeader(r)
	}
	switch op {
	case opAddStaged:
		return n.addStaged(ctx, r, id, addr)
	case opAddNonvoter, opRemove:
		// A node that now joins as a non-voter, or leaves, is no longer
		// to be promoted (promote.go).
		if err := n.unstage(ctx, id); err != nil {
			return err
		}
	}
	return n.applyMembership(ctx, r, op, id, addr)
}

// applyMembership makes the raft configuration change of changeMembership.
func (n *Node) applyMembership(ctx context.Context, r *raft.Raft, op, id, addr string) error {
	if op == opAddVoter || op == opAddNonvoter {
		if err := n.replaceMember(r, op, id, addr); err != nil {
			return err
		}
	}
	var f raft.IndexFuture
	switch op {
	case opAddVoter:
		f = r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx))
	case opAddNonvoter:
		f = r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx))
	case opRemove:
		f = r.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx))
	default:
		return fmt.Errorf("cluster: unknown membership operation %q", op)
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return notLeader(r)
		}
		return fmt.Errorf("cluster: %s %s: %w", op, id, err)
	}
	n.log.Info("membership changed", "op", op, "server", id, "addr", addr, "index", f.Index())
	if op != opRemove {
		// A leader that bootstrapped alone has recorded no capabilities
		// (see reportCapabilities); now that it has company, it must, or
		// the version gate would let through commands that it, once
		// restarted on an older binary, could not apply.
		if err := n.reportCapabilities(ctx); err != nil {
			n.log.Warn("record own capabilities after a member was added", "err", err)
		}
	}
	return nil
}

// replaceMember prepares the addition of a node ID the configuration
// already holds: a rejoin. That is a node restarted with its data after a
// join whose marker survived, or a node whose disk was wiped and that
// joined again with a new token under its old ID and address (see
// DESIGN.md, "Wiped disk"). Raft's AddVoter and AddNonvoter replace the
// entry's address in place, and the leader's replication then finds the
// node's log empty and sends it the log or, when the log was compacted
// past what it needs, a snapshot. Only a change of suffrage needs a step
// here: a voter that now joins as a non-voter is demoted first (AddNonvoter
// leaves a voter a voter).
func (n *Node) replaceMember(r *raft.Raft, op, id, addr string) error {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: %s %s: read configuration: %w", op, id, err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) != id {
			continue
		}
		n.log.Info("known node joins again: its membership entry is replaced", "server", id,
			"old_addr", string(s.Address), "addr", addr, "was_voter", s.Suffrage == raft.Voter, "op", op)
		if op == opAddNonvoter && s.Suffrage == raft.Voter {
			if err := r.DemoteVoter(s.ID, 0, 0).Error(); err != nil {
				if errors.Is(err, raft.ErrNotLeader) {
					return notLeader(r)
				}
				return fmt.Errorf("cluster: demote %s before it joins again as a non-voter: %w", id, err)
			}
		}
		return nil
	}
	return nil
}

// Status is a node's view of the cluster, from its own raft state.
type Status struct {
	// NodeID and Addr are this node's.
	NodeID string
	Addr   string
	// State is "Leader", "Follower", "Candidate" or "Shutdown".
	State string
	// LeaderID and LeaderAddr name the leader this node knows ("" if none).
	LeaderID   string
	LeaderAddr string
	// Term is the current raft term.
	Term uint64
	// AppliedIndex is the last entry applied to this node's SQLite;
	// CommitIndex the last entry this node knows committed; LastLogIndex
	// the last entry in its log. CommitIndex-AppliedIndex is its apply lag.
	AppliedIndex uint64
	CommitIndex  uint64
	LastLogIndex uint64
	// SnapshotIndex is the index of the newest snapshot this node holds,
	// taken by itself or installed from the leader (0: none). A follower
	// whose SnapshotIndex is above the index it had applied before a
	// restart caught up by snapshot rather than by the log.
	SnapshotIndex uint64
	// LastContact is how long ago this follower last heard from the
	// leader (0 on the leader itself; -1 when never).
	LastContact time.Duration
	// Servers is the raft configuration as this node knows it.
	Servers []ServerStatus
	// CAFingerprint is the fingerprint of the CA of the certificate this
	// node presents, and TrustedCAs those of the CAs it accepts peers of
	// (sorted); both empty on plain TCP. A CA rotation waits on them.
	CAFingerprint string   `json:",omitempty"`
	TrustedCAs    []string `json:",omitempty"`
}

// ServerStatus is one member of the configuration.
type ServerStatus struct {
	ID       string
	Addr     string
	Voter    bool
	IsLeader bool
	IsSelf   bool
	// Staged is true for a non-voter that joined as a voter: the leader
	// promotes it once it has caught up (promote.go).
	Staged bool `json:",omitempty"`
}

// Status reports this node's raft state and the configuration it knows.
// It only reads local state, so it answers even without a leader. The
// applied indexes of other nodes are not known locally: ask each node.
func (n *Node) Status() Status {
	st := Status{NodeID: n.cfg.NodeID, Addr: n.RaftAddr(), AppliedIndex: n.AppliedIndex(), State: "Shutdown", LastContact: -1}
	if s := n.stream.Load(); s != nil && s.certs != nil {
		st.CAFingerprint = pki.FingerprintOf(s.certs.Identity().CA)
		st.TrustedCAs = s.certs.TrustedFingerprints()
	}
	r := n.raft.Load()
	if r == nil {
		return st
	}
	st.State = r.State().String()
	la, lid := r.LeaderWithID()
	st.LeaderAddr, st.LeaderID = string(la), string(lid)
	stats := r.Stats()
	fmt.Sscan(stats["term"], &st.Term)
	fmt.Sscan(stats["commit_index"], &st.CommitIndex)
	fmt.Sscan(stats["last_snapshot_index"], &st.SnapshotIndex)
	st.LastLogIndex = r.LastIndex()
	switch {
	case r.State() == raft.Leader:
		st.LastContact = 0
	default:
		if lc := r.LastContact(); !lc.IsZero() {
			st.LastContact = time.Since(lc)
		}
	}
	// Status answers the promoter and the join's wait: a read that
	// cannot get a connection soon leaves the staged marks out.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	staged, _ := n.stagedNodes(ctx)
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Servers = append(st.Servers, ServerStatus{
				ID:       string(s.ID),
				Addr:     string(s.Address),
				Voter:    s.Suffrage == raft.Voter,
				IsLeader: s.ID == lid,
				IsSelf:   string(s.ID) == n.cfg.NodeID,
				Staged:   s.Suffrage != raft.Voter && staged[string(s.ID)],
			})
		}
	}
	return st
}

// Leader returns the ID and address of the leader this node knows, both
// "" while it knows none. It reads local state only.
func (n *Node) Leader() (id, addr string) {
	r := n.raft.Load()
	if r == nil {
		return "", ""
	}
	a, i := r.LeaderWithID()
	return string(i), string(a)
}
