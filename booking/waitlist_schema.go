package booking

import "github.com/sportello-virtuale/sportello/cluster"

// waitlistComponent is the schema component of the waiting lists and of
// App IO: a component of its own, so that it migrates independently of
// the booking tables' numbered versions, which other features take in
// turn.
const waitlistComponent = "booking-waitlist"

// waitlistSchemaV1 creates the waiting lists (waitlist.go) and the App IO
// channel (appio.go). Every table has the tenant first in its primary
// key and every index.
//
//   - booking_waitlist: one row per citizen waiting for a service. days
//     is a bit mask of the weekdays the citizen can come (bit 0 Sunday;
//     0 = any day). line is the log index of the join command: the order
//     of the line, the same on every node without a clock. link is the
//     entry's own page with its token (the only copy besides the join
//     command and its email), kept so that apply can write the offer
//     email when a seat frees; token_hash is what the pages compare.
//   - booking_waitlist_offers: a seat held for an entry until expires;
//     while status is 'pending' it counts against the slot's capacity in
//     reserve, so nobody else can book it.
//   - booking_waitlist_settings: per service, how long an offer holds
//     the seat (no row: DefaultOfferHold).
//   - booking_appio: per service, the sealed App IO API key and whether
//     the channel is on.
//   - booking_appio_noprofile: codici fiscali App IO answered 404 for, per
//     service, with the time, so that a citizen without the app is not
//     asked about at every message.
const waitlistSchemaV1 = `
CREATE TABLE booking_waitlist (
	tenant      TEXT NOT NULL,
	id          TEXT NOT NULL,
	service_id  TEXT NOT NULL,
	given_name  TEXT NOT NULL,
	family_name TEXT NOT NULL,
	email       TEXT NOT NULL,
	phone       TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	days        INTEGER NOT NULL,
	lang        TEXT NOT NULL,
	token_hash  BLOB NOT NULL,
	base_url    TEXT NOT NULL,
	link        TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('waiting', 'offered', 'booked', 'left', 'lapsed')),
	line        INTEGER NOT NULL,
	joined_unix INTEGER NOT NULL,
	closed_unix INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX booking_waitlist_line ON booking_waitlist (tenant, service_id, status, line);
CREATE INDEX booking_waitlist_email ON booking_waitlist (tenant, email, status);

CREATE TABLE booking_waitlist_offers (
	tenant       TEXT NOT NULL,
	entry_id     TEXT NOT NULL,
	service_id   TEXT NOT NULL,
	start_unix   INTEGER NOT NULL,
	expires_unix INTEGER NOT NULL,
	offered_unix INTEGER NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'expired', 'declined')),
	PRIMARY KEY (tenant, entry_id, start_unix)
) WITHOUT ROWID;
CREATE INDEX booking_waitlist_held ON booking_waitlist_offers (tenant, service_id, start_unix) WHERE status = 'pending';
CREATE INDEX booking_waitlist_expiry ON booking_waitlist_offers (tenant, expires_unix) WHERE status = 'pending';

CREATE TABLE booking_waitlist_settings (
	tenant     TEXT NOT NULL,
	service_id TEXT NOT NULL,
	hold_s     INTEGER NOT NULL,
	PRIMARY KEY (tenant, service_id)
) WITHOUT ROWID;

CREATE TABLE booking_appio (
	tenant     TEXT NOT NULL,
	service_id TEXT NOT NULL,
	sealed_key TEXT NOT NULL,
	enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	PRIMARY KEY (tenant, service_id)
) WITHOUT ROWID;

CREATE TABLE booking_appio_noprofile (
	tenant      TEXT NOT NULL,
	service_id  TEXT NOT NULL,
	fiscal_code TEXT NOT NULL,
	at_unix     INTEGER NOT NULL,
	PRIMARY KEY (tenant, service_id, fiscal_code)
) WITHOUT ROWID;
`

// waitlistMigrations returns the schema steps of component
// "booking-waitlist".
func waitlistMigrations() []cluster.Migration {
	return []cluster.Migration{
		{Component: waitlistComponent, Version: 1, SQL: waitlistSchemaV1},
		// Version 2, the email index in the collation of its count.
		{Component: waitlistComponent, Version: 2, SQL: waitlistSchemaV2},
	}
}
