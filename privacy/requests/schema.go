package requests

import "github.com/sportello-virtuale/sportello/cluster"

// component names the package's schema in cluster_schema.
const component = "privacyreq"

// schemaV1 holds the requests and the one-time links. Every key starts
// with the tenant. Times are Unix milliseconds of the leader's stamp
// (cmd.Time).
//
// privacyreq_links keeps only the SHA-256 of a link's token (hash) and,
// once the link is used, the SHA-256 of the access secret it opened
// (access_hash, valid until access_until): a copy of the database gives
// nobody a working link. email is lower-cased; issued lets apply count
// the links of one address in the last hour (the per-address limit).
//
// privacyreq_requests is one erasure request: who it is about
// (subject_cf and/or subject_email, normalised), where it came from (origin
// "citizen" or "operator", and the operator), its state ("pending",
// "approved", "refused") and the decision: who, when, why, and for an
// approval what the erasure reported (erase_index, erase_counts, JSON).
// The subject's columns are not named fiscal_code and email on purpose:
// privacy's erasure deletes every row of a Comune with an email column
// equal to the citizen's, and the record of the decision must outlive
// the erasure it records. An approval replaces them with digests
// (subjectDigest) and empties the note instead: the Comune can still
// show that it erased that person, and nothing reads them back.
const schemaV1 = `
CREATE TABLE privacyreq_links (
	tenant       TEXT NOT NULL,
	hash         TEXT NOT NULL,
	email        TEXT NOT NULL,
	issued       INTEGER NOT NULL,
	expires      INTEGER NOT NULL,
	used         INTEGER NOT NULL DEFAULT 0,
	access_hash  TEXT NOT NULL DEFAULT '',
	access_until INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (tenant, hash)
) WITHOUT ROWID;
CREATE INDEX privacyreq_links_email ON privacyreq_links (tenant, email, issued);
CREATE INDEX privacyreq_links_access ON privacyreq_links (tenant, access_hash) WHERE access_hash <> '';

CREATE TABLE privacyreq_requests (
	tenant          TEXT NOT NULL,
	id              TEXT NOT NULL,
	subject_cf      TEXT NOT NULL,
	subject_email   TEXT NOT NULL,
	origin          TEXT NOT NULL CHECK (origin IN ('citizen', 'operator')),
	note            TEXT NOT NULL,
	filed           INTEGER NOT NULL,
	filed_by        TEXT NOT NULL,
	filed_by_name   TEXT NOT NULL,
	state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'refused')),
	decided         INTEGER NOT NULL DEFAULT 0,
	decided_by      TEXT NOT NULL DEFAULT '',
	decided_by_name TEXT NOT NULL DEFAULT '',
	reason          TEXT NOT NULL DEFAULT '',
	erase_index     INTEGER NOT NULL DEFAULT 0,
	erase_counts    TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX privacyreq_requests_filed ON privacyreq_requests (tenant, filed);
`

// schemaV2 records the language of the page a request was filed from
// ("" is Italian, as in the payloads), so that the decision's email,
// sent days later from the back office, is written in the citizen's
// language like the link and the receipt.
const schemaV2 = `
ALTER TABLE privacyreq_requests ADD COLUMN lang TEXT NOT NULL DEFAULT '';
`

// Migrations returns the package's schema steps.
func Migrations() []cluster.Migration {
	return []cluster.Migration{
		{Component: component, Version: 1, SQL: schemaV1},
		{Component: component, Version: 2, SQL: schemaV2},
	}
}
