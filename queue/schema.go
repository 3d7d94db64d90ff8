package queue

import "github.com/sportello-virtuale/sportello/cluster"

// schemaV1 holds the queue's tables. Every key starts with the tenant.
// queue_counters gives each (office, day, letter) its last number, so
// that apply numbers tickets without scanning them; the unique index on
// the number is the guard that two tickets never share one.
const schemaV1 = `
CREATE TABLE queue_offices (
	tenant    TEXT NOT NULL,
	office_id TEXT NOT NULL,
	groups    TEXT NOT NULL,
	early_s   INTEGER NOT NULL,
	late_s    INTEGER NOT NULL,
	sample    INTEGER NOT NULL,
	PRIMARY KEY (tenant, office_id)
) WITHOUT ROWID;

CREATE TABLE queue_counters (
	tenant    TEXT NOT NULL,
	office_id TEXT NOT NULL,
	day       TEXT NOT NULL,
	letter    TEXT NOT NULL,
	last      INTEGER NOT NULL,
	PRIMARY KEY (tenant, office_id, day, letter)
) WITHOUT ROWID;

CREATE TABLE queue_tickets (
	tenant        TEXT NOT NULL,
	id            TEXT NOT NULL,
	office_id     TEXT NOT NULL,
	day           TEXT NOT NULL,
	seq           INTEGER NOT NULL,
	number        TEXT NOT NULL,
	service_id    TEXT NOT NULL,
	channel       TEXT NOT NULL,
	priority      TEXT NOT NULL,
	booking_code  TEXT NOT NULL,
	appointment   INTEGER NOT NULL,
	booked        INTEGER NOT NULL,
	state         TEXT NOT NULL,
	desk          TEXT NOT NULL,
	recalls       INTEGER NOT NULL,
	duration_s    INTEGER NOT NULL,
	secret_hash   BLOB NOT NULL,
	taken         INTEGER NOT NULL,
	called        INTEGER NOT NULL,
	started       INTEGER NOT NULL,
	done          INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE UNIQUE INDEX queue_tickets_number ON queue_tickets (tenant, office_id, day, number);
CREATE UNIQUE INDEX queue_tickets_seq ON queue_tickets (tenant, office_id, day, seq);
CREATE INDEX queue_tickets_state ON queue_tickets (tenant, office_id, day, state);
CREATE UNIQUE INDEX queue_tickets_booking ON queue_tickets (tenant, booking_code)
	WHERE booking_code <> '' AND state <> 'cancelled';
`

// Migrations returns the queue's schema steps (component "queue").
func Migrations() []cluster.Migration {
	return []cluster.Migration{
		{Component: "queue", Version: 1, SQL: schemaV1},
		{Component: "queue", Version: 2, SQL: schemaV2},
		{Component: "queue", Version: 3, SQL: schemaV3},
		{Component: "queue", Version: 4, SQL: schemaV4},
		{Component: "queue", Version: 5, SQL: schemaV5},
		{Component: "queue", Version: 6, SQL: schemaV6},
	}
}
