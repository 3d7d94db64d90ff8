package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// opStatus asks a node for its own Status over the node-to-node RPC; any
// member answers it, leader or not.
const opStatus = "status"

// memberTimeout bounds the wait for one member's status: an unreachable
// node must not hold the whole report.
const memberTimeout = 2 * time.Second

// MemberStatus is one member of the configuration as it reports itself.
type MemberStatus struct {
	ServerStatus
	// Reachable is false when the member did not answer in time; Error
	// then says why, and the fields below are zero.
	Reachable bool
	Error     string `json:",omitempty"`
	// State, Term and the indexes are the member's own (see Status).
	State        string
	Term         uint64
	AppliedIndex uint64
	CommitIndex  uint64
	LastLogIndex uint64
	// LastContact is how long ago the member last heard from its leader.
	LastContact time.Duration
	// Lag is how many committed entries the member has yet to apply: the
	// highest commit index any member reported, minus its applied index.
	Lag uint64
	// Binary is the version of the sportello binary the member recorded
	// with its capabilities ("" before it did).
	Binary string
	// CAFingerprint and TrustedCAs are the member's (see Status).
	CAFingerprint string   `json:",omitempty"`
	TrustedCAs    []string `json:",omitempty"`
}

// Members asks every member of the configuration this node knows for its
// status, in parallel, each for at most two seconds, and returns them by
// node ID. It answers without a leader too: every node serves opStatus.
func (n *Node) Members(ctx context.Context) []MemberStatus {
	self := n.Status()
	binaries := n.recordedBinaries(ctx)
	out := make([]MemberStatus, len(self.Servers))
	var wg sync.WaitGroup
	for i, s := range self.Servers {
		out[i] = MemberStatus{ServerStatus: s, Binary: binaries[s.ID]}
		if s.IsSelf {
			out[i].fill(self)
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, memberTimeout)
			defer cancel()
			resp, err := n.call(cctx, s.Addr, s.ID, rpcRequest{Op: opStatus})
			if err == nil {
				err = n.codec.decode(resp.Error)
			}
			var st Status
			if err == nil {
				if err = json.Unmarshal(resp.Value, &st); err != nil {
					err = fmt.Errorf("decode status: %w", err)
				}
			}
			if err != nil {
				out[i].Error = memberError(err)
				return
			}
			out[i].fill(st)
		})
	}
	wg.Wait()
	var commit uint64
	for _, m := range out {
		commit = max(commit, m.CommitIndex)
	}
	for i := range out {
		if out[i].Reachable && commit > out[i].AppliedIndex {
			out[i].Lag = commit - out[i].AppliedIndex
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

func (m *MemberStatus) fill(st Status) {
	m.Reachable = true
	m.State, m.Term = st.State, st.Term
	m.AppliedIndex, m.CommitIndex, m.LastLogIndex = st.AppliedIndex, st.CommitIndex, st.LastLogIndex
	m.LastContact = st.LastContact
	m.CAFingerprint, m.TrustedCAs = st.CAFingerprint, st.TrustedCAs
}

// recordedBinaries returns the binary version each node recorded with its
// capabilities (none before the version gate's table exists).
func (n *Node) recordedBinaries(ctx context.Context) map[string]string {
	out := map[string]string{}
	rows, err := n.readDB.QueryContext(ctx, `SELECT node_id, binary FROM cluster_capabilities`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var id, bin string
		if rows.Scan(&id, &bin) == nil {
			out[id] = bin
		}
	}
	return out
}

// handleStatus answers opStatus.
func (n *Node) handleStatus() (json.RawMessage, error) {
	return json.Marshal(n.Status())
}

// memberError is the reason a member did not answer, without the
// sentinel call puts in front for forwarded commands (a status request
// is about no leader and no command).
func memberError(err error) string {
	msg := err.Error()
	for _, prefix := range []string{ErrNoLeader.Error() + ": ", ErrOutcomeUnknown.Error() + ": "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}
