package queue

// schemaV5 holds what confirmation by email, kiosk enrolment and the
// release of a transferred ticket need.
//
// queue_offices gains three settings, off by default so that an office
// behaves as before until its administrator turns them on.
// queue_pending holds remote tickets waiting for the citizen to open the
// link of the confirmation email: the take's payload as proposed (so
// that confirming files exactly what was asked), the secret's hash (the
// citizen's status link works while pending), the confirmation token's
// hash, the client's hashes (the caps count pending tickets too, or a
// script could queue a thousand emails) and the expiry stamped by the
// proposer. Rows go when confirmed, or at the office's next take or
// confirmation after they expire.
// queue_kiosks holds the kiosks enrolled per office: a label, the hash
// of the token the kiosk's cookie carries, who enrolled it and when, and
// when it was revoked (0 while it is valid). Revoked rows stay, for the
// back office's list and the audit.
const schemaV5 = `
ALTER TABLE queue_offices ADD COLUMN confirm_email INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_offices ADD COLUMN confirm_within_s INTEGER NOT NULL DEFAULT 900;
ALTER TABLE queue_offices ADD COLUMN kiosk_only INTEGER NOT NULL DEFAULT 0;

CREATE TABLE queue_pending (
	tenant      TEXT NOT NULL,
	id          TEXT NOT NULL,
	office_id   TEXT NOT NULL,
	day         TEXT NOT NULL,
	payload     TEXT NOT NULL,
	secret_hash BLOB NOT NULL,
	token_hash  BLOB NOT NULL,
	ip_hash     TEXT NOT NULL,
	device_hash TEXT NOT NULL,
	taken       INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX queue_pending_office ON queue_pending (tenant, office_id, expires);

CREATE TABLE queue_kiosks (
	tenant     TEXT NOT NULL,
	id         TEXT NOT NULL,
	office_id  TEXT NOT NULL,
	label      TEXT NOT NULL,
	token_hash BLOB NOT NULL,
	created    INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	revoked    INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX queue_kiosks_token ON queue_kiosks (tenant, token_hash);
CREATE INDEX queue_kiosks_office ON queue_kiosks (tenant, office_id);
`
