package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The audit log. A command proposed on behalf of a logged-in person
// carries its Actor (Command.Actor, taken by Propose from the context, see
// WithActor). When such a command is applied without error, the FSM
// writes one row in cluster_audit in the command's savepoint: the log
// index, the leader's time, the tenant, the actor, the command type and a
// short summary (the type's Registry.Describe function, or just the
// type). The row is written in apply, so every node holds the same log at
// the same index and nobody can edit it but through a command; the only
// command that deletes rows is the retention prune below.
//
// A node that does not know the audit log ignores the envelope's actor
// (unknown envelope fields are dropped) and would not write the row: the
// states would differ. So auditType is advertised through the version
// gate, and Propose attaches no actor while a member does not advertise
// it.

// auditType is not a command: its entry in the built-ins makes the version
// gate advertise that this binary writes audit rows for commands with an
// actor.
const auditType = "cluster.audit"

// auditPruneType is the built-in command that deletes audit rows older
// than the retention it carries. It is a command of its own (not pruning
// inside apply) so that the gate holds it back from older members, and so
// that the retention, a setting of the proposer, is in the log.
const auditPruneType = "cluster.audit.prune"

// AuditRetention is how long audit rows are kept by default: a year,
// long enough to answer "who changed this, and when" for a whole
// administrative year, short enough that the log of a busy Comune stays
// small.
const AuditRetention = 365 * 24 * time.Hour

// auditPruneEvery is the least time (of this node's clock) between two
// prunes proposed by one node; a day keeps the rows at most a day past
// their retention at the cost of one command a day.
const auditPruneEvery = 24 * time.Hour

// maxAuditSummary bounds the summary of one row, in bytes.
const maxAuditSummary = 300

// Actor is the person a command is proposed for: a user of the back
// office. It travels in the command (Command.Actor) and is written in the
// audit row.
type Actor struct {
	// ID is the user's ID (auth.User.ID); an Actor without ID is none.
	ID string `json:"id"`
	// Name is the user's display name at the time of the command.
	Name string `json:"name,omitempty"`
	// Tenant is the Comune of the user's session.
	Tenant string `json:"tenant,omitempty"`
	// Addr is the network address the request came from.
	Addr string `json:"addr,omitempty"`
}

type actorKey struct{}

// WithActor returns a context that makes Propose attach a to the commands
// proposed with it (when their Actor is nil), so that they are audited.
// auth/web's Sessions middleware sets it for every request with a
// session. An Actor without ID removes the actor of ctx.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor set by WithActor, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && a.ID != ""
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	// ID orders the rows: a later command has a larger ID.
	ID int64 `json:"id"`
	// Index is the log index of the command (shared by the commands of
	// one batched entry).
	Index  uint64    `json:"index"`
	Time   time.Time `json:"time"`
	Tenant string    `json:"tenant"`
	Actor  Actor     `json:"actor"`
	// Type is the command type, e.g. "auth.user.grants".
	Type string `json:"type"`
	// Summary names the objects of the command (IDs, never a citizen's
	// data); it is Type when the type has no describer.
	Summary string `json:"summary"`
}

// AuditFilter selects audit rows of one tenant.
type AuditFilter struct {
	// ActorID keeps the rows of one user ("" for all).
	ActorID string
	// From and To keep the rows with From <= Time < To (zero: unbounded).
	From, To time.Time
	// Before keeps the rows with ID < Before (0: from the newest); the
	// next page of a listing starts before its last row's ID.
	Before int64
	// Limit bounds the rows returned; 0 or less means 50, at most 500.
	Limit int
}

// auditMigration is version 4 of the cluster component (after the
// outbox, admission and request records): the audit rows. id is the rowid,
// so rows are numbered in apply order on every node; times are Unix
// milliseconds of Command.Time.
func auditMigration() Migration {
	return Migration{
		Component: reservedComponent,
		Version:   4,
		SQL: `
CREATE TABLE cluster_audit (
	id           INTEGER PRIMARY KEY,
	cmd_index    INTEGER NOT NULL,
	at           INTEGER NOT NULL,
	tenant       TEXT NOT NULL,
	actor_id     TEXT NOT NULL,
	actor_name   TEXT NOT NULL,
	actor_tenant TEXT NOT NULL,
	actor_addr   TEXT NOT NULL,
	type         TEXT NOT NULL,
	summary      TEXT NOT NULL
);
CREATE INDEX cluster_audit_tenant ON cluster_audit (tenant, id);
CREATE INDEX cluster_audit_actor ON cluster_audit (tenant, actor_id, id);
CREATE INDEX cluster_audit_at ON cluster_audit (at);`,
	}
}

// installAudit adds the audit log's built-ins to the FSM (its migration,
// version 4 of the cluster component, is in newFSM's list). New calls it
// right after newFSM, before anything is applied.
func (f *fsm) installAudit() {
	// Not a command: advertises, through the version gate, that this
	// binary writes audit rows.
	f.builtins[auditType] = handler{maxVersion: 1}
	f.builtins[auditPruneType] = handler{maxVersion: 1, fn: applyAuditPrune}
}

// Describe registers how commands of typ (already handled) are summed up
// in the audit log: describe gets the command as applied and returns a
// short text naming its objects by ID ("user=u1 offices=anagrafe"),
// never a citizen's personal data. It runs inside apply, so it must be
// deterministic and must only read cmd. It panics on an unknown type, a
// nil describe or a frozen registry.
func (r *Registry) Describe(typ string, describe func(Command) string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.frozen:
		panic(fmt.Sprintf("cluster: Describe(%q) after New", typ))
	case describe == nil:
		panic(fmt.Sprintf("cluster: Describe(%q): nil describe", typ))
	}
	h, ok := r.handlers[typ]
	if !ok {
		panic(fmt.Sprintf("cluster: Describe(%q): type not handled", typ))
	}
	h.describe = describe
	r.handlers[typ] = h
}

// audit writes the audit row of cmd when it carries an actor and was
// applied without error (applyErr nil), inside the command's savepoint.
// Before the audit migration there is no table and nothing is written:
// every node has the same schema at the same index, so every node skips
// alike.
func (f *fsm) audit(ctx context.Context, tx *sql.Tx, cmd Command, applyErr error) {
	if cmd.Actor == nil || cmd.Actor.ID == "" || applyErr != nil {
		return
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cluster_audit'`).Scan(&n); err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: look for cluster_audit: %v", cmd.Index, err))
	}
	if n == 0 {
		return
	}
	a := cmd.Actor
	ten := cmd.Tenant
	if ten == "" {
		ten = a.Tenant
	}
	summary := f.describe(cmd)
	if _, err := tx.ExecContext(ctx, `INSERT INTO cluster_audit
		(cmd_index, at, tenant, actor_id, actor_name, actor_tenant, actor_addr, type, summary)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(cmd.Index), cmd.Time.UnixMilli(), ten, a.ID, a.Name, a.Tenant, a.Addr, cmd.Type, summary); err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: write audit row: %v", cmd.Index, err))
	}
}

// describe returns the summary of cmd: its describer's text (bounded), or
// the type. A describer that panics gives the type; the panic is as
// deterministic as the describer, so every node writes the same row.
func (f *fsm) describe(cmd Command) (summary string) {
	fn := f.handlers[cmd.Type].describe
	if fn == nil {
		return cmd.Type
	}
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("audit describer panicked", "type", cmd.Type, "index", cmd.Index, "panic", fmt.Sprint(p))
			summary = cmd.Type
		}
	}()
	s := strings.TrimSpace(fn(cmd))
	if s == "" {
		return cmd.Type
	}
	if len(s) > maxAuditSummary {
		cut := maxAuditSummary
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// auditPrunePayload carries the retention chosen by the proposer.
type auditPrunePayload struct {
	Retention time.Duration `json:"retention"`
}

// applyAuditPrune deletes the audit rows older than the payload's
// retention at the command's (leader) time and returns how many.
func applyAuditPrune(tx *sql.Tx, cmd Command) (any, error) {
	var p auditPrunePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if p.Retention < 24*time.Hour {
		return nil, fmt.Errorf("cluster: audit prune: retention %s below a day", p.Retention)
	}
	res, err := tx.Exec(`DELETE FROM cluster_audit WHERE at < ?`, cmd.Time.Add(-p.Retention).UnixMilli())
	if err != nil {
		if isNoSuchTable(err) {
			return int64(0), nil
		}
		return nil, fmt.Errorf("cluster: audit prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("cluster: audit prune: %w", err)
	}
	return n, nil
}

// PruneAudit deletes the audit rows older than retention (leader time;
// AuditRetention when retention is 0) and returns how many it deleted.
// Propose calls it with AuditRetention at most once a day per node, before
// a command with an actor; while a member of the cluster cannot apply the
// command yet (rolling upgrade) it does nothing and returns 0.
func (n *Node) PruneAudit(ctx context.Context, retention time.Duration) (int, error) {
	r := n.raft.Load()
	if r == nil {
		return 0, ErrNotStarted
	}
	if retention == 0 {
		retention = AuditRetention
	}
	if err := n.supported(ctx, r, Command{Type: auditPruneType, Version: 1}); err != nil {
		return 0, nil
	}
	cmd, err := NewCommand(auditPruneType, 1, "", auditPrunePayload{Retention: retention})
	if err != nil {
		return 0, err
	}
	// The prune is the node's own housekeeping: it carries neither the
	// caller's actor nor its request ID (which names the caller's command).
	ctx = WithRequestID(WithActor(ctx, Actor{}), "", "")
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return 0, fmt.Errorf("cluster: prune audit log: %w", err)
	}
	switch v := res.Value.(type) {
	case int64:
		return int(v), nil
	case json.RawMessage:
		var count int
		if err := json.Unmarshal(v, &count); err != nil {
			return 0, fmt.Errorf("cluster: prune audit log: result: %w", err)
		}
		return count, nil
	}
	return 0, nil
}

// attachActor is Propose's step for the audit log: it gives cmd the actor
// of ctx when the command has none and every member of the cluster writes
// audit rows (else it drops any actor: a member that ignores it would
// apply the command differently), and prunes the log when this node has
// not done so for auditPruneEvery.
func (n *Node) attachActor(ctx context.Context, cmd Command) Command {
	if cmd.Actor == nil {
		a, ok := ActorFrom(ctx)
		if !ok {
			return cmd
		}
		cmd.Actor = &a
	}
	r := n.raft.Load()
	if r == nil || n.supported(ctx, r, Command{Type: auditType, Version: 1}) != nil {
		cmd.Actor = nil
		return cmd
	}
	now := n.cfg.Now()
	if last := n.auditPruned.Load(); now.UnixNano()-last >= int64(auditPruneEvery) &&
		n.auditPruned.CompareAndSwap(last, now.UnixNano()) {
		if _, err := n.PruneAudit(ctx, AuditRetention); err != nil && !errors.Is(err, ctx.Err()) {
			n.log.Warn("prune audit log", "err", err)
		}
	}
	return cmd
}

// Audit reads the audit rows of tenant from this node's state, newest
// first. It reads the local state: call WaitApplied first to see a
// write made through another node.
func (n *Node) Audit(ctx context.Context, tenant string, f AuditFilter) ([]AuditEntry, error) {
	return ReadAudit(ctx, n.readDB, tenant, f)
}

// ReadAudit reads the audit rows of tenant from db (a node's state),
// newest first. Before the audit migration it returns none.
func ReadAudit(ctx context.Context, db Queryer, tenant string, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	q := `SELECT id, cmd_index, at, tenant, actor_id, actor_name, actor_tenant, actor_addr, type, summary
		FROM cluster_audit WHERE tenant = ?`
	args := []any{tenant}
	if f.ActorID != "" {
		q += ` AND actor_id = ?`
		args = append(args, f.ActorID)
	}
	if !f.From.IsZero() {
		q += ` AND at >= ?`
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		q += ` AND at < ?`
		args = append(args, f.To.UnixMilli())
	}
	if f.Before > 0 {
		q += ` AND id < ?`
		args = append(args, f.Before)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.QueryContext(ctx, q, args...)
	if isNoSuchTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: read audit log of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var (
			e     AuditEntry
			index int64
			at    int64
		)
		if err := rows.Scan(&e.ID, &index, &at, &e.Tenant, &e.Actor.ID, &e.Actor.Name, &e.Actor.Tenant, &e.Actor.Addr,
			&e.Type, &e.Summary); err != nil {
			return nil, fmt.Errorf("cluster: read audit log of %s: %w", tenant, err)
		}
		e.Index, e.Time = uint64(index), time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cluster: read audit log of %s: %w", tenant, err)
	}
	return out, nil
}
