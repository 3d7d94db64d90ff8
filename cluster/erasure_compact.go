package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
)

// ErrCompactPending is returned by CompactAfterErasure when raft had
// nothing new to snapshot (an automatic snapshot came first) and so could
// not drop the log entries it keeps behind its last snapshot; the caller
// tries again after the next entry is applied.
var ErrCompactPending = errors.New("cluster: compaction waits for the next log entry")

// CompactAfterErasure drops from this node's disk the old copies of data
// that an applied command has just erased, so that erased personal data
// survives in none of the node's files:
//
//   - the Raft log: a snapshot is taken with TrailingLogs at 0 for that
//     one snapshot, so raft deletes every entry up to the snapshot's index
//     (the entries that carried the data, and the erasure's own);
//   - the raft-boltdb file: bolt keeps deleted entries' bytes in its free
//     pages, so the file is rewritten with the live entries only
//     (logstore.go);
//   - the snapshots: those older than the new one are removed at once,
//     not when the store's retention would reap them;
//   - the SQLite WAL: a TRUNCATE checkpoint copies the pages into the
//     database file (where secure_delete has zeroed the freed cells) and
//     empties the WAL file, which otherwise keeps the pre-erasure page
//     images until it is overwritten.
//
// It is meant to be called by one goroutine of the node (package
// privacy's compactor), rate-limited: every call writes a full snapshot.
// Followers that fall behind the compacted log catch up with an
// InstallSnapshot, which is what the log compaction always implies.
func (n *Node) CompactAfterErasure(ctx context.Context) error {
	r := n.raft.Load()
	if r == nil {
		return ErrNotStarted
	}
	cur := r.ReloadableConfig()
	tight := cur
	tight.TrailingLogs = 0
	if err := r.ReloadConfig(tight); err != nil {
		return fmt.Errorf("cluster: compact: %w", err)
	}
	err := r.Snapshot().Error()
	if rerr := r.ReloadConfig(cur); rerr != nil && err == nil {
		err = rerr
	}
	switch {
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		return ErrCompactPending
	case err != nil:
		return fmt.Errorf("cluster: compact: snapshot: %w", err)
	}
	if err := n.removeOlderSnapshots(); err != nil {
		return err
	}
	if err := n.store.rewrite(); err != nil {
		return err
	}
	return n.checkpointTruncate(ctx)
}

// removeOlderSnapshots removes every snapshot but the newest: the older
// ones hold the database as it was before the erasure.
func (n *Node) removeOlderSnapshots() error {
	metas, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("cluster: compact: list snapshots: %w", err)
	}
	// List returns the snapshots newest first.
	for i, m := range metas {
		if i == 0 {
			continue
		}
		// raft.FileSnapshotStore keeps its snapshots in a "snapshots"
		// folder of the folder it is given.
		if err := os.RemoveAll(filepath.Join(n.cfg.Dir, snapshotsDir, "snapshots", m.ID)); err != nil {
			return fmt.Errorf("cluster: compact: remove snapshot %s: %w", m.ID, err)
		}
	}
	return nil
}

// checkpointTruncate checkpoints the WAL into the database and truncates
// it to zero bytes. A reader holding an old snapshot of the database makes
// SQLite answer busy; the checkpoint is then tried again for a few
// seconds.
func (n *Node) checkpointTruncate(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var busy, logFrames, done int
		err := n.fsm.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
		if err != nil {
			return fmt.Errorf("cluster: compact: checkpoint: %w", err)
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("cluster: compact: the WAL checkpoint stayed busy")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
