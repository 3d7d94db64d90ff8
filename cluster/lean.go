package cluster

// leanMigration is version 5 of the cluster component. It takes two
// B-trees out of the work every node does for every booking, the cost
// that bounds a three-node cluster on a small machine (see DESIGN.md,
// "Three nodes: throughput, and what limits it"):
//
//   - cluster_outbox_cmd indexed the outbox by command index for the old
//     COUNT(*) numbering; nothing reads it since the FSM numbers rows
//     itself.
//   - cluster_requests becomes a WITHOUT ROWID table clustered on the
//     request ID, so a record is one B-tree insert (plus the index on at
//     for pruning) instead of a rowid table and its primary key index.
//
// Nothing reads these tables differently afterwards: a follower still on
// version 4 during a rolling upgrade runs the same queries, and every node
// migrates at the same log index, so the digests stay equal.
func leanMigration() Migration {
	return Migration{
		Component: reservedComponent,
		Version:   5,
		SQL: `
DROP INDEX cluster_outbox_cmd;
CREATE TABLE cluster_requests_v5 (
	rid         TEXT PRIMARY KEY,
	cmd_index   INTEGER NOT NULL,
	type        TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	value       BLOB,
	error       BLOB,
	at          INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO cluster_requests_v5 (rid, cmd_index, type, fingerprint, value, error, at)
	SELECT rid, cmd_index, type, fingerprint, value, error, at FROM cluster_requests;
DROP TABLE cluster_requests;
ALTER TABLE cluster_requests_v5 RENAME TO cluster_requests;
CREATE INDEX cluster_requests_at ON cluster_requests (at);`,
	}
}

// leanOutboxMigration is version 6 of the cluster component: the outbox's
// due index keeps only the rows still to deliver (pending) or kept for
// inspection (failed), and carries the worker's whole sort order.
//
//   - Before, the index held every row, the delivered ones too, which are
//     nearly all of the table for as long as retention keeps them: every
//     node's insert of a booking's email went into a B-tree that grew with
//     the table, and every "sent" mark moved the row's entry within it (a
//     delete and an insert). Now the mark only deletes the entry, and the
//     index stays as small as the backlog.
//   - The columns (status, next_attempt, cmd_index, id) are the due
//     query's equality and ORDER BY, so SQLite reads the 64 due rows in
//     order instead of sorting them in a temporary B-tree.
//
// SQLite uses a partial index only for a query whose WHERE contains the
// index's condition, so the queries that rely on it (outboxPending, the
// metrics) say "status <> 'sent'" as well; before this version the term
// is harmless. The queries that read sent rows (retention, export) scan
// the table, as they did before.
func leanOutboxMigration() Migration {
	return Migration{
		Component: reservedComponent,
		Version:   6,
		SQL: `
DROP INDEX cluster_outbox_due;
CREATE INDEX cluster_outbox_due ON cluster_outbox (status, next_attempt, cmd_index, id) WHERE status <> 'sent';`,
	}
}
