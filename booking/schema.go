package booking

import "github.com/sportello-virtuale/sportello/cluster"

// schemaV1 creates the booking tables. Every table carries the tenant as the
// first column of its primary key and of every unique key and index, so a
// query that forgets the tenant cannot use an index and shows up in review.
// Times of bookings are Unix seconds in UTC (slots start on whole minutes);
// civil dates are "YYYY-MM-DD" text, which sorts as dates do. Lists
// (channels, what to bring, opening intervals) are JSON arrays.
const schemaV1 = `
CREATE TABLE booking_offices (
	tenant  TEXT NOT NULL,
	id      TEXT NOT NULL,
	name    TEXT NOT NULL,
	address TEXT NOT NULL,
	phone   TEXT NOT NULL,
	email   TEXT NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE booking_services (
	tenant            TEXT NOT NULL,
	id                TEXT NOT NULL,
	office_id         TEXT NOT NULL,
	name              TEXT NOT NULL,
	description       TEXT NOT NULL,
	category          TEXT NOT NULL,
	what_to_bring     TEXT NOT NULL,
	duration_s        INTEGER NOT NULL,
	channels          TEXT NOT NULL,
	capacity          INTEGER NOT NULL,
	min_notice_s      INTEGER NOT NULL,
	horizon_days      INTEGER NOT NULL,
	cancel_deadline_s INTEGER NOT NULL,
	max_active        INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX booking_services_office ON booking_services (tenant, office_id);

-- booking_hours holds weekly opening intervals: the office's own when
-- service_id is '', else the service's, which replace the office's.
CREATE TABLE booking_hours (
	tenant     TEXT NOT NULL,
	office_id  TEXT NOT NULL,
	service_id TEXT NOT NULL,
	weekday    INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
	start_min  INTEGER NOT NULL,
	end_min    INTEGER NOT NULL,
	PRIMARY KEY (tenant, office_id, service_id, weekday, start_min)
) WITHOUT ROWID;

-- booking_closures closes one office, or every office when office_id is ''.
CREATE TABLE booking_closures (
	tenant    TEXT NOT NULL,
	id        TEXT NOT NULL,
	office_id TEXT NOT NULL,
	from_date TEXT NOT NULL,
	to_date   TEXT NOT NULL,
	reason    TEXT NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX booking_closures_to ON booking_closures (tenant, to_date);

CREATE TABLE booking_openings (
	tenant    TEXT NOT NULL,
	id        TEXT NOT NULL,
	office_id TEXT NOT NULL,
	day       TEXT NOT NULL,
	intervals TEXT NOT NULL,
	reason    TEXT NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX booking_openings_day ON booking_openings (tenant, office_id, day);

-- booking_bookings keeps only the SHA-256 of the manage token. The join
-- token is kept as is: every email of the booking carries the join link.
CREATE TABLE booking_bookings (
	tenant      TEXT NOT NULL,
	id          TEXT NOT NULL,
	code        TEXT NOT NULL,
	service_id  TEXT NOT NULL,
	office_id   TEXT NOT NULL,
	start_unix  INTEGER NOT NULL,
	end_unix    INTEGER NOT NULL,
	channel     TEXT NOT NULL,
	given_name  TEXT NOT NULL,
	family_name TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	email       TEXT NOT NULL,
	phone       TEXT NOT NULL,
	details     TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
	manage_hash BLOB NOT NULL,
	join_token  TEXT NOT NULL,
	sequence    INTEGER NOT NULL,
	created     TEXT NOT NULL,
	updated     TEXT NOT NULL,
	PRIMARY KEY (tenant, id),
	UNIQUE (tenant, code)
) WITHOUT ROWID;
CREATE INDEX booking_bookings_slot ON booking_bookings (tenant, service_id, start_unix) WHERE status = 'active';
CREATE INDEX booking_bookings_citizen ON booking_bookings (tenant, service_id, fiscal_code, start_unix) WHERE status = 'active';
CREATE INDEX booking_bookings_office ON booking_bookings (tenant, office_id, start_unix);
`

// schemaV2 adds the version of each Comune's booking configuration: the
// log index and time of the last command that changed its offices,
// services, hours, closures or openings. Every apply function that writes
// those tables stores its command there, in the same transaction; apply
// then keeps what it reads of them in memory and checks this one row to
// know the copy is current (see configCache). A Comune without a row has
// had no change since the migration, version 0.
const schemaV2 = `
CREATE TABLE booking_config_version (
	tenant    TEXT NOT NULL PRIMARY KEY,
	cmd_index INTEGER NOT NULL,
	cmd_time  INTEGER NOT NULL
) WITHOUT ROWID;
`

// schemaV3 adds what the offices record of an appointment (outcome.go):
// booking_outcomes holds one row per booking the office has acted on
// (arrived, served or no-show, and a cancellation by the office with its
// reason), each step with who did it (user ID and display name) and when
// (the command's time, Unix seconds). booking_notes holds the internal
// notes, which the citizen never sees. The citizen-facing state stays in
// booking_bookings.status, so slot counting and the manage pages are
// untouched; the CHECK on that column is why the office's states live in
// a table of their own rather than as new status values.
const schemaV3 = `
CREATE TABLE booking_outcomes (
	tenant           TEXT NOT NULL,
	booking_id       TEXT NOT NULL,
	office_id        TEXT NOT NULL,
	arrived_unix     INTEGER NOT NULL DEFAULT 0,
	arrived_by       TEXT NOT NULL DEFAULT '',
	arrived_by_name  TEXT NOT NULL DEFAULT '',
	outcome          TEXT NOT NULL DEFAULT '' CHECK (outcome IN ('', 'served', 'no_show')),
	outcome_unix     INTEGER NOT NULL DEFAULT 0,
	outcome_by       TEXT NOT NULL DEFAULT '',
	outcome_by_name  TEXT NOT NULL DEFAULT '',
	outcome_note     TEXT NOT NULL DEFAULT '',
	cancelled_unix   INTEGER NOT NULL DEFAULT 0,
	cancelled_by     TEXT NOT NULL DEFAULT '',
	cancelled_by_name TEXT NOT NULL DEFAULT '',
	cancel_reason    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;
CREATE INDEX booking_outcomes_office ON booking_outcomes (tenant, office_id);

CREATE TABLE booking_notes (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	id         TEXT NOT NULL,
	at_unix    INTEGER NOT NULL,
	by_user    TEXT NOT NULL,
	by_name    TEXT NOT NULL,
	body       TEXT NOT NULL,
	PRIMARY KEY (tenant, booking_id, id)
) WITHOUT ROWID;
`

// schemaV4 adds the desks of the offices (desks.go). services is a JSON
// array of service IDs ([] for all the office's services); archived_unix
// is the time of the archiving command, 0 while the desk is in use: a
// desk is never deleted, so what happened at it keeps naming it.
const schemaV4 = `
CREATE TABLE booking_desks (
	tenant        TEXT NOT NULL,
	id            TEXT NOT NULL,
	office_id     TEXT NOT NULL,
	label         TEXT NOT NULL,
	kind          TEXT NOT NULL CHECK (kind IN ('counter', 'remote')),
	services      TEXT NOT NULL,
	archived_unix INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX booking_desks_office ON booking_desks (tenant, office_id, label);
`

// Migrations returns the schema steps of component "booking".
func Migrations() []cluster.Migration {
	return []cluster.Migration{
		{Component: "booking", Version: 1, SQL: schemaV1},
		{Component: "booking", Version: 2, SQL: schemaV2},
		{Component: "booking", Version: 3, SQL: schemaV3},
		// Version 4, the desks of the offices (desks.go).
		{Component: "booking", Version: 4, SQL: schemaV4},
		// Version 5, the desk's reservation for appointments (schema_v5.go).
		{Component: "booking", Version: 5, SQL: schemaV5},
		// Version 6, the booking's language and its reminders
		// (schema_v6.go).
		{Component: "booking", Version: 6, SQL: schemaV6},
		// Version 7, fair access to scarce slots (fair_schema.go).
		{Component: "booking", Version: 7, SQL: schemaV7},
		// Version 8, one index of booking_bookings fewer (schema_v8.go).
		{Component: "booking", Version: 8, SQL: schemaV8},
		// Version 9, the per-citizen index for capped services only
		// (schema_v9.go).
		{Component: "booking", Version: 9, SQL: schemaV9},
		// Version 10, the email index of the fair-access contacts for
		// filed emails only (schema_v10.go).
		{Component: "booking", Version: 10, SQL: schemaV10},
	}
}
