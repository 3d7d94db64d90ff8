package cluster

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
)

// Savepoint-free passes. Each command runs inside its own SAVEPOINT so
// that a command that fails after writing leaves nothing behind while the
// rest of its batch commits (see DESIGN.md, "One SQLite transaction per
// batch"). The savepoint is not free: SQLite copies every page that
// existed when the savepoint opened into the statement journal the first
// time the command changes it, so a booking, which touches a leaf of each
// of a dozen B-trees, copies about a dozen 4 KiB pages on every node, and
// the SAVEPOINT and RELEASE statements are two more calls into SQLite.
// Nearly every command of a busy cluster succeeds, so those copies are
// nearly always thrown away.
//
// So a batch is first applied without savepoints, optimistically, when
// every command in it is known to be safe that way (savepointFree). At
// the first command that fails, or that is a retry of a recorded request
// (which is rolled back too), or whose type is not known to be safe, the
// whole transaction is rolled back and the batch applied again the usual
// way, a savepoint per command. The outcome is the same either way: the
// FSM is deterministic, the commands before the one that stopped the pass
// meet the same state in the second pass and give the same results (an
// early answer already sent for one of them, early.go, is the answer the
// second pass computes, and is not sent twice), and a command that
// succeeds writes the same rows with or without a savepoint around it.
// Which pass a node used is not part of the replicated state: nodes may
// differ in it, never in the outcome.
//
// A command is savepoint-free when its apply function changes nothing but
// the transaction: the types that share log entries (Registry.ShareEntries:
// bookings, their cancellations and moves, session touches, fair-access
// admissions), which are also nearly all the commands under load, and the
// outbox's delivery marks. Migrations, membership and capability commands
// keep memory of their own (the FSM's view of the schema, the version
// gate's generation), and are rare: a batch holding one is applied the
// usual way.
//
// When commands keep failing (a rush on the few seats of a new release,
// where most bookings find their slot full), every optimistic pass would
// be thrown away and the batch applied twice. After a pass is redone the
// next ones are applied with savepoints straight away, for 1, 2, 4 …
// up to 64 batches in a row while the passes keep being redone; a pass
// that commits resets that. In a long rush at most one batch in 65 is
// applied twice.

// maxOptimismBackoff is the most batches applied with savepoints in a row
// after redone passes before the FSM tries without again.
const maxOptimismBackoff = 64

// optimism is the state of the savepoint-free passes. It is used only on
// raft's FSM goroutine, except the counters.
type optimism struct {
	off     bool // never try (tests compare both ways)
	skip    int  // batches still to apply with savepoints before trying again
	backoff int  // what the next redone pass sets skip to
	active  bool // the pass in progress runs without savepoints
	aborted bool // and met a command that needs one

	committed, redone atomic.Uint64 // savepoint-free passes, by outcome
}

// tryNext reports whether the next batch is to be tried without
// savepoints.
func (o *optimism) tryNext() bool {
	if o.off {
		return false
	}
	if o.skip > 0 {
		o.skip--
		return false
	}
	return true
}

// begin starts a pass, with savepoints or without.
func (o *optimism) begin(savepointFree bool) {
	o.active, o.aborted = savepointFree, false
}

// end closes the pass begun: committed, or rolled back to be redone.
func (o *optimism) end(committed bool) {
	if o.active {
		if committed {
			o.committed.Add(1)
			o.backoff = 0
		} else {
			o.redone.Add(1)
			o.backoff = min(max(2*o.backoff, 1), maxOptimismBackoff)
			o.skip = o.backoff
		}
	}
	o.active, o.aborted = false, false
}

// savepointFree reports whether commands of typ may be applied without a
// savepoint of their own: their apply function changes nothing but the
// transaction.
func (f *fsm) savepointFree(typ string) bool {
	switch typ {
	case outboxSentType, outboxRetryType, outboxFailedType:
		return true
	}
	return f.handlers[typ].shares
}

// applyWithoutSavepoint applies cmd, of a savepoint-free type, in a pass
// without savepoints. A command that fails, or is the retry of a recorded
// request, stops the pass (aborted): the batch is then applied again with
// savepoints, which undo it alone.
func (f *fsm) applyWithoutSavepoint(ctx context.Context, tx *sql.Tx, fn ApplyFunc, cmd Command) *response {
	dedup := cmd.RequestID != "" && f.dedupReady(ctx, tx)
	value, err := f.call(fn, tx, cmd)
	if err != nil {
		if environmental(err) {
			panic(fmt.Sprintf("cluster: fsm: entry %d (%s): storage failure: %v", cmd.Index, cmd.Type, err))
		}
		f.opt.aborted = true
		return nil
	}
	if dedup {
		if _, retry := f.record(ctx, tx, cmd, value, nil); retry {
			f.opt.aborted = true
			return nil
		}
	}
	f.audit(ctx, tx, cmd, nil)
	return &response{Value: value}
}

// SavepointFreePasses returns how many batches this node's FSM applied
// without savepoints (committed) and how many such passes it rolled back
// and applied again with them (redone).
func (n *Node) SavepointFreePasses() (committed, redone uint64) {
	if n.fsm == nil {
		return 0, 0
	}
	return n.fsm.opt.committed.Load(), n.fsm.opt.redone.Load()
}
