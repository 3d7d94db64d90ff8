package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// pruneTokensType is the built-in command that deletes the join tokens
// nobody can use any more. It is a command type of its own, not a step
// added to another command's apply, so that the version gate holds it
// back from clusters with older members (which would not delete them).
const pruneTokensType = "cluster.tokens.prune"

// tokenRetention is how long a used or expired join token stays in the
// replicated state: long enough to tell an operator "that token was used,
// by node3, on Monday" rather than "unknown token" for a week.
const tokenRetention = 7 * 24 * time.Hour

// applyPruneTokens deletes the tokens used or expired more than
// tokenRetention before the command's (leader-stamped) time, and returns
// how many. Removed-node records are kept: a removed ID stays refused for
// good, and there is one small row per removed node.
func applyPruneTokens(tx *sql.Tx, cmd Command) (any, error) {
	cutoff := cmd.Time.Add(-tokenRetention).UnixMilli()
	res, err := tx.Exec(`DELETE FROM cluster_tokens WHERE expires < ? OR (used IS NOT NULL AND used < ?)`, cutoff, cutoff)
	if err != nil {
		return nil, fmt.Errorf("cluster: prune tokens: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("cluster: prune tokens: %w", err)
	}
	return n, nil
}

// PruneTokens deletes the join tokens used or expired more than a week
// ago (leader time) and returns how many it deleted. CreateToken calls it,
// so the table holds at most a week of tokens; while a member of the
// cluster cannot apply the command yet (rolling upgrade) it does nothing
// and returns 0.
func (n *Node) PruneTokens(ctx context.Context) (int, error) {
	r := n.raft.Load()
	if r == nil {
		return 0, ErrNotStarted
	}
	if err := n.supported(ctx, r, Command{Type: pruneTokensType, Version: 1}); err != nil {
		return 0, nil
	}
	cmd, err := NewCommand(pruneTokensType, 1, "", struct{}{})
	if err != nil {
		return 0, err
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return 0, fmt.Errorf("cluster: prune tokens: %w", err)
	}
	switch v := res.Value.(type) {
	case int64:
		return int(v), nil
	case json.RawMessage:
		var count int
		if err := json.Unmarshal(v, &count); err != nil {
			return 0, fmt.Errorf("cluster: prune tokens: result: %w", err)
		}
		return count, nil
	}
	return 0, nil
}
