package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Idempotent writes. Every command that Propose sends carries a request ID
// (Command.RequestID): the caller's, or a random one that Propose picks.
// Propose's own retries after an unknown outcome (a forwarded command whose
// answer was lost, a leader that lost leadership with the entry in its log)
// send the same ID again. The FSM records, in the transaction that applies
// a command, its request ID with the outcome (value as JSON, domain error
// through the error codec), the client's fingerprint and the leader's time;
// a later command with a recorded ID is not applied again: the FSM answers
// with the recorded outcome, decoded as a forwarded one is. Records are
// kept for DedupWindow of leader time and then pruned inside apply, a few
// per log entry, so every node prunes the same rows at the same index.

// dedupType is not a command: it is advertised through the version gate
// (capabilities) by binaries whose FSM honours request IDs. While a member
// does not advertise it, Propose sends no request ID (an older FSM would
// apply a retried command again where newer ones skip it, and the states
// would diverge) and refuses a command that must carry one.
const dedupType = "cluster.dedup"

// DedupWindow is how long (in leader time, Command.Time) a request ID is
// remembered. A retry later than that is applied as a new request.
const DedupWindow = 24 * time.Hour

// ErrRequestReused is the domain error of a command whose request ID was
// already recorded with another fingerprint: the client used one
// idempotency key for two different requests. Nothing is applied.
var ErrRequestReused = errors.New("cluster: request ID already used for a different request")

// dedupMigration is version 3 of the cluster component: the request
// records. Times are Unix milliseconds of Command.Time.
func dedupMigration() Migration {
	return Migration{
		Component: reservedComponent,
		Version:   3,
		SQL: `
CREATE TABLE cluster_requests (
	rid         TEXT PRIMARY KEY,
	cmd_index   INTEGER NOT NULL,
	type        TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	value       BLOB,
	error       BLOB,
	at          INTEGER NOT NULL
);
CREATE INDEX cluster_requests_at ON cluster_requests (at);`,
	}
}

// Bounds of the pruning done inside apply: per entry, prunePerEntry rows
// plus prunePerCommand per command the entry carries, so that pruning
// keeps up with the records that a batched entry adds.
const (
	prunePerEntry   = 16
	prunePerCommand = 2
)

// maxRequestID bounds Command.RequestID (and the fingerprint); longer ones
// are refused before they reach the log.
const maxRequestID = 512

// newRequestID returns a random request ID.
func newRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("cluster: request ID: %w", err)
	}
	// The first six bytes are the time in milliseconds, so that records
	// are inserted near the end of cluster_requests' primary key (one
	// dirty page for many records, on every node) rather than anywhere.
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b[:]), nil
}

type requestKey struct{}

type requestInfo struct{ id, fingerprint string }

// WithRequestID returns a context that makes Propose give the commands
// proposed with it (when their RequestID is empty) this request ID and
// fingerprint. A web handler derives id from the client's idempotency key
// and fingerprint from the request's content; a repeat with the same id
// gets the first outcome, one with another fingerprint ErrRequestReused.
// A caller that proposes several commands for one request must give each
// its own ID (see RequestIDFrom).
func WithRequestID(ctx context.Context, id, fingerprint string) context.Context {
	return context.WithValue(ctx, requestKey{}, requestInfo{id, fingerprint})
}

// RequestIDFrom returns the request ID and fingerprint set by
// WithRequestID, if any.
func RequestIDFrom(ctx context.Context) (id, fingerprint string, ok bool) {
	ri, ok := ctx.Value(requestKey{}).(requestInfo)
	return ri.id, ri.fingerprint, ok && ri.id != ""
}

// dedupState tells the FSM whether cluster_requests exists yet (before
// migration 3 it does not, and commands are applied without records). It
// is read and written only on raft's FSM goroutine.
type dedupState int8

const (
	dedupUnknown dedupState = iota
	dedupOff
	dedupOn
)

// dedupReady reports whether the request table exists in tx's view,
// checking once after open, restore and each migrate command.
func (f *fsm) dedupReady(ctx context.Context, tx *sql.Tx) bool {
	if f.dedup == dedupUnknown {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cluster_requests'`).Scan(&n); err != nil {
			panic(fmt.Sprintf("cluster: fsm: look for cluster_requests: %v", err))
		}
		f.dedup = dedupOff
		if n > 0 {
			f.dedup = dedupOn
		}
	}
	return f.dedup == dedupOn
}

// recorded looks up cmd's request ID. It returns the recorded outcome when
// a record younger than DedupWindow at cmd.Time exists: the recorded value
// and error, or ErrRequestReused when the fingerprints differ.
func (f *fsm) recorded(ctx context.Context, tx *sql.Tx, cmd Command) (*response, bool) {
	var (
		typ, fp    string
		value, wer []byte
		at         int64
	)
	err := tx.QueryRowContext(ctx, `SELECT type, fingerprint, value, error, at FROM cluster_requests WHERE rid = ?`,
		cmd.RequestID).Scan(&typ, &fp, &value, &wer, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false
	case err != nil:
		panic(fmt.Sprintf("cluster: fsm: entry %d: read request %s: %v", cmd.Index, cmd.RequestID, err))
	case at <= cmd.Time.Add(-DedupWindow).UnixMilli():
		return nil, false // expired, not pruned yet
	case fp != cmd.Fingerprint || typ != cmd.Type:
		return &response{Err: fmt.Errorf("%s %s: %w", cmd.Type, cmd.RequestID, ErrRequestReused)}, true
	}
	resp := &response{}
	if len(wer) > 0 {
		var w wireError
		if err := json.Unmarshal(wer, &w); err != nil {
			panic(fmt.Sprintf("cluster: fsm: entry %d: recorded error of %s: %v", cmd.Index, cmd.RequestID, err))
		}
		resp.Err = f.codec.decode(&w)
	}
	if len(value) > 0 {
		resp.Value = json.RawMessage(value)
		if decode := f.resultDecoder(cmd.Type); decode != nil {
			v, err := decode(value)
			if err != nil {
				resp.Err = errors.Join(resp.Err, fmt.Errorf("cluster: decode recorded result of %s: %w", cmd.Type, err))
			}
			resp.Value = v
		}
	}
	return resp, true
}

// record stores cmd's outcome under its request ID, in the savepoint of
// the command, which has been applied. When the ID is already recorded
// and the record is live (recorded finds it), nothing is stored and
// retry is true: resp is the recorded outcome, and the caller rolls the
// command back. An expired record, not pruned yet, is replaced. A value
// that cannot be encoded is recorded as none (the replay then reads the
// state instead, as a forwarded caller does).
//
// The final state is the one of looking the ID up before applying (what
// older binaries do): a retry's changes are rolled back to the savepoint,
// so the two kinds of node stay identical in a rolling upgrade.
func (f *fsm) record(ctx context.Context, tx *sql.Tx, cmd Command, value any, applyErr error) (resp *response, retry bool) {
	var vb, eb []byte
	if r, ok := value.(Recorded); ok {
		value = r.RecordedValue()
	}
	if value != nil {
		b, err := marshalResult(value)
		if err != nil {
			f.log.Warn("result not recorded: cannot encode it", "type", cmd.Type, "index", cmd.Index, "err", err)
		} else {
			vb = b
		}
	}
	if w := f.codec.encode(applyErr); w != nil {
		b, err := json.Marshal(w)
		if err != nil {
			panic(fmt.Sprintf("cluster: fsm: entry %d: encode error of %s: %v", cmd.Index, cmd.RequestID, err))
		}
		eb = b
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO cluster_requests (rid, cmd_index, type, fingerprint, value, error, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rid) DO NOTHING`, cmd.RequestID, int64(cmd.Index), cmd.Type, cmd.Fingerprint, vb, eb,
		cmd.Time.UnixMilli())
	if err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: record request %s: %v", cmd.Index, cmd.RequestID, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: record request %s: %v", cmd.Index, cmd.RequestID, err))
	} else if n > 0 {
		return nil, false
	}
	if resp, ok := f.recorded(ctx, tx, cmd); ok {
		return resp, true
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO cluster_requests (rid, cmd_index, type, fingerprint, value, error, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, cmd.RequestID, int64(cmd.Index), cmd.Type, cmd.Fingerprint, vb, eb,
		cmd.Time.UnixMilli()); err != nil {
		panic(fmt.Sprintf("cluster: fsm: entry %d: record request %s: %v", cmd.Index, cmd.RequestID, err))
	}
	return nil, false
}

// Recorded is implemented by apply results that keep a smaller form in the
// request records: a replayed request gets RecordedValue() where the first
// one got the whole value (its JSON must decode with the type's
// Registry.HandleResult decoder). Every record is written on every node
// for every command, so its size counts: a booking's copy of the row
// doubled the bytes a booking wrote.
type Recorded interface {
	RecordedValue() any
}

// prune deletes up to limit request records older than DedupWindow at
// now (the entry's leader time). It runs once per log entry, so every
// node deletes the same rows at the same index.
func (f *fsm) prune(ctx context.Context, tx *sql.Tx, now time.Time, limit int) {
	if !f.dedupReady(ctx, tx) {
		return
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cluster_requests WHERE rid IN (
		SELECT rid FROM cluster_requests WHERE at <= ? ORDER BY at, rid LIMIT ?)`,
		now.Add(-DedupWindow).UnixMilli(), limit); err != nil {
		panic(fmt.Sprintf("cluster: fsm: prune request records: %v", err))
	}
}
