package docs

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy/legalhold"
	"github.com/sportello-virtuale/sportello/tenant"
)

// withDefaults fills the zero fields of p.
func (p Policy) withDefaults() Policy {
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	p.MaxBytes = min(p.MaxBytes, maxDocBytes)
	if len(p.Types) == 0 {
		p.Types = []string{TypePDF, TypeJPEG, TypePNG}
	}
	if p.Retention <= 0 {
		p.Retention = DefaultRetention
	}
	return p
}

// newID returns a document ID: six bytes of the time in milliseconds
// then ten random bytes, in hex. Starting with the time keeps inserts at
// the end of the tables' keys within a Comune.
func newID(now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("docs: document ID: %w", err)
	}
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b[:]), nil
}

// Put validates body and stores it as a document of room (ref may be "",
// from names the sender). In order: it reads at most p.MaxBytes+1 bytes
// (more: ErrTooLarge), refuses an empty file (ErrEmpty), sniffs the type
// from the bytes (not of p.Types: ErrType), scans them when the store has
// a scanner (ErrInfected, or ErrScan when the scanner cannot tell),
// sanitises name and gives it the type's extension; only then does it
// propose the chunks and the commit. A refused file proposes nothing. If
// the upload fails halfway (a leader change, ctx), the chunks proposed so
// far stay invisible and Expire erases them after an hour.
//
// The file is held in memory while it is checked (at most MaxBytes): the
// scan must end before anything is written, and the chunks are cut from
// the same bytes that were scanned and hashed.
func (s *Store) Put(ctx context.Context, t tenant.ID, room, ref, from, name string, body io.Reader, p Policy) (Document, error) {
	p = p.withDefaults()
	if t == "" || room == "" {
		return Document{}, errors.New("docs: put without a Comune or a room")
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(body, p.MaxBytes+1))
	if err != nil {
		if isTooLarge(err) {
			return Document{}, ErrTooLarge
		}
		return Document{}, fmt.Errorf("docs: read upload: %w", err)
	}
	if n > p.MaxBytes {
		return Document{}, ErrTooLarge
	}
	if n == 0 {
		return Document{}, ErrEmpty
	}
	data := buf.Bytes()
	typ := sniff(data)
	if typ == "" || !allowed(typ, p.Types) {
		return Document{}, ErrType
	}
	if s.scan != nil {
		if err := s.scan.Scan(ctx, bytes.NewReader(data)); err != nil {
			if errors.Is(err, ErrInfected) || errors.Is(err, ErrScan) {
				return Document{}, err
			}
			return Document{}, fmt.Errorf("%w: %w", ErrScan, err)
		}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	id, err := newID(now)
	if err != nil {
		return Document{}, err
	}
	sum := sha256.Sum256(data)
	cp := commitPayload{
		ID: id, Room: room, Ref: ref, Name: withExtension(SanitizeName(name), typ), Type: typ,
		Size: n, SHA256: hex.EncodeToString(sum[:]), From: from,
		Chunks: int((n + chunkSize - 1) / chunkSize), Uploaded: now, Expires: now.Add(p.Retention),
	}
	if err := cp.check(); err != nil {
		return Document{}, fmt.Errorf("docs: put: %w", err)
	}
	// Each chunk is its own request: a caller's idempotency key
	// (cluster.WithRequestID) would make the FSM answer the second chunk
	// with the first one's outcome. Chunks are not audited either (one
	// row per 256 KiB would drown the log); the commit is, with the
	// caller's actor.
	cctx := cluster.WithActor(cluster.WithRequestID(ctx, "", ""), cluster.Actor{})
	parts, version := split(data), payloadVersion
	if s.Cipher != nil {
		if parts, cp.StoredSHA256, err = s.sealChunks(ctx, t, id, parts); err != nil {
			return Document{}, fmt.Errorf("docs: seal: %w", err)
		}
		version = sealedVersion
	}
	if err := s.proposeChunks(cctx, t, id, parts); err != nil {
		return Document{}, err
	}
	cmd, err := cluster.NewCommand(CmdCommit, version, string(t), cp)
	if err != nil {
		return Document{}, err
	}
	if _, err := s.propose(cluster.WithRequestID(ctx, "", ""), cmd); err != nil {
		return Document{}, fmt.Errorf("docs: commit %s: %w", id, err)
	}
	return cp.document(string(t)), nil
}

// chunksInFlight is how many chunks of one upload are proposed at once.
// One at a time, each chunk waits for its own log write (fsyncs on every
// node) and replication; two at a time let raft write and send them
// together (twice the throughput, measured in DESIGN.md) while one
// AppendEntries carries at most about 700 KB of them.
const chunksInFlight = 2

// proposeChunks proposes the chunks of data, up to chunksInFlight at a
// time, and returns the first error. The chunks may be applied in any
// order: the commit checks that all of them are there.
func (s *Store) proposeChunks(ctx context.Context, t tenant.ID, id string, parts [][]byte) error {
	chunks := len(parts)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	slots := make(chan struct{}, chunksInFlight)
	for seq := 0; seq < chunks; seq++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		cmd, err := cluster.NewCommand(CmdChunk, payloadVersion, string(t), chunkPayload{ID: id, Seq: seq, Data: parts[seq]})
		if err != nil {
			<-slots
			mu.Lock()
			first = cmp.Or(first, err)
			mu.Unlock()
			break
		}
		// Each goroutine ends when its Propose returns, which ctx bounds;
		// proposeChunks waits for all of them.
		wg.Go(func() {
			defer func() { <-slots }()
			if _, err := s.propose(ctx, cmd); err != nil {
				mu.Lock()
				first = cmp.Or(first, fmt.Errorf("docs: store chunk %d of %d: %w", seq+1, chunks, err))
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// leaderWait bounds how long propose waits for a leader: an election
// takes a few heartbeats, and an upload of many chunks is more likely than
// a single command to meet one.
const leaderWait = 15 * time.Second

// propose is Node.Propose, tried again while no leader is known or the
// node asked was not the leader any more: in both cases nothing reached
// the log, so sending again cannot apply a command twice (and a chunk
// applied twice would only overwrite itself). Propose itself already
// resends commands whose outcome it does not know.
func (s *Store) propose(ctx context.Context, cmd cluster.Command) (cluster.Result, error) {
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(leaderWait)
	for {
		res, err := s.node.Propose(ctx, cmd)
		if err == nil || !(errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrNotLeader)) ||
			time.Now().After(deadline) {
			return res, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return res, err
		}
		delay = min(2*delay, time.Second)
	}
}

// isTooLarge recognises http.MaxBytesReader's error, so that a request
// cut by Upload's overall limit is reported as too large.
func isTooLarge(err error) bool {
	var tooLarge *http.MaxBytesError
	return errors.As(err, &tooLarge)
}

const docColumns = `id, room, ref, name, type, size, sha256, sender, uploaded, expires`

func scanDoc(t tenant.ID, row interface{ Scan(...any) error }) (Document, error) {
	var (
		d                 Document
		uploaded, expires int64
	)
	if err := row.Scan(&d.ID, &d.Room, &d.Ref, &d.Name, &d.Type, &d.Size, &d.SHA256, &d.From, &uploaded, &expires); err != nil {
		return Document{}, err
	}
	d.Tenant = t
	d.Uploaded = time.UnixMilli(uploaded).UTC()
	d.Expires = time.UnixMilli(expires).UTC()
	return d, nil
}

// Get returns a committed document of the Comune t that has not expired
// (ErrNotFound otherwise). It reads this node's state: a document
// committed through another node is visible here once this node has
// applied the commit (Put returns after its own node has).
func (s *Store) Get(ctx context.Context, t tenant.ID, id string) (Document, error) {
	d, err := s.get(ctx, t, id)
	if errors.Is(err, ErrNotFound) {
		// The link to a document is announced by the node holding the
		// call right after the commit; this node may not have applied it
		// yet. Catch up with the cluster once before saying it is not
		// there.
		if ferr := s.node.ReadFresh(ctx); ferr == nil {
			d, err = s.get(ctx, t, id)
		}
	}
	return d, err
}

// get reads a document from this node's copy of the state.
func (s *Store) get(ctx context.Context, t tenant.ID, id string) (Document, error) {
	live, err := s.live(ctx)
	if err != nil {
		return Document{}, err
	}
	row := s.node.DB().QueryRowContext(ctx, `SELECT `+docColumns+` FROM media_docs d
		WHERE tenant = ? AND id = ? AND `+live, string(t), id, s.now().UnixMilli())
	d, err := scanDoc(t, row)
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, fmt.Errorf("document %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Document{}, fmt.Errorf("docs: get %s: %w", id, err)
	}
	return d, nil
}

// List returns the committed, unexpired documents of a room, oldest
// first.
func (s *Store) List(ctx context.Context, t tenant.ID, room string) ([]Document, error) {
	return s.list(ctx, t, `room = ?`, room)
}

// ListRef returns the committed, unexpired documents of a reference
// ("booking:<id>"), oldest first: the operator's view of a booking after
// the call.
func (s *Store) ListRef(ctx context.Context, t tenant.ID, ref string) ([]Document, error) {
	if ref == "" {
		return nil, nil
	}
	return s.list(ctx, t, refCond, ref)
}

// refCond selects the documents of one reference. It names the condition
// of the partial index media_docs_ref (the reference is not empty),
// without which SQLite does not use it and reads every document of the
// Comune; ListRef never asks for the empty reference, so the term
// changes no result.
const refCond = `ref = ? AND ref <> ''`

// live is the condition of readable documents (alias d, one argument:
// now): not expired, or under legal hold. A held document is kept past
// its expiry so that the Comune can produce it; hiding it would make the
// hold useless.
func (s *Store) live(ctx context.Context) (string, error) {
	hold, err := legalhold.Load(ctx, s.node.DB())
	if err != nil {
		return "", fmt.Errorf("docs: %w", err)
	}
	return `(d.expires > ? OR ` + hold.Document("d") + `)`, nil
}

// listQuery selects the readable documents (live, see Store.live) of a
// Comune that meet cond, oldest first.
func listQuery(cond, live string) string {
	return `SELECT ` + docColumns + ` FROM media_docs d
		WHERE tenant = ? AND ` + cond + ` AND ` + live + ` ORDER BY uploaded, id`
}

func (s *Store) list(ctx context.Context, t tenant.ID, cond, arg string) ([]Document, error) {
	live, err := s.live(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.node.DB().QueryContext(ctx, listQuery(cond, live), string(t), arg, s.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("docs: list: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d, err := scanDoc(t, rows)
		if err != nil {
			return nil, fmt.Errorf("docs: list: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Open streams a committed document's bytes, one chunk (256 KiB) in
// memory at a time, read from this node's state in order. The reader
// checks the SHA-256 as it goes: a document whose bytes do not match ends
// with an error instead of io.EOF. A document erased while it is being
// read ends with io.ErrUnexpectedEOF. ctx bounds each chunk's read.
func (s *Store) Open(ctx context.Context, t tenant.ID, id string) (io.ReadCloser, error) {
	d, err := s.Get(ctx, t, id)
	if err != nil {
		return nil, err
	}
	var chunks int
	if err := s.node.DB().QueryRowContext(ctx, `SELECT chunks FROM media_docs WHERE tenant = ? AND id = ?`,
		string(t), id).Scan(&chunks); err != nil {
		return nil, fmt.Errorf("docs: open %s: %w", id, err)
	}
	db := s.node.DB()
	load := func(seq int) ([]byte, error) {
		var data []byte
		err := db.QueryRowContext(ctx, `SELECT data FROM media_doc_chunks WHERE tenant = ? AND doc = ? AND seq = ?`,
			string(t), id, seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("docs: chunk %d of %s: %w", seq, id, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, err
		}
		return s.openChunk(ctx, t, id, seq, data)
	}
	return &chunkReader{load: load, chunks: chunks, want: d.SHA256, h: sha256.New()}, nil
}

// chunkReader reads a document chunk by chunk. It is not safe for
// concurrent use (an io.Reader never is).
type chunkReader struct {
	load   func(seq int) ([]byte, error)
	chunks int
	next   int
	cur    []byte
	want   string
	h      hash.Hash
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.chunks {
			if hex.EncodeToString(r.h.Sum(nil)) != r.want {
				r.err = errors.New("docs: document bytes do not match their SHA-256")
			} else {
				r.err = io.EOF
			}
			return 0, r.err
		}
		data, err := r.load(r.next)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.next++
		r.h.Write(data)
		r.cur = data
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close releases the current chunk.
func (r *chunkReader) Close() error {
	r.cur, r.err = nil, errors.New("docs: reader closed")
	return nil
}

// Expire erases, by this store's clock, every document whose retention
// has ended and every upload left without a commit for more than an hour,
// and returns how many of each it erased in all. The leader runs it
// periodically (any node may: it is a command); it proposes
// media.doc.expire until a round erases less than a full batch.
func (s *Store) Expire(ctx context.Context) (int, error) {
	total := 0
	for {
		cmd, err := cluster.NewCommand(CmdExpire, payloadVersion, "", expirePayload{Now: s.now().UTC()})
		if err != nil {
			return total, err
		}
		res, err := s.propose(cluster.WithRequestID(ctx, "", ""), cmd)
		if err != nil {
			return total, fmt.Errorf("docs: expire: %w", err)
		}
		e, _ := res.Value.(Expired)
		total += e.Documents + e.Uploads
		if e.Documents < expireBatch && e.Uploads < expireBatch {
			return total, nil
		}
	}
}
