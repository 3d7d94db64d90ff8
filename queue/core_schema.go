package queue

// schemaV2 adds what transfers, parking and desk pauses need. The three
// ticket columns default to "never transferred, for any desk", which is
// what every ticket of version 1 was. queue_desks holds one row per desk
// that was ever paused: a desk without a row is open. It is keyed by the
// desk as the queue knows it (the booking desk's ID), not by day: a pause
// lasts until the desk resumes, even across midnight.
const schemaV2 = `
ALTER TABLE queue_tickets ADD COLUMN transferred_from TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_tickets ADD COLUMN for_desk TEXT NOT NULL DEFAULT '';
ALTER TABLE queue_tickets ADD COLUMN transferred INTEGER NOT NULL DEFAULT 0;

CREATE TABLE queue_desks (
	tenant    TEXT NOT NULL,
	office_id TEXT NOT NULL,
	desk      TEXT NOT NULL,
	paused    INTEGER NOT NULL,
	reason    TEXT NOT NULL,
	since     INTEGER NOT NULL,
	PRIMARY KEY (tenant, office_id, desk)
) WITHOUT ROWID;
`
