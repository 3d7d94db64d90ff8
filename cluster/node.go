package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Node is one member of the replicated store: a raft node, its FSM over
// SQLite, the read-only pool and, while it leads, the outbox worker.
//
// Lifecycle: New opens the files; HandleOutbox registers deliverers; Start
// starts raft and returns once the node can serve (it leads, or follows a
// leader, and its schema is current); Close stops everything and waits for
// every goroutine the node started. Close is safe to call twice and on a
// node that was never started.
type Node struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	readDB *sql.DB
	store  *logStore // raft-boltdb's file over bbolt, rewritable after an erasure (logstore.go)
	snaps  *raft.FileSnapshotStore
	// restoreOnStart tells raft to restore the newest snapshot at start:
	// true only when state.db lacks entries that the log no longer has.
	restoreOnStart bool

	raft atomic.Pointer[raft.Raft]
	// own is the highest index this node forwarded (ownwrites.go).
	own ownWrites
	// unbatched hands raft an FSM without ApplyBatch (one transaction per
	// entry); only benchmarks set it, to measure what batching gains.
	unbatched bool

	mu         sync.Mutex // guards started, closed, trans, deliverers
	started    bool
	closed     bool
	trans      *raft.NetworkTransport
	deliverers map[string]Deliverer

	stream atomic.Pointer[streamLayer] // set by Start
	mux    muxPool                     // multiplexed RPC connections (rpcmux.go)
	pool   rpcPool                     // idle RPC connections to nodes of an older version
	codec  *errorCodec                 // the registry's, frozen

	removed removedCache // removed nodes, for the TLS peer check (admission.go)
	batch   *batcher     // puts concurrent commands into shared entries (batcher.go)
	gate    gateCache    // the version gate's positive answers (gate.go)
	fwd     httpForward  // the handler of forwarded HTTP requests (httpfwd.go)
	// auditPruned is when (this node's clock, Unix ns) it last proposed
	// an audit prune (audit.go).
	auditPruned atomic.Int64

	// dropAnswers makes serveRPC close the connection instead of
	// answering that many propose requests (after proposing them): a lost
	// answer, for tests (DropProposeAnswers in dedup_export_test.go).
	dropAnswers atomic.Int32
	// refuseMux makes serveRPC answer the multiplexing request as a node
	// of an older version does, for tests (RefuseMultiplexedRPC).
	refuseMux atomic.Bool

	closing    chan struct{} // closed by Close; ends the run loop and the worker
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
	ready      chan struct{} // closed when Start succeeds: the schema is current
	leaderSig  *signal       // broadcast on every leadership observation
	outboxWake chan struct{} // one pending wake-up for the outbox worker
}

// New opens the node's state in cfg.Dir (creating it) without starting
// raft or any goroutine.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "cluster", "node", cfg.NodeID)
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: create %s: %w", cfg.Dir, err)
	}
	n := &Node{
		cfg:        cfg,
		log:        log,
		deliverers: make(map[string]Deliverer),
		closing:    make(chan struct{}),
		ready:      make(chan struct{}),
		leaderSig:  newSignal(),
		outboxWake: make(chan struct{}, 1),
	}
	ok := false
	defer func() {
		if !ok {
			n.closeFiles()
		}
	}()
	removeStaleTemps(cfg.Dir)
	if n.fsm, err = newFSM(cfg.Dir, cfg.Registry, log); err != nil {
		return nil, err
	}
	n.fsm.onCommit = n.wakeOutbox
	n.fsm.installAudit()
	n.codec = cfg.Registry.errorCodecOf()
	if n.readDB, err = openReadDB(filepath.Join(cfg.Dir, stateFile)); err != nil {
		return nil, err
	}
	if n.store, err = openLogStore(filepath.Join(cfg.Dir, raftFile)); err != nil {
		return nil, fmt.Errorf("cluster: open raft log: %w", err)
	}
	if n.store.migrated {
		log.Info("moved the raft log from raft.db to segment files", "dir", filepath.Join(cfg.Dir, segLogDir))
	}
	if n.store.repaired != "" {
		log.Warn("raft log: cut a record torn by a crash; raft fetches it again from the leader if it was committed", "repair", n.store.repaired)
	}
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, snapshotsDir),
		cfg.SnapshotRetain, newRaftLogger(log)); err != nil {
		return nil, fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	if n.restoreOnStart, err = n.needRestore(); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// needRestore decides whether raft must restore the newest snapshot at
// start. Normally not: state.db already holds everything up to its own
// applied index, and raft only needs to replay the entries after the
// snapshot (the FSM skips those it has). It must when state.db is missing
// or behind the snapshot and the log no longer holds the entries between
// them (compaction), or holds commands among them.
func (n *Node) needRestore() (bool, error) {
	applied := n.fsm.applied.get()
	existing, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		return false, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	if !existing && applied > 0 {
		return false, fmt.Errorf("cluster: %s has applied index %d but there is no raft log beside it: refusing to start a new cluster over old state",
			filepath.Join(n.cfg.Dir, stateFile), applied)
	}
	metas, err := n.snaps.List()
	if err != nil {
		return false, fmt.Errorf("cluster: list snapshots: %w", err)
	}
	if len(metas) == 0 || applied >= metas[0].Index {
		return false, nil
	}
	first, err := n.store.FirstIndex()
	if err != nil {
		return false, fmt.Errorf("cluster: read raft log: %w", err)
	}
	if first == 0 || applied+1 < first {
		return true, nil
	}
	for i := applied + 1; i <= metas[0].Index; i++ {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return true, nil
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true, nil
		}
	}
	return false, nil
}

// Start starts raft on cfg.RaftAddr, bootstraps a one-node cluster when the
// data dir is new, and returns when this node serves: it leads and has
// applied every migration the binary knows (proposing them if needed), or
// it follows a known leader, its schema is current and it has applied the
// leader's commit index at that moment (see catchUp), so it does not serve
// a stale state right after start. A member of a multi-node cluster then
// records its capabilities for the version gate (version.go). It returns
// an error when ctx ends first; the caller then calls Close.
func (n *Node) Start(ctx context.Context) error {
	r, err := n.startRaft()
	if err != nil {
		return err
	}
	if err := n.waitReady(ctx, r); err != nil {
		return fmt.Errorf("cluster: start %s: %w", n.cfg.NodeID, err)
	}
	if err := n.catchUp(ctx, r); err != nil {
		return fmt.Errorf("cluster: start %s: %w", n.cfg.NodeID, err)
	}
	if pending, err := n.fsm.pendingMigrations(ctx, n.readDB); err != nil {
		return fmt.Errorf("cluster: start %s: %w", n.cfg.NodeID, err)
	} else if len(pending) > 0 {
		n.log.Warn("serving on an older schema than this binary's: the leader migrates once every member can",
			"pending", fmt.Sprint(pending))
	}
	if err := n.reportCapabilitiesRetry(ctx); err != nil {
		return fmt.Errorf("cluster: start %s: %w", n.cfg.NodeID, err)
	}
	close(n.ready)
	n.log.Info("node ready", "raft_addr", n.RaftAddr(), "applied", n.AppliedIndex(), "leader", n.IsLeader())
	return nil
}

// startRaft creates the transport and the raft node and starts the run
// loop.
func (n *Node) startRaft() (*raft.Raft, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return nil, ErrClosed
	case n.started:
		return nil, errors.New("cluster: Start called twice")
	}
	n.started = true
	hlog := newRaftLogger(n.log)
	stream, err := newStreamLayer(n.cfg.RaftAddr, n.cfg.AdvertiseAddr, n.cfg.Identity, n.log, n.serveRPC, n.serveJoin, n.serveForwarded, n.peerCheck, n.cfg.FaultInjection)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen on %s: %w", n.cfg.RaftAddr, err)
	}
	n.stream.Store(stream)
	trans := raft.NewNetworkTransportWithLogger(stream, 3, 10*time.Second, hlog)
	n.trans = trans

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(n.cfg.NodeID)
	rc.Logger = hlog
	rc.SnapshotThreshold = n.cfg.SnapshotThreshold
	rc.SnapshotInterval = n.cfg.SnapshotInterval
	rc.TrailingLogs = n.cfg.TrailingLogs
	rc.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	rc.ElectionTimeout = n.cfg.HeartbeatTimeout
	rc.LeaderLeaseTimeout = n.cfg.HeartbeatTimeout
	rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = !n.restoreOnStart

	existing, err := raft.HasExistingState(n.store, n.store, n.snaps)
	if err != nil {
		return nil, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	if !existing && !n.cfg.Join {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}}
		if err := raft.BootstrapCluster(rc, n.store, n.store, n.snaps, trans, boot); err != nil {
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new one-node cluster", "raft_addr", trans.LocalAddr())
	}
	var machine raft.FSM = n.fsm
	if n.unbatched {
		machine = unbatchedFSM{n.fsm}
	}
	r, err := raft.NewRaft(rc, machine, n.store, n.store, n.snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft.Store(r)
	n.batch = newBatcher(n)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.batch.run(r)
	}()
	obsCh := make(chan raft.Observation, 16)
	obs := raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(obs)
	n.wg.Add(1)
	go n.run(r, obs, obsCh)
	return r, nil
}

// run follows leadership until Close: it starts the outbox worker when this
// node becomes leader and stops it when it stops leading, and wakes Start's
// wait on every leader change. It is the only goroutine that starts or
// stops the worker.
func (n *Node) run(r *raft.Raft, obs *raft.Observer, obsCh chan raft.Observation) {
	defer n.wg.Done()
	defer r.DeregisterObserver(obs)
	if n.cfg.Identity != nil {
		defer n.startRenewer()() // certrenew.go
	}
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-n.closing:
			return
		case <-obsCh:
			n.leaderSig.broadcast()
		case leader := <-r.LeaderCh():
			n.leaderSig.broadcast()
			n.log.Info("leadership changed", "leader", leader)
			switch {
			case leader && stop == nil:
				stopOutbox := func() {}
				if len(n.deliverers) > 0 {
					stopOutbox = n.startOutbox(r)
				}
				stopMigrator := n.startMigrator()
				stopPromoter := n.startPromoter(r) // promote.go
				stop = func() {
					stopPromoter()
					stopMigrator()
					stopOutbox()
				}
			case !leader && stop != nil:
				stop()
				stop = nil
			}
		}
	}
}

// startOutbox starts the outbox worker and returns the function that stops
// it and waits for it to end.
func (n *Node) startOutbox(r *raft.Raft) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runOutbox(ctx, r)
	}()
	return func() {
		cancel()
		<-done
	}
}

// wakeOutbox tells the outbox worker that something was applied. It never
// blocks: one pending wake-up is enough.
func (n *Node) wakeOutbox() {
	select {
	case n.outboxWake <- struct{}{}:
	default:
	}
}

// waitReady blocks until the node serves (see Start).
func (n *Node) waitReady(ctx context.Context, r *raft.Raft) error {
	for {
		leaderCh := n.leaderSig.wait()
		appliedCh := n.fsm.applied.changed()
		if r.State() == raft.Leader {
			done, err := n.prepareLeader(ctx, r)
			switch {
			case done:
				return nil
			case err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost):
				return err
			case err == nil:
				continue // migrated: check again
			}
		} else if addr, _ := r.LeaderWithID(); addr != "" {
			// A follower serves once a leader is known and it has caught
			// up with it (catchUp, after this): its schema is then the
			// cluster's, which may be older than its own binary's during
			// a rolling upgrade (the leader migrates once every member
			// can; see runMigrator). Waiting here for migrations only this
			// binary knows would wait for ever under an older leader.
			return nil
		}
		select {
		case <-leaderCh:
		case <-appliedCh:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.closing:
			return ErrClosed
		}
	}
}

// prepareLeader brings a new leader up to date: it applies everything
// committed before, records its own current address when it changed (a
// one-node cluster restarted on another port), and proposes the pending
// migrations. done is true when nothing was left to do.
func (n *Node) prepareLeader(ctx context.Context, r *raft.Raft) (done bool, err error) {
	if err := r.Barrier(timeoutOf(ctx)).Error(); err != nil {
		return false, fmt.Errorf("barrier: %w", err)
	}
	if err := n.updateOwnAddress(ctx, r); err != nil {
		return false, err
	}
	pending, err := n.fsm.pendingMigrations(ctx, n.readDB)
	if err != nil {
		return false, err
	}
	if len(pending) == 0 {
		return true, nil
	}
	cmd, err := NewCommand(migrateType, 1, "", migratePayload{Targets: pending})
	if err != nil {
		return false, err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		if errors.Is(err, ErrNotSupportedByCluster) {
			// A member's binary cannot migrate that far yet (rolling
			// upgrade): serve on the current schema; runMigrator tries
			// again while this node leads.
			n.log.Warn("schema migration held back until every member is upgraded", "targets", fmt.Sprint(pending), "err", err)
			return true, nil
		}
		return false, err
	}
	n.log.Info("schema migrated", "targets", fmt.Sprint(pending))
	return false, nil
}

// migratorRetry bounds how long a leader waits before it tries again the
// migrations the version gate held back (it tries at once when a member
// records new capabilities).
const migratorRetry = 5 * time.Second

// startMigrator runs runMigrator until the returned stop is called.
func (n *Node) startMigrator() func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.runMigrator(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// runMigrator, on the leader, proposes the schema migrations this binary
// knows and the state lacks, until none is left: those the version gate
// holds back (a member's binary is older) are tried again when the
// recorded capabilities change or after migratorRetry, one component at a
// time so that the others proceed. It
// is what migrates the cluster at the end of a rolling upgrade, when the
// last old node has been replaced while an upgraded node already leads.
func (n *Node) runMigrator(ctx context.Context) {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return
	}
	log := n.log.With("worker", "migrator")
	for {
		pending, err := n.fsm.pendingMigrations(ctx, n.readDB)
		if err != nil {
			log.Error("read pending migrations", "err", err)
			return
		}
		if len(pending) == 0 {
			return
		}
		held := 0
		for _, t := range pending {
			cmd, err := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{t}})
			if err != nil {
				log.Error("encode migration", "err", err)
				return
			}
			if _, err := n.Propose(ctx, cmd); err != nil {
				if ctx.Err() != nil {
					return
				}
				held++
				log.Debug("migration not proposed", "component", t.Component, "version", t.Version, "err", err)
				continue
			}
			log.Info("schema migrated", "component", t.Component, "version", t.Version)
		}
		if held == 0 {
			continue
		}
		// Try again when a member records new capabilities (an upgraded
		// node announcing itself), or after migratorRetry.
		gen := n.fsm.capGen.Load()
		for waited := time.Duration(0); waited < migratorRetry && n.fsm.capGen.Load() == gen; waited += 100 * time.Millisecond {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// updateOwnAddress replaces this node's address in the raft configuration
// when it differs from the transport's (AddVoter with the same ID updates
// the address).
func (n *Node) updateOwnAddress(ctx context.Context, r *raft.Raft) error {
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	local := n.trans.LocalAddr()
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.NodeID) && s.Address != local {
			n.log.Info("raft address changed", "old", s.Address, "new", local)
			if err := r.AddVoter(s.ID, local, 0, timeoutOf(ctx)).Error(); err != nil {
				return fmt.Errorf("update own address: %w", err)
			}
		}
	}
	return nil
}

// timeoutOf turns ctx's deadline into a raft timeout (0: none).
func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// Propose stamps cmd.Time with the leader's clock, replicates the command,
// waits until this node has applied it and returns the apply function's
// value, or its error unchanged. On a follower it forwards the command to
// the leader (see forward) and then waits until this node has applied it
// too, so the caller reads its own write here. While no leader is known
// it fails at once with an error matching ErrNoLeader (and ErrNotLeader).
// A command whose type or version this node does not know is refused with
// an *UnknownCommandError before it reaches the log. If ctx ends after the
// command was handed to raft, Propose returns ctx's error and the command
// may still be applied.
//
// Every call is one logical request: Propose gives cmd a request ID when
// it has none (the one set by WithRequestID, or a random one), and when an
// attempt's outcome is unknown (the forwarded command's answer was lost,
// the leader lost leadership with the entry in its log) it sends the same
// command again, to whichever node leads, for up to outcomeRetryBudget or
// until ctx ends. The FSM applies a request ID once (dedup.go), so a retry
// gets the first outcome instead of applying twice. Only when the budget
// runs out does the caller see ErrOutcomeUnknown.
func (n *Node) Propose(ctx context.Context, cmd Command) (Result, error) {
	select {
	case <-n.closing:
		return Result{}, ErrClosed
	default:
	}
	r := n.raft.Load()
	if r == nil {
		return Result{}, ErrNotStarted
	}
	explicit := cmd.RequestID != ""
	if !explicit {
		if id, fp, ok := RequestIDFrom(ctx); ok {
			cmd.RequestID, cmd.Fingerprint, explicit = id, fp, true
		} else {
			id, err := newRequestID()
			if err != nil {
				return Result{}, err
			}
			cmd.RequestID = id
		}
	}
	if len(cmd.RequestID) > maxRequestID || len(cmd.Fingerprint) > maxRequestID {
		return Result{}, fmt.Errorf("cluster: propose %s: request ID or fingerprint longer than %d bytes", cmd.Type, maxRequestID)
	}
	if err := n.supported(ctx, r, Command{Type: dedupType, Version: 1}); err != nil {
		// A member's binary predates request IDs (rolling upgrade).
		if explicit {
			return Result{}, fmt.Errorf("cluster: propose %s with request ID: %w", cmd.Type, err)
		}
		cmd.RequestID = ""
	}
	cmd = n.attachActor(ctx, cmd)
	var (
		unknown  error     // the last unknown outcome, if any
		deadline time.Time // end of the retry budget, from the first unknown outcome
	)
	for attempt := 1; ; attempt++ {
		res, err := n.propose(ctx, cmd)
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.LeaderAddr != "" && nl.LeaderID != n.cfg.NodeID {
			res, err = n.forward(ctx, nl.LeaderAddr, nl.LeaderID, cmd)
		}
		switch {
		case errors.Is(err, ErrOutcomeUnknown):
			if cmd.RequestID == "" {
				return res, err // a retry could apply it twice
			}
			if unknown == nil {
				deadline = time.Now().Add(outcomeRetryBudget)
			}
			unknown = err
		case errors.Is(err, ErrNotLeader), errors.Is(err, ErrNoLeader):
			// Nothing reached a log this time. Without an earlier unknown
			// outcome, fail fast while no leader is known, and ask again
			// whom to send it to a few times when the node we asked was
			// no longer the leader (leaders change seldom).
			if unknown == nil && (!errors.As(err, &nl) || nl.LeaderAddr == "" || attempt >= 3) {
				return res, err
			}
		default:
			return res, err
		}
		if unknown != nil && !time.Now().Before(deadline) {
			return Result{}, fmt.Errorf("cluster: propose %s: gave up retrying: %w", cmd.Type, unknown)
		}
		if unknown != nil {
			n.log.Debug("retrying a command whose outcome is unknown", "type", cmd.Type, "rid", cmd.RequestID, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 250*time.Millisecond)):
		case <-n.closing:
			if unknown != nil {
				return Result{}, fmt.Errorf("cluster: propose %s: %w (node closing)", cmd.Type, unknown)
			}
			return Result{}, ErrClosed
		case <-ctx.Done():
			if unknown != nil {
				return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, unknown, ctx.Err())
			}
			return Result{}, ctx.Err()
		}
	}
}

// outcomeRetryBudget bounds how long Propose keeps sending a command whose
// outcome is unknown (in real time, from the first unknown
// outcome): long enough for an election after a leader died.
const outcomeRetryBudget = 10 * time.Second

// forward sends cmd to the leader over the node-to-node RPC, which
// proposes it (stamping Time) and answers with the index, the result as
// JSON and the error through the registry's error codec. Then it waits
// until this node has applied the index, unless ctx says
// WithoutLocalApply (ownwrites.go). A forwarded Result.Value is the
// apply function's value decoded by the Registry.HandleResult decoder of
// its type, or else the JSON itself (json.RawMessage): callers without a
// decoder read the state at Result.Index instead, as booking.Create does.
func (n *Node) forward(ctx context.Context, addr, id string, cmd Command) (Result, error) {
	data, err := encodeEntry(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("cluster: encode %s: %w", cmd.Type, err)
	}
	resp, err := n.call(ctx, addr, id, rpcRequest{Op: opPropose, Command: data})
	if err != nil {
		return Result{}, fmt.Errorf("cluster: forward %s: %w", cmd.Type, err)
	}
	res := Result{Index: resp.Index}
	n.own.note(resp.Index)
	if len(resp.Value) > 0 {
		res.Value = resp.Value
		if decode := n.cfg.Registry.resultDecoder(cmd.Type); decode != nil {
			v, err := decode(resp.Value)
			if err != nil {
				return res, fmt.Errorf("cluster: decode forwarded result of %s: %w", cmd.Type, err)
			}
			res.Value = v
		}
	}
	if err := n.codec.decode(resp.Error); err != nil {
		if errors.Is(err, ErrClosed) {
			// The leader shut down while it proposed the command: it may
			// be in the log that the next leader commits.
			return res, fmt.Errorf("cluster: forward %s: %w: %w", cmd.Type, ErrOutcomeUnknown, err)
		}
		if resp.Index == 0 || withoutLocalApply(ctx) {
			return res, err
		}
		// A domain error was still committed at Index: wait so that a
		// read after it sees the same state as the leader did.
		if werr := n.WaitApplied(ctx, resp.Index); werr != nil {
			return res, errors.Join(err, werr)
		}
		return res, err
	}
	if withoutLocalApply(ctx) {
		return res, nil
	}
	if err := n.WaitApplied(ctx, resp.Index); err != nil {
		return res, fmt.Errorf("cluster: wait for forwarded %s at %d: %w", cmd.Type, resp.Index, err)
	}
	return res, nil
}

// propose is Propose without the check that Close has begun. The outbox
// worker records its deliveries with it: Close stops the worker before it
// shuts raft down, so what the worker delivered until then is still
// recorded, and not sent again after a restart.
func (n *Node) propose(ctx context.Context, cmd Command) (Result, error) {
	return n.proposeTrusted(ctx, cmd, false)
}

// proposeTrusted is propose; trusted says that cmd.Payload is known to be
// valid JSON (it came in a frame that encoding/json accepted), so that
// its envelope copies it instead of checking it once more.
func (n *Node) proposeTrusted(ctx context.Context, cmd Command, trusted bool) (Result, error) {
	r := n.raft.Load()
	if r == nil {
		return Result{}, ErrNotStarted
	}
	fn, err := n.fsm.lookup(cmd)
	if err != nil {
		return Result{}, err
	}
	if fn == nil {
		// cluster.batch and cluster.dedup are known but not proposable.
		return Result{}, &UnknownCommandError{Type: cmd.Type, Version: cmd.Version}
	}
	if r.State() != raft.Leader {
		return Result{}, notLeader(r)
	}
	if err := n.supported(ctx, r, cmd); err != nil {
		return Result{}, err
	}
	cmd.Time = n.cfg.Now().UTC()
	encode := encodeEntry
	if trusted {
		encode = encodeTrusted
	}
	data, err := encode(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("cluster: encode %s: %w", cmd.Type, err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if n.fsm.shares(cmd.Type) && n.batch.canBatch(ctx, r) {
		return n.batch.propose(ctx, cmd, data)
	}
	f := r.Apply(data, timeoutOf(ctx))
	if ctx.Done() != nil {
		// The future has no channel; a helper goroutine turns it into one.
		// It ends when raft resolves the future, which raft always does
		// (applied, failed, or shut down).
		done := make(chan struct{})
		go func() {
			f.Error()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			// Handed to raft: it may still be applied.
			return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, ErrOutcomeUnknown, ctx.Err())
		}
	}
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return Result{}, notLeader(r)
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			// Shut down with the entry possibly in the log (and on
			// other nodes): it may still be applied.
			return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, ErrOutcomeUnknown, ErrClosed)
		}
		if errors.Is(err, raft.ErrLeadershipLost) {
			// In the log, not known committed: a new leader may still
			// commit it.
			return Result{}, fmt.Errorf("cluster: propose %s: %w: %w", cmd.Type, ErrOutcomeUnknown, err)
		}
		return Result{}, fmt.Errorf("cluster: propose %s: %w", cmd.Type, err)
	}
	res := Result{Index: f.Index()}
	resp, ok := f.Response().(*response)
	if !ok {
		return res, nil
	}
	res.Value = resp.Value
	return res, resp.Err
}

// notLeader builds the error that names the current leader.
func notLeader(r *raft.Raft) error {
	addr, id := r.LeaderWithID()
	return &NotLeaderError{LeaderAddr: string(addr), LeaderID: string(id)}
}

// WaitApplied blocks until this node has applied index, ctx ends or the
// node closes. It is woken by the FSM after each commit, not by polling.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return n.fsm.applied.wait(ctx, index, n.closing)
}

// DB returns the read-only pool over the local state (WAL, busy timeout,
// query_only). Writes through it fail: every write is a command.
func (n *Node) DB() *sql.DB { return n.readDB }

// AppliedIndex returns the index of the last entry applied to SQLite.
func (n *Node) AppliedIndex() uint64 { return n.fsm.applied.get() }

// IsLeader reports whether this node is the raft leader now.
func (n *Node) IsLeader() bool {
	r := n.raft.Load()
	return r != nil && r.State() == raft.Leader
}

// RaftAddr returns the address the raft transport listens on (useful when
// Config.RaftAddr had port 0), or "" before Start.
func (n *Node) RaftAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.trans == nil {
		return ""
	}
	return string(n.trans.LocalAddr())
}

// Snapshot makes raft take a snapshot now (and compact the log beyond
// TrailingLogs), for tests and operators.
func (n *Node) Snapshot() error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	if err := r.Snapshot().Error(); err != nil {
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return nil
}

// Close stops the outbox worker, raft and the transport, waits for the
// node's goroutines and closes the files. It is safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.closing)
		n.wg.Wait()
		var errs []error
		if r := n.raft.Load(); r != nil {
			if err := r.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: shut down raft: %w", err))
			}
		}
		n.mux.close()
		n.pool.close()
		n.mu.Lock()
		if n.trans != nil {
			if err := n.trans.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cluster: close transport: %w", err))
			}
		}
		n.mu.Unlock()
		errs = append(errs, n.closeFiles())
		n.closeErr = errors.Join(errs...)
		n.log.Info("node closed")
	})
	return n.closeErr
}

// closeFiles closes whatever New opened.
func (n *Node) closeFiles() error {
	var errs []error
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.readDB != nil {
		errs = append(errs, n.readDB.Close())
	}
	if n.fsm != nil {
		errs = append(errs, n.fsm.close())
	}
	return errors.Join(errs...)
}

// Interface check: the domain packages see a Node as a Proposer.
var _ Proposer = (*Node)(nil)

// unbatchedFSM is the FSM without raft.BatchingFSM, for benchmarks.
type unbatchedFSM struct{ f *fsm }

func (u unbatchedFSM) Apply(l *raft.Log) any               { return u.f.Apply(l) }
func (u unbatchedFSM) Snapshot() (raft.FSMSnapshot, error) { return u.f.Snapshot() }
func (u unbatchedFSM) Restore(rc io.ReadCloser) error      { return u.f.Restore(rc) }

// removeStaleTemps removes the temporary snapshot and restore copies that a
// crash left behind.
func removeStaleTemps(dir string) {
	for _, pattern := range []string{"snapshot-*.tmp*", "restore-*.tmp*"} {
		matches, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, m := range matches {
			os.Remove(m)
		}
	}
}

// Config returns the node's configuration with its defaults filled in.
// Tests restart a node from it (with a fresh Registry: New froze this
// one).
func (n *Node) Config() Config { return n.cfg }
