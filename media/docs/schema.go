package docs

import "github.com/sportello-virtuale/sportello/cluster"

// component names the package's schema in cluster_schema.
const component = "media_docs"

// schemaV1 holds the documents. Every key starts with the tenant. A
// document's bytes are rows of media_doc_chunks (one per
// "media.doc.chunk" command, at most chunkSize bytes each); the document
// exists for readers only once "media.doc.commit" has written its row in
// media_docs, after checking the chunks. The chunks table keeps its rowid
// (no WITHOUT ROWID): SQLite advises against WITHOUT ROWID for rows larger
// than a fraction of a page, and chunks are 256 KiB. Times are Unix
// milliseconds of the proposer's clock.
const schemaV1 = `
CREATE TABLE media_docs (
	tenant   TEXT NOT NULL,
	id       TEXT NOT NULL,
	room     TEXT NOT NULL,
	ref      TEXT NOT NULL,
	name     TEXT NOT NULL,
	type     TEXT NOT NULL,
	size     INTEGER NOT NULL,
	sha256   TEXT NOT NULL,
	sender   TEXT NOT NULL,
	chunks   INTEGER NOT NULL,
	uploaded INTEGER NOT NULL,
	expires  INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX media_docs_room ON media_docs (tenant, room, uploaded);
CREATE INDEX media_docs_ref ON media_docs (tenant, ref, uploaded) WHERE ref <> '';
CREATE INDEX media_docs_expires ON media_docs (expires);

CREATE TABLE media_doc_chunks (
	tenant  TEXT NOT NULL,
	doc     TEXT NOT NULL,
	seq     INTEGER NOT NULL,
	data    BLOB NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (tenant, doc, seq)
);
CREATE INDEX media_doc_chunks_created ON media_doc_chunks (created);
`

// Migrations returns the package's schema steps (component "media_docs").
func Migrations() []cluster.Migration {
	return []cluster.Migration{{Component: component, Version: 1, SQL: schemaV1}}
}
