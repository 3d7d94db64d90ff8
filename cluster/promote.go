package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Staged joins. A node that joins as a voter is first added as a
// non-voter and promoted by the leader once it has caught up (see
// DESIGN.md, "Staged joins"). The intent to promote lives in the
// replicated state (table cluster_staged, written by the built-in command
// cluster.member.stage), so that a new leader finishes the promotions the
// old one started; the health of a staged node is observed by the leader
// alone and kept in its memory, since a new leader should look for itself.

// stageType records (Staged true) or clears (Staged false) the intent to
// promote a non-voter to voter.
const stageType = "cluster.member.stage"

// opAddStaged asks the leader, over the RPC, for a staged voter join. A
// leader of a version before staged joins answers "unknown RPC
// operation": JoinCluster then asks it with opAddVoter, as before.
const opAddStaged = "add_staged_voter"

// promoteMaxLag is how many committed entries a staged node may still
// have to apply and count as caught up: a few batches, so that a node
// joining a busy cluster is not held back for ever by entries that keep
// arriving, while one still far behind (receiving a snapshot, replaying a
// long log) is not.
const promoteMaxLag = 256

// stagedSchema is created by the apply function, like the version gate's
// tables: a cluster already migrated needs no migration for it, and every
// node creates it at the same index.
const stagedSchema = `CREATE TABLE IF NOT EXISTS cluster_staged (
	node_id TEXT PRIMARY KEY,
	since   INTEGER NOT NULL
);`

type stagePayload struct {
	NodeID string `json:"node_id"`
	Staged bool   `json:"staged"`
}

// applyStage records or clears the intent to promote a node. Both are
// idempotent: recording again keeps the first time.
func applyStage(tx *sql.Tx, cmd Command) (any, error) {
	var p stagePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if p.NodeID == "" {
		return nil, errors.New("cluster: member.stage without node_id")
	}
	if _, err := tx.Exec(stagedSchema); err != nil {
		return nil, fmt.Errorf("cluster: create cluster_staged: %w", err)
	}
	var err error
	if p.Staged {
		_, err = tx.Exec(`INSERT INTO cluster_staged (node_id, since) VALUES (?, ?) ON CONFLICT (node_id) DO NOTHING`,
			p.NodeID, cmd.Time.UnixMilli())
	} else {
		_, err = tx.Exec(`DELETE FROM cluster_staged WHERE node_id = ?`, p.NodeID)
	}
	return nil, err
}

// AddStagedVoter adds node id, listening on addr, as a non-voter that the
// leader promotes to voter once it has caught up (its applied index within
// promoteMaxLag of the leader's commit index, in contact with the leader,
// for Config.PromoteAfter without a break). A member that is a voter
// already is demoted first when the other voters make a quorum without
// it (a node whose disk was wiped joins again with an empty log). On a
// follower the request is forwarded to the leader. JoinCluster uses it
// for voter joins.
func (n *Node) AddStagedVoter(ctx context.Context, id, addr string) error {
	return n.membership(ctx, opAddStaged, id, addr)
}

// addStaged runs a staged voter join on the leader: the intent first,
// then the non-voter. In that order a leader change in between leaves an
// intent for a node that is not a member yet (ignored until the node,
// which retries, is added), never a non-voter that nobody promotes.
func (n *Node) addStaged(ctx context.Context, r *raft.Raft, id, addr string) error {
	servers, err := configuration(r)
	if err != nil {
		return err
	}
	var cur *raft.Server
	for i := range servers {
		if string(servers[i].ID) == id {
			cur = &servers[i]
		}
	}
	if id == n.cfg.NodeID {
		// The leader is a voter: a join marker that survived a restart.
		return n.applyMembership(ctx, r, opAddVoter, id, addr)
	}
	if cur != nil && cur.Suffrage == raft.Voter && !n.othersMakeQuorum(ctx, r, servers, id) {
		// Demoting it would leave the cluster without a quorum until it
		// is promoted again: better a voter that catches up.
		n.log.Warn("known voter joins again: kept a voter, the other voters alone would not make a quorum", "server", id, "addr", addr)
		return n.applyMembership(ctx, r, opAddVoter, id, addr)
	}
	if err := n.proposeStage(ctx, id, true); err != nil {
		if errors.Is(err, ErrNotSupportedByCluster) {
			n.log.Warn("a member cannot record staged joins yet (rolling upgrade): adding the node as a voter at once", "server", id, "err", err)
			return n.applyMembership(ctx, r, opAddVoter, id, addr)
		}
		return err
	}
	if err := n.applyMembership(ctx, r, opAddNonvoter, id, addr); err != nil {
		return err
	}
	n.log.Info("node staged: added as a non-voter, promoted to voter once it has caught up", "server", id, "addr", addr,
		"promote_after", n.cfg.PromoteAfter.String())
	return nil
}

// othersMakeQuorum tells whether the voters other than id, among those
// that answer now, are a majority of the voters without id.
func (n *Node) othersMakeQuorum(ctx context.Context, r *raft.Raft, servers []raft.Server, id string) bool {
	term := r.CurrentTerm()
	voters, healthy := 0, 0
	for _, s := range servers {
		if s.Suffrage != raft.Voter || string(s.ID) == id {
			continue
		}
		voters++
		if string(s.ID) == n.cfg.NodeID {
			healthy++
			continue
		}
		if st, err := n.memberStatus(ctx, s); err == nil && st.Term == term && st.LastContact >= 0 && st.LastContact < n.cfg.StaleAfter {
			healthy++
		}
	}
	return healthy > voters/2
}

// proposeStage records or clears the intent to promote id.
func (n *Node) proposeStage(ctx context.Context, id string, staged bool) error {
	cmd, err := NewCommand(stageType, 1, "", stagePayload{NodeID: id, Staged: staged})
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		return fmt.Errorf("cluster: record staged join of %s: %w", id, err)
	}
	return nil
}

// unstage clears the intent to promote id, when there is one: the node
// joins as a non-voter now, or is removed.
func (n *Node) unstage(ctx context.Context, id string) error {
	staged, err := n.stagedNodes(ctx)
	if err != nil || !staged[id] {
		return err
	}
	return n.proposeStage(ctx, id, false)
}

// stagedNodes returns the nodes this node's state says are to be promoted.
func (n *Node) stagedNodes(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	rows, err := n.readDB.QueryContext(ctx, `SELECT node_id FROM cluster_staged`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return out, nil // no staged join ever
		}
		return nil, fmt.Errorf("cluster: read staged nodes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// configuration returns the raft configuration r knows.
func configuration(r *raft.Raft) ([]raft.Server, error) {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster: read configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

// memberStatus asks server s for its Status, for at most memberTimeout.
func (n *Node) memberStatus(ctx context.Context, s raft.Server) (Status, error) {
	cctx, cancel := context.WithTimeout(ctx, memberTimeout)
	defer cancel()
	var st Status
	resp, err := n.call(cctx, string(s.Address), string(s.ID), rpcRequest{Op: opStatus})
	if err == nil {
		err = n.codec.decode(resp.Error)
	}
	if err == nil {
		err = json.Unmarshal(resp.Value, &st)
	}
	return st, err
}

// startPromoter runs runPromoter until the returned stop is called. The
// run loop starts it when this node leads and stops it when it no longer
// does.
func (n *Node) startPromoter(r *raft.Raft) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runPromoter(ctx, r)
	}()
	return func() {
		cancel()
		<-done
	}
}

// promoteWarnEvery is how long a staged node may wait for its promotion
// before the leader says at Warn why it is held back, and how often it
// says it again while the reason lasts.
const promoteWarnEvery = 10 * time.Second

// stagedWatch is what the leader's promoter remembers of one staged node.
type stagedWatch struct {
	waitingSince time.Time // first seen staged by this leader
	healthySince time.Time // caught up without a break since; zero if not
	warned       time.Time // last Warn about it
}

// runPromoter, on the leader, looks at the staged nodes every half
// heartbeat and promotes each one that has been caught up for
// Config.PromoteAfter. When each staged node became healthy is kept here,
// in memory: a new leader starts the stable period again.
func (n *Node) runPromoter(ctx context.Context, r *raft.Raft) {
	log := n.log.With("worker", "promoter")
	watch := map[string]*stagedWatch{}
	tick := time.NewTicker(max(n.cfg.HeartbeatTimeout/2, 20*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r.State() != raft.Leader {
			continue
		}
		n.promoteRound(ctx, r, watch, log)
	}
}

// heldBack says why a staged node whose status is st (or err) does not
// count as caught up with a leader at term and commit; "" when it does.
func heldBack(st Status, err error, term, commit uint64, staleAfter time.Duration) string {
	switch {
	case err != nil:
		return "its status does not answer: " + memberError(err)
	case st.Term != term:
		return fmt.Sprintf("it is at term %d, the leader at %d", st.Term, term)
	case st.AppliedIndex+promoteMaxLag < commit:
		return fmt.Sprintf("it has applied %d of %d committed entries", st.AppliedIndex, commit)
	case st.LastContact < 0:
		return "it has had no contact with the leader"
	case st.LastContact >= staleAfter:
		return fmt.Sprintf("its last contact with the leader was %s ago", st.LastContact.Round(time.Millisecond))
	}
	return ""
}

// promoteRound checks every staged node once.
func (n *Node) promoteRound(ctx context.Context, r *raft.Raft, watch map[string]*stagedWatch, log *slog.Logger) {
	staged, err := n.stagedNodes(ctx)
	if err != nil {
		log.Warn("read staged nodes", "err", err)
		return
	}
	for id := range watch {
		if !staged[id] {
			delete(watch, id)
		}
	}
	if len(staged) == 0 {
		return
	}
	servers, err := configuration(r)
	if err != nil {
		return
	}
	var commit uint64
	fmt.Sscan(r.Stats()["commit_index"], &commit)
	term := r.CurrentTerm()
	for id := range staged {
		var srv *raft.Server
		for i := range servers {
			if string(servers[i].ID) == id {
				srv = &servers[i]
			}
		}
		switch {
		case srv == nil:
			// Not a member (yet): the join is on its way, or the node
			// was removed while staged. Nothing to promote.
			delete(watch, id)
			continue
		case srv.Suffrage == raft.Voter:
			// Promoted by a leader that lost leadership before it could
			// clear the intent.
			if err := n.proposeStage(ctx, id, false); err != nil {
				log.Debug("clear the intent of a promoted node", "server", id, "err", err)
			}
			delete(watch, id)
			continue
		}
		w := watch[id]
		if w == nil {
			w = &stagedWatch{waitingSince: time.Now()}
			watch[id] = w
		}
		st, err := n.memberStatus(ctx, *srv)
		if why := heldBack(st, err, term, commit, n.cfg.StaleAfter); why != "" {
			if !w.healthySince.IsZero() {
				log.Info("staged node fell behind: its stable period starts again", "server", id, "why", why)
			}
			w.healthySince = time.Time{}
			if waited := time.Since(w.waitingSince); waited >= promoteWarnEvery && time.Since(w.warned) >= promoteWarnEvery {
				log.Warn("staged node not promoted yet", "server", id, "addr", string(srv.Address),
					"waiting", waited.Round(time.Second).String(), "why", why)
				w.warned = time.Now()
			}
			continue
		}
		if w.healthySince.IsZero() {
			w.healthySince = time.Now()
			log.Debug("staged node caught up", "server", id, "applied", st.AppliedIndex, "commit", commit)
			continue
		}
		if time.Since(w.healthySince) < n.cfg.PromoteAfter {
			continue
		}
		if err := r.AddVoter(srv.ID, srv.Address, 0, 10*time.Second).Error(); err != nil {
			log.Warn("promote staged node", "server", id, "err", err)
			continue
		}
		log.Info("staged node promoted to voter", "server", id, "applied", st.AppliedIndex, "commit", commit,
			"caught_up_for", time.Since(w.healthySince).Round(time.Millisecond).String(),
			"waited", time.Since(w.waitingSince).Round(time.Millisecond).String())
		delete(watch, id)
		if err := n.proposeStage(ctx, id, false); err != nil {
			log.Warn("clear the intent of a promoted node (the next round does)", "server", id, "err", err)
		}
	}
}

// waitVoter blocks until this node's configuration names it a voter.
func (n *Node) waitVoter(ctx context.Context) error {
	start, said := time.Now(), time.Now()
	for {
		st := n.Status()
		for _, s := range st.Servers {
			if s.IsSelf && s.Voter {
				return nil
			}
		}
		if time.Since(said) >= promoteWarnEvery {
			// What the leader's promoter compares, from this side: the
			// leader says why it holds the node back (promoteRound).
			n.log.Info("still a non-voter: waiting for the leader to promote this node",
				"waiting", time.Since(start).Round(time.Second).String(), "leader", st.LeaderID,
				"term", st.Term, "applied", st.AppliedIndex, "commit", st.CommitIndex,
				"last_contact", st.LastContact.Round(time.Millisecond).String())
			said = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closing:
			return ErrClosed
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// barrierRetry runs Barrier until it succeeds (a leader may be changing)
// or ctx ends.
func (n *Node) barrierRetry(ctx context.Context) error {
	for {
		_, err := n.Barrier(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-n.closing:
			return ErrClosed
		case <-time.After(100 * time.Millisecond):
		}
	}
}
