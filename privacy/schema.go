package privacy

import "github.com/sportello-virtuale/sportello/cluster"

// component names the package's schema in cluster_schema.
const component = "privacy"

// schemaV1 holds each Comune's retention, the legal holds and the record
// of the erasures.
//
//   - privacy_policies: one row per Comune and class the administrator
//     changed; a missing row means the default (DefaultPolicy).
//   - privacy_holds: the bookings exempt from erasure, with the reason and
//     who set the hold (the audit log records the command as well).
//   - privacy_erasures: one row per applied erasure with its counts, never
//     the subject: the compactor of every node reads the newest index to
//     know it must drop the old copies from its disk, and the back office
//     shows the history. at is the proposer's time in Unix milliseconds.
//   - privacy_keys: each Comune's data key (keys.go), sealed under a key
//     derived from secrets.key; deleting the row (with secure_delete and
//     the compaction that follows) destroys what the key encrypted.
const schemaV1 = `
CREATE TABLE privacy_policies (
	tenant TEXT NOT NULL,
	class  TEXT NOT NULL,
	days   INTEGER NOT NULL,
	PRIMARY KEY (tenant, class)
) WITHOUT ROWID;

CREATE TABLE privacy_holds (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	reason     TEXT NOT NULL,
	by_id      TEXT NOT NULL,
	by_name    TEXT NOT NULL,
	at         INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;

CREATE TABLE privacy_erasures (
	id        INTEGER PRIMARY KEY,
	cmd_index INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	tenant    TEXT NOT NULL,
	kind      TEXT NOT NULL CHECK (kind IN ('retention', 'citizen', 'tenant')),
	reason    TEXT NOT NULL,
	counts    TEXT NOT NULL,
	total     INTEGER NOT NULL
);
CREATE INDEX privacy_erasures_tenant ON privacy_erasures (tenant, id);

CREATE TABLE privacy_keys (
	tenant  TEXT NOT NULL PRIMARY KEY,
	key_id  TEXT NOT NULL,
	sealed  TEXT NOT NULL,
	created INTEGER NOT NULL
) WITHOUT ROWID;
`

// Migrations returns the package's schema steps (component "privacy").
func Migrations() []cluster.Migration {
	return []cluster.Migration{
		{Component: component, Version: 1, SQL: schemaV1},
		{Component: component, Version: 2, SQL: schemaV2},
	}
}

// schemaV2 adds privacy_marks: for each Comune and class, where the
// hourly retention's last complete pass stopped, so that the next one
// reads only what ended since (eraser.bookingsDue, eraser.ticketsDue).
// mark is a booking start (Unix seconds) for "bookings" and a ticket day
// (YYYY-MM-DD) for "tickets", as text: everything before it is erased or under a
// legal hold. Lifting a hold deletes the Comune's marks (applyHold), so
// the next pass reads the Comune whole once. The table's existence is
// the gate: the cluster migrates only once every member knows the
// schema, so every member that has the table applies the bounded reads.
const schemaV2 = `
CREATE TABLE privacy_marks (
	tenant TEXT NOT NULL,
	class  TEXT NOT NULL,
	mark   TEXT NOT NULL,
	PRIMARY KEY (tenant, class)
) WITHOUT ROWID;
`
