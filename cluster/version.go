package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// The version gate keeps a rolling upgrade safe. Each node records in the
// replicated state the command types it can apply and their highest
// version (its Registry plus the built-ins), with a cluster.capabilities
// command it proposes once it serves, whenever what it knows differs from
// what is recorded. The leader refuses to propose a command that a member
// of the raft configuration (voter or not) has recorded it cannot apply:
// that node would refuse it at apply time while the others applied it,
// and its state would diverge. Members that recorded nothing (a node of a
// version before the gate, or one that has just joined and not yet
// reported) do not hold commands back.

// capabilitiesType is the built-in command that records a node's
// capabilities.
const capabilitiesType = "cluster.capabilities"

// ErrNotSupportedByCluster is matched (errors.Is) by every
// *NotSupportedError: some member of the cluster cannot apply the command
// yet. Upgrade that node (or remove it) and retry.
var ErrNotSupportedByCluster = errors.New("cluster: command not supported by every node of the cluster")

// NotSupportedError names the node that cannot apply a command.
type NotSupportedError struct {
	Type    string
	Version int
	// NodeID is the first member (by ID) that cannot apply it.
	NodeID string
	// NodeMaxVersion is the highest version of Type the node knows, 0 when
	// it knows none.
	NodeMaxVersion int
	// NodeBinary is the node's binary version as it reported it.
	NodeBinary string
	// Nodes lists every member (by ID) that cannot apply it, NodeID first.
	Nodes []string
}

func (e *NotSupportedError) Error() string {
	known := "does not know the type"
	if e.NodeMaxVersion > 0 {
		known = fmt.Sprintf("knows up to v%d", e.NodeMaxVersion)
	}
	if len(e.Nodes) > 1 {
		return fmt.Sprintf("cluster: command %s v%d refused: nodes %s cannot apply it (node %s, binary %s, %s); upgrade or remove them first",
			e.Type, e.Version, strings.Join(e.Nodes, ", "), e.NodeID, e.NodeBinary, known)
	}
	return fmt.Sprintf("cluster: command %s v%d refused: node %s (binary %s) %s; upgrade or remove it first",
		e.Type, e.Version, e.NodeID, e.NodeBinary, known)
}

// Is makes errors.Is(err, ErrNotSupportedByCluster) true.
func (e *NotSupportedError) Is(target error) bool { return target == ErrNotSupportedByCluster }

// capabilitiesPayload is what a node records about itself.
type capabilitiesPayload struct {
	NodeID string         `json:"node_id"`
	Binary string         `json:"binary"`
	Types  map[string]int `json:"types"`
}

// capabilitiesSchema creates the tables of the gate. It runs inside the
// apply function (not as a migration), so that a cluster whose schema is
// already migrated needs no new migration for it; every node runs it at
// the same index.
const capabilitiesSchema = `
CREATE TABLE IF NOT EXISTS cluster_capabilities (
	node_id TEXT PRIMARY KEY,
	binary  TEXT NOT NULL,
	at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_capability_types (
	node_id     TEXT NOT NULL,
	type        TEXT NOT NULL,
	max_version INTEGER NOT NULL,
	PRIMARY KEY (node_id, type)
);`

// applyCapabilities replaces the node's recorded capabilities.
func applyCapabilities(tx *sql.Tx, cmd Command) (any, error) {
	var p capabilitiesPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if p.NodeID == "" {
		return nil, errors.New("cluster: capabilities without node_id")
	}
	if _, err := tx.Exec(capabilitiesSchema); err != nil {
		return nil, fmt.Errorf("cluster: create capability tables: %w", err)
	}
	if _, err := tx.Exec(`INSERT INTO cluster_capabilities (node_id, binary, at) VALUES (?, ?, ?)
		ON CONFLICT (node_id) DO UPDATE SET binary = excluded.binary, at = excluded.at`,
		p.NodeID, p.Binary, cmd.Time.UTC().Format("2006-01-02T15:04:05.000Z")); err != nil {
		return nil, fmt.Errorf("cluster: record capabilities of %s: %w", p.NodeID, err)
	}
	if _, err := tx.Exec(`DELETE FROM cluster_capability_types WHERE node_id = ?`, p.NodeID); err != nil {
		return nil, fmt.Errorf("cluster: record capabilities of %s: %w", p.NodeID, err)
	}
	types := make([]string, 0, len(p.Types))
	for t := range p.Types {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		if _, err := tx.Exec(`INSERT INTO cluster_capability_types (node_id, type, max_version) VALUES (?, ?, ?)`,
			p.NodeID, t, p.Types[t]); err != nil {
			return nil, fmt.Errorf("cluster: record capabilities of %s: %w", p.NodeID, err)
		}
	}
	return nil, nil
}

// Capabilities returns the command types this node can apply with their
// highest version: its Registry's and the built-ins; and, under the
// pseudo-type schemaCapability+component, the highest schema version of
// each component it can migrate to (so that the gate can hold back a
// cluster.migrate that an older member could not apply).
func (n *Node) Capabilities() map[string]int {
	out := make(map[string]int, len(n.fsm.handlers)+len(n.fsm.builtins)+len(n.fsm.migrations))
	for t, h := range n.fsm.handlers {
		out[t] = h.maxVersion
	}
	for t, h := range n.fsm.builtins {
		out[t] = h.maxVersion
	}
	for comp, ms := range n.fsm.migrations {
		out[schemaCapability+comp] = len(ms)
	}
	return out
}

// schemaCapability prefixes the component names in the recorded
// capabilities: "schema:booking" = 3 says the node can migrate booking's
// schema up to version 3. No command type has this form.
const schemaCapability = "schema:"

// binaryVersion is Config.BinaryVersion, or else the module version of
// the running binary as the Go toolchain recorded it ("(devel)" for a
// build outside a module version).
func (n *Node) binaryVersion() string {
	if n.cfg.BinaryVersion != "" {
		return n.cfg.BinaryVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// reportCapabilities records this node's capabilities in the replicated
// state unless they are recorded already. A leader of a version before the
// gate refuses the command (unknown type): that is logged, not fatal.
//
// A node alone in its configuration records nothing: no other node
// applies its commands, and a one-node install keeps its state free of
// gate rows. Nodes added later report at their own Start; the gap this
// leaves (a lone leader joined by others reports only at its next start)
// is why members without a record do not hold commands back.
func (n *Node) reportCapabilities(ctx context.Context) error {
	if r := n.raft.Load(); r != nil {
		f := r.GetConfiguration()
		if err := f.Error(); err != nil {
			return fmt.Errorf("read configuration: %w", err)
		}
		if len(f.Configuration().Servers) < 2 {
			return nil
		}
	}
	mine := n.Capabilities()
	recorded, found, err := n.recordedCapabilities(ctx, n.readDB, n.cfg.NodeID)
	if err != nil {
		return err
	}
	if found && equalCaps(recorded, mine) {
		return nil
	}
	cmd, err := NewCommand(capabilitiesType, 1, "", capabilitiesPayload{NodeID: n.cfg.NodeID, Binary: n.binaryVersion(), Types: mine})
	if err != nil {
		return err
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		var uc *UnknownCommandError
		if errors.As(err, &uc) {
			n.log.Warn("the leader cannot record capabilities (older version)", "err", err)
			return nil
		}
		return fmt.Errorf("record capabilities: %w", err)
	}
	n.log.Info("capabilities recorded", "types", len(mine), "binary", n.binaryVersion())
	return nil
}

func equalCaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for t, v := range a {
		if w, ok := b[t]; !ok || w != v {
			return false
		}
	}
	return true
}

// recordedCapabilities reads what node recorded; found is false when it
// recorded nothing (or no node ever did).
func (n *Node) recordedCapabilities(ctx context.Context, db *sql.DB, node string) (map[string]int, bool, error) {
	var bin string
	err := db.QueryRowContext(ctx, `SELECT binary FROM cluster_capabilities WHERE node_id = ?`, node).Scan(&bin)
	switch {
	case errors.Is(err, sql.ErrNoRows), isNoSuchTable(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("cluster: read capabilities of %s: %w", node, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT type, max_version FROM cluster_capability_types WHERE node_id = ?`, node)
	if err != nil {
		return nil, false, fmt.Errorf("cluster: read capabilities of %s: %w", node, err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var t string
		var v int
		if err := rows.Scan(&t, &v); err != nil {
			return nil, false, err
		}
		out[t] = v
	}
	return out, true, rows.Err()
}

func isNoSuchTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table")
}

// checkSupported refuses cmd with a *NotSupportedError when a member of
// the configuration recorded that it cannot apply it. The recorded
// capabilities command itself is never held back (it is how an upgraded
// node announces itself).
func (n *Node) checkSupported(ctx context.Context, r *raft.Raft, cmd Command) error {
	if cmd.Type == capabilitiesType {
		return nil
	}
	if cmd.Type == migrateType {
		// A migration is held back like a command: each target needs
		// every member to know the component's schema that far. A
		// member that recorded capabilities before schemas were part
		// of them counts as knowing none (it cannot be vouched for).
		var p migratePayload
		if err := cmd.Decode(&p); err != nil {
			return fmt.Errorf("cluster: decode %s: %w", cmd.Type, err)
		}
		for _, t := range p.Targets {
			if err := n.checkSupported(ctx, r, Command{Type: schemaCapability + t.Component, Version: t.Version}); err != nil {
				return err
			}
		}
		return nil
	}
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: read configuration: %w", err)
	}
	members := make(map[string]bool)
	for _, s := range f.Configuration().Servers {
		if string(s.ID) != n.cfg.NodeID {
			members[string(s.ID)] = true
		}
	}
	if len(members) == 0 {
		return nil
	}
	rows, err := n.readDB.QueryContext(ctx, `SELECT c.node_id, c.binary, coalesce(t.max_version, 0)
		FROM cluster_capabilities c
		LEFT JOIN cluster_capability_types t ON t.node_id = c.node_id AND t.type = ?
		ORDER BY c.node_id`, cmd.Type)
	if isNoSuchTable(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: read capabilities: %w", err)
	}
	defer rows.Close()
	var refused *NotSupportedError
	for rows.Next() {
		var node, bin string
		var maxV int
		if err := rows.Scan(&node, &bin, &maxV); err != nil {
			return fmt.Errorf("cluster: read capabilities: %w", err)
		}
		if !members[node] || cmd.Version <= maxV {
			continue
		}
		if refused == nil {
			refused = &NotSupportedError{Type: cmd.Type, Version: cmd.Version, NodeID: node, NodeMaxVersion: maxV, NodeBinary: bin}
		}
		refused.Nodes = append(refused.Nodes, node)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cluster: read capabilities: %w", err)
	}
	if refused != nil {
		return refused
	}
	return nil
}

// reportCapabilitiesRetry runs reportCapabilities until it succeeds, ctx
// ends or the node closes, retrying while no leader can take the command.
func (n *Node) reportCapabilitiesRetry(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := n.reportCapabilities(ctx)
		if err == nil || !(errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrOutcomeUnknown)) {
			return err
		}
		n.log.Debug("record capabilities: retrying", "err", err)
		select {
		case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 500*time.Millisecond)):
		case <-ctx.Done():
			return fmt.Errorf("record capabilities: %w", ctx.Err())
		case <-n.closing:
			return ErrClosed
		}
	}
}
