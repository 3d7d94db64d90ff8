package certs

import "github.com/sportello-virtuale/sportello/cluster"

// schemaV1 holds certmagic's storage and locks. Neither table has a
// tenant column: certificates belong to host names, and one name's
// certificate, key and ACME account serve the whole cluster, whichever
// Comune the host belongs to (the tenant registry decides which names
// may be issued, not this storage).
//
// certs_kv is the folder tree of certmagic's FileStorage flattened to
// its files: key is the slash-separated path, folders exist only as
// prefixes of keys (a range scan on the primary key lists them). value
// is the file's content, or for a private key (sealed = 1) the nonce and
// AES-GCM ciphertext; modified is the leader's time of the Store, in
// Unix milliseconds.
//
// certs_locks holds one row per held lock: holder is "<node ID>/<random>"
// (one per acquisition) and expires the end of its lease by the
// proposer's clock, in Unix milliseconds.
//
// certs_kv keeps its rowid: SQLite advises WITHOUT ROWID only for rows
// much smaller than a page, and certificate chains are a few kB (up to
// MaxValueSize).
const schemaV1 = `
CREATE TABLE certs_kv (
	key      TEXT PRIMARY KEY,
	value    BLOB NOT NULL,
	sealed   INTEGER NOT NULL,
	modified INTEGER NOT NULL
);
CREATE TABLE certs_locks (
	name    TEXT PRIMARY KEY,
	holder  TEXT NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
`

// Migrations returns the package's schema steps (component "certs").
func Migrations() []cluster.Migration {
	return []cluster.Migration{{Component: "certs", Version: 1, SQL: schemaV1}}
}
