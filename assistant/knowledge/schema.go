package knowledge

import "github.com/sportello-virtuale/sportello/cluster"

// schemaV1 creates the knowledge tables. The tenant is the first column of
// every primary key, so every query names it and uses the key. created is
// the Unix nanoseconds of the command that created the row (the leader's
// stamp, cmd.Time): lists show entries in the order they were added, the
// order an administrator remembers. A synonym group's phrases are a JSON
// array of strings; service_id is "" for a group of equivalent phrases
// and a service's ID for phrases that name that service only.
//
// knowledge_version holds, per Comune, the log index and time of the last
// command that changed its FAQ or synonyms: the catalogue cache compares
// it (with booking's configuration version) to know its index is current.
const schemaV1 = `
CREATE TABLE knowledge_faq (
	tenant     TEXT NOT NULL,
	id         TEXT NOT NULL,
	question   TEXT NOT NULL,
	answer     TEXT NOT NULL,
	service_id TEXT NOT NULL,
	office_id  TEXT NOT NULL,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE knowledge_synonyms (
	tenant     TEXT NOT NULL,
	id         TEXT NOT NULL,
	service_id TEXT NOT NULL,
	phrases    TEXT NOT NULL,
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE knowledge_version (
	tenant    TEXT NOT NULL PRIMARY KEY,
	cmd_index INTEGER NOT NULL,
	cmd_time  INTEGER NOT NULL
) WITHOUT ROWID;
`

// Migrations returns the package's schema steps.
func Migrations() []cluster.Migration {
	return []cluster.Migration{{Component: "knowledge", Version: 1, SQL: schemaV1}}
}
