package docs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy/legalhold"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdChunk  = "media.doc.chunk"
	CmdCommit = "media.doc.commit"
	CmdExpire = "media.doc.expire"
)

// payloadVersion is the newest payload version of every command here.
const payloadVersion = 1

// Limits that apply enforces whatever the proposer's Policy says, so that
// no command can put more into the log and the state than a node is built
// for. chunkSize is what Put proposes: a 256 KiB chunk is about 350 KB of
// JSON (base64) in the log, a few milliseconds of replication, well under
// the RPC's 16 MiB frame and short enough that heartbeats never wait
// behind it. maxChunkBytes leaves room for another chunk size later.
const (
	chunkSize     = 256 << 10
	maxChunkBytes = 1 << 20
	maxDocBytes   = 64 << 20
	maxChunks     = 1024
	maxText       = 256
	// orphanAge is how long chunks without a commit are kept: an upload
	// of 20 MiB takes seconds, so an hour only erases abandoned ones.
	orphanAge = time.Hour
	// expireBatch bounds the documents (and abandoned uploads) one expire
	// command erases, so that one apply never deletes gigabytes at once.
	expireBatch = 64
)

// chunkPayload is version 1 of media.doc.chunk. Data travels as base64
// in the JSON envelope.
type chunkPayload struct {
	ID   string `json:"id"`
	Seq  int    `json:"seq"`
	Data []byte `json:"data"`
}

// commitPayload is version 1 of media.doc.commit. Everything in it was
// decided by the proposer: the ID, the sniffed type, the sanitised name,
// the upload time and the expiry (upload time plus the Comune's
// retention).
type commitPayload struct {
	ID       string    `json:"id"`
	Room     string    `json:"room"`
	Ref      string    `json:"ref,omitempty"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	From     string    `json:"from,omitempty"`
	Chunks   int       `json:"chunks"`
	Uploaded time.Time `json:"uploaded"`
	Expires  time.Time `json:"expires"`
	// StoredSHA256 (version 2) is the SHA-256 of the sealed chunks as
	// stored, when they are sealed (cipher.go); Size and SHA256 are then
	// those of the plain document, which readers check.
	StoredSHA256 string `json:"stored_sha256,omitempty"`
}

// expirePayload is version 1 of media.doc.expire: the proposer's clock,
// not the leader's stamp, decides what has expired, so that the caller's
// time (a test's clock, a node's) is the one every node applies.
type expirePayload struct {
	Now time.Time `json:"now"`
}

// Expired is the result of media.doc.expire.
type Expired struct {
	Documents int `json:"documents"`
	Uploads   int `json:"uploads"`
}

// errVersion refuses a payload newer than this node knows.
var errVersion = errors.New("docs: payload version not supported by this node")

// Register adds the documents' schema, commands and errors to reg.
func Register(reg *cluster.Registry) {
	reg.RegisterError("media_docs.not_found", ErrNotFound)
	reg.RegisterError("media_docs.incomplete", ErrIncomplete)
	reg.RegisterError("media_docs.exists", ErrExists)
	reg.Migrate(Migrations()...)
	reg.Handle(CmdChunk, payloadVersion, applyChunk)
	reg.Handle(CmdCommit, sealedVersion, applyCommit)
	reg.Handle(CmdExpire, payloadVersion, applyExpire)
	reg.HandleResult(CmdCommit, func(raw json.RawMessage) (any, error) {
		var d Document
		err := json.Unmarshal(raw, &d)
		return d, err
	})
	reg.HandleResult(CmdExpire, func(raw json.RawMessage) (any, error) {
		var e Expired
		err := json.Unmarshal(raw, &e)
		return e, err
	})
	// The audit log names the document, never its file name: a name can
	// be a citizen's data ("carta-identita-mario-rossi.jpg").
	reg.Describe(CmdCommit, func(cmd cluster.Command) string {
		var p commitPayload
		if cmd.Decode(&p) != nil {
			return CmdCommit
		}
		return fmt.Sprintf("document=%s room=%s type=%s size=%d", p.ID, p.Room, p.Type, p.Size)
	})
}

// validID accepts the IDs newID makes: 32 lowercase hex digits.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func committed(tx *sql.Tx, tenant, id string) (bool, error) {
	var one int
	err := tx.QueryRow(`SELECT 1 FROM media_docs WHERE tenant = ? AND id = ?`, tenant, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func applyChunk(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version > payloadVersion {
		return nil, errVersion
	}
	var p chunkPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	switch {
	case cmd.Tenant == "":
		return nil, errors.New("docs: chunk without a tenant")
	case !validID(p.ID):
		return nil, fmt.Errorf("docs: chunk of invalid document ID %q", p.ID)
	case p.Seq < 0 || p.Seq >= maxChunks:
		return nil, fmt.Errorf("docs: chunk %d out of range", p.Seq)
	case len(p.Data) == 0 || len(p.Data) > maxChunkBytes:
		return nil, fmt.Errorf("docs: chunk of %d bytes", len(p.Data))
	}
	done, err := committed(tx, cmd.Tenant, p.ID)
	if err != nil {
		return nil, err
	}
	if done {
		return nil, fmt.Errorf("chunk %d of %s: %w", p.Seq, p.ID, ErrExists)
	}
	// A chunk sent again (a retried upload) replaces the first copy: the
	// commit checks the hash of whatever is there.
	if _, err := tx.Exec(`INSERT INTO media_doc_chunks (tenant, doc, seq, data, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, doc, seq) DO UPDATE SET data = excluded.data, created = excluded.created`,
		cmd.Tenant, p.ID, p.Seq, p.Data, cmd.Time.UnixMilli()); err != nil {
		return nil, fmt.Errorf("store chunk %d of %s: %w", p.Seq, p.ID, err)
	}
	return nil, nil
}

func (p commitPayload) check() error {
	switch {
	case !validID(p.ID):
		return fmt.Errorf("invalid document ID %q", p.ID)
	case p.Chunks < 1 || p.Chunks > maxChunks:
		return fmt.Errorf("%d chunks", p.Chunks)
	case p.Size < 1 || p.Size > maxDocBytes:
		return fmt.Errorf("size %d", p.Size)
	case len(p.SHA256) != 64 || (p.StoredSHA256 != "" && len(p.StoredSHA256) != 64):
		return fmt.Errorf("SHA-256 %q", p.SHA256)
	case p.Type != TypePDF && p.Type != TypeJPEG && p.Type != TypePNG:
		return fmt.Errorf("type %q", p.Type)
	case p.Name == "" || len(p.Name) > maxText || p.Room == "" || len(p.Room) > maxText ||
		len(p.Ref) > maxText || len(p.From) > maxText:
		return errors.New("name, room, ref or sender empty or too long")
	case !p.Expires.After(p.Uploaded):
		return errors.New("expires before it is uploaded")
	}
	return nil
}

func applyCommit(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version > sealedVersion {
		return nil, errVersion
	}
	var p commitPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if cmd.Tenant == "" {
		return nil, errors.New("docs: commit without a tenant")
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("docs: commit: %w", err)
	}
	done, err := committed(tx, cmd.Tenant, p.ID)
	if err != nil {
		return nil, err
	}
	if done {
		return nil, fmt.Errorf("commit %s: %w", p.ID, ErrExists)
	}
	if err := verifyChunks(tx, cmd.Tenant, p); err != nil {
		return nil, fmt.Errorf("commit %s: %w", p.ID, err)
	}
	if _, err := tx.Exec(`INSERT INTO media_docs
		(tenant, id, room, ref, name, type, size, sha256, sender, chunks, uploaded, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		cmd.Tenant, p.ID, p.Room, p.Ref, p.Name, p.Type, p.Size, p.SHA256, p.From, p.Chunks,
		p.Uploaded.UnixMilli(), p.Expires.UnixMilli()); err != nil {
		return nil, fmt.Errorf("store document %s: %w", p.ID, err)
	}
	d := p.document(cmd.Tenant)
	return d, nil
}

// verifyChunks reads the document's chunks in order and checks that they
// are 0…Chunks-1 without a gap, that they add up to Size and that their
// concatenation hashes to SHA256, and that the first bytes are of the
// declared type. It reads one chunk at a time: a 20 MiB document costs
// the FSM about 20 MiB of reads and one SHA-256 pass, tens of
// milliseconds, once per document.
func verifyChunks(tx *sql.Tx, tenant string, p commitPayload) error {
	rows, err := tx.Query(`SELECT seq, data FROM media_doc_chunks WHERE tenant = ? AND doc = ? ORDER BY seq`, tenant, p.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	h := sha256.New()
	var (
		n    int
		size int64
	)
	for rows.Next() {
		var (
			seq  int
			data []byte
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return err
		}
		if seq != n {
			return fmt.Errorf("%w: chunk %d missing", ErrIncomplete, n)
		}
		if n == 0 && p.StoredSHA256 == "" && magicType(data) != p.Type {
			return fmt.Errorf("%w: the bytes are not %s", ErrIncomplete, p.Type)
		}
		h.Write(data)
		size += int64(len(data))
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	switch {
	case n != p.Chunks:
		return fmt.Errorf("%w: %d chunks of %d", ErrIncomplete, n, p.Chunks)
	case p.StoredSHA256 != "":
		// Sealed chunks: only their stored bytes can be checked here.
		if hex.EncodeToString(h.Sum(nil)) != p.StoredSHA256 {
			return fmt.Errorf("%w: SHA-256 of the sealed chunks does not match", ErrIncomplete)
		}
	case size != p.Size:
		return fmt.Errorf("%w: %d bytes, %d declared", ErrIncomplete, size, p.Size)
	case !bytes.Equal([]byte(hex.EncodeToString(h.Sum(nil))), []byte(p.SHA256)):
		return fmt.Errorf("%w: SHA-256 does not match", ErrIncomplete)
	}
	return nil
}

func (p commitPayload) document(t string) Document {
	return Document{
		ID: p.ID, Tenant: tenant.ID(t), Room: p.Room, Ref: p.Ref, Name: p.Name, Type: p.Type,
		Size: p.Size, SHA256: p.SHA256, From: p.From,
		Uploaded: p.Uploaded.UTC(), Expires: p.Expires.UTC(),
	}
}

// applyExpire erases, by the proposer's clock, up to expireBatch documents
// whose expiry has come (with their chunks) and up to expireBatch uploads
// never committed whose chunks are older than orphanAge. It runs across
// Comuni (as the audit log's prune does): each delete still names the
// tenant. The order is fixed, so every node erases the same rows.
func applyExpire(tx *sql.Tx, cmd cluster.Command) (any, error) {
	if cmd.Version > payloadVersion {
		return nil, errVersion
	}
	var p expirePayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	now := p.Now.UnixMilli()
	var out Expired
	// A document under legal hold (its booking, ticket or room is held:
	// package legalhold) outlives its expiry until the hold is lifted.
	// The condition is in the query, so that held documents never fill
	// the batch and block the others.
	hold, err := legalhold.Load(context.Background(), tx)
	if err != nil {
		return nil, err
	}
	docs, err := pairs(tx, `SELECT d.tenant, d.id FROM media_docs d WHERE d.expires <= ? AND NOT `+hold.Document("d")+`
		ORDER BY d.expires, d.tenant, d.id LIMIT ?`, now, expireBatch)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if _, err := tx.Exec(`DELETE FROM media_doc_chunks WHERE tenant = ? AND doc = ?`, d[0], d[1]); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(`DELETE FROM media_docs WHERE tenant = ? AND id = ?`, d[0], d[1]); err != nil {
			return nil, err
		}
		out.Documents++
	}
	orphans, err := pairs(tx, `SELECT DISTINCT c.tenant, c.doc FROM media_doc_chunks c
		WHERE c.created <= ? AND NOT EXISTS (SELECT 1 FROM media_docs d WHERE d.tenant = c.tenant AND d.id = c.doc)
		ORDER BY c.tenant, c.doc LIMIT ?`, now-orphanAge.Milliseconds(), expireBatch)
	if err != nil {
		return nil, err
	}
	for _, o := range orphans {
		if _, err := tx.Exec(`DELETE FROM media_doc_chunks WHERE tenant = ? AND doc = ?`, o[0], o[1]); err != nil {
			return nil, err
		}
		out.Uploads++
	}
	return out, nil
}

// pairs runs a query of two text columns.
func pairs(tx *sql.Tx, q string, args ...any) ([][2]string, error) {
	rows, err := tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		out = append(out, [2]string{a, b})
	}
	return out, rows.Err()
}
