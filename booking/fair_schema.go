package booking

// schemaV7 adds fair access to scarce slots (issue 11, fair_*.go):
//
//   - booking_fair_settings holds a service's fair-access settings; no row
//     means none of them (no caps beyond MaxActivePerCitizen, no proof of
//     work, no confirmation, every slot published at once).
//   - booking_fair_proofs is the replicated set of proof-of-work challenges
//     already used, by SHA-256, until they expire: a solution opens one
//     booking in the whole cluster.
//   - booking_fair_admits records an admission (a checked proof and the
//     salted hash of the client's network) for a booking ID about to be
//     created; the booking consumes it.
//   - booking_fair_contacts keeps, per booking, the normalised email and
//     phone the caps compare, and the network hash the report groups by
//     (cleared after fairNetRetention).
//   - booking_fair_reminded records the reminder to confirm, once per
//     booking and Sequence.
//   - booking_fair_confirmed records that the citizen confirmed an
//     appointment of a service with confirm-to-keep.
const schemaV7 = `
CREATE TABLE booking_fair_settings (
	tenant          TEXT NOT NULL,
	service_id      TEXT NOT NULL,
	max_per_email   INTEGER NOT NULL DEFAULT 0,
	max_per_phone   INTEGER NOT NULL DEFAULT 0,
	proof_bits      INTEGER NOT NULL DEFAULT 0,
	confirm_from_s  INTEGER NOT NULL DEFAULT 0,
	confirm_by_s    INTEGER NOT NULL DEFAULT 0,
	release_days    INTEGER NOT NULL DEFAULT 0,
	release_min     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, service_id)
) WITHOUT ROWID;

CREATE TABLE booking_fair_proofs (
	tenant       TEXT NOT NULL,
	hash         TEXT NOT NULL,
	expires_unix INTEGER NOT NULL,
	PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;
CREATE INDEX booking_fair_proofs_expiry ON booking_fair_proofs (tenant, expires_unix);

CREATE TABLE booking_fair_admits (
	tenant       TEXT NOT NULL,
	booking_id   TEXT NOT NULL,
	service_id   TEXT NOT NULL,
	bits         INTEGER NOT NULL,
	net          TEXT NOT NULL,
	created_unix INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;
CREATE INDEX booking_fair_admits_created ON booking_fair_admits (tenant, created_unix);

CREATE TABLE booking_fair_contacts (
	tenant       TEXT NOT NULL,
	booking_id   TEXT NOT NULL,
	service_id   TEXT NOT NULL,
	email        TEXT NOT NULL,
	phone        TEXT NOT NULL,
	net          TEXT NOT NULL,
	created_unix INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;
CREATE INDEX booking_fair_contacts_email ON booking_fair_contacts (tenant, service_id, email);
CREATE INDEX booking_fair_contacts_phone ON booking_fair_contacts (tenant, service_id, phone) WHERE phone <> '';
CREATE INDEX booking_fair_contacts_net ON booking_fair_contacts (tenant, created_unix) WHERE net <> '';

CREATE TABLE booking_fair_reminded (
	tenant     TEXT NOT NULL,
	booking_id TEXT NOT NULL,
	sequence   INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id, sequence)
) WITHOUT ROWID;

CREATE TABLE booking_fair_confirmed (
	tenant         TEXT NOT NULL,
	booking_id     TEXT NOT NULL,
	confirmed_unix INTEGER NOT NULL,
	PRIMARY KEY (tenant, booking_id)
) WITHOUT ROWID;
`
