package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/mattn/go-sqlite3"
)

// response is what the FSM returns for each command entry; Propose hands
// Value or Err to the proposer.
type response struct {
	Value any
	Err   error
}

// fsm applies committed log entries to SQLite. It implements
// raft.BatchingFSM: each batch is one SQLite transaction, each command one
// SAVEPOINT inside it (unless the batch is tried without, optimistic.go),
// and the index of the batch's last entry is stored in
// cluster_state by the same transaction. ApplyBatch, Snapshot and Restore
// are called only from raft's FSM goroutine (never concurrently); db is the
// only read-write connection and is used by nobody else once raft runs.
type fsm struct {
	db         *sql.DB
	dir        string
	log        *slog.Logger
	handlers   map[string]handler
	builtins   map[string]handler
	migrations map[string][]Migration
	order      []string // components in the order their migrations run
	applied    *indexWaiter
	// onCommit is called after every committed batch and restore (it wakes
	// the outbox worker); it must not block.
	onCommit func()
	// early answers the leader's proposals that need not wait for the
	// commit (early.go).
	early earlyAnswers
	// capGen counts changes of the recorded capabilities (see gate.go); it
	// moves when a capabilities command is applied and again once its
	// batch is committed, and on every restore. capDirty is set by the
	// apply and read after the commit, both on raft's FSM goroutine.
	capGen   atomic.Uint64
	capDirty bool
	// codec and resultDecoder turn a recorded outcome back into the value
	// and error a replayed request gets (dedup.go); dedup says whether
	// the request table exists yet. dedup is used only on raft's FSM
	// goroutine.
	codec         *errorCodec
	resultDecoder func(typ string) func(json.RawMessage) (any, error)
	dedup         dedupState
	// savepoint and release open and close each command's savepoint,
	// prepared in the transaction of the batch being applied (nil
	// between batches). Executed as plain text, SQLite compiled them
	// again for every command.
	savepoint, release *sql.Stmt
	// ckpt copies the WAL into the database file in the background
	// (checkpoint.go).
	ckpt *checkpointer
	// opt is the state of the savepoint-free passes (optimistic.go).
	opt optimism
}

// newFSM opens (or creates) the SQLite state in dir.
func newFSM(dir string, reg *Registry, log *slog.Logger) (*fsm, error) {
	handlers, migrations, order, err := reg.freeze()
	if err != nil {
		return nil, err
	}
	db, err := openWriteDB(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, err
	}
	applied, err := readAppliedIndex(context.Background(), db)
	if err != nil {
		db.Close()
		return nil, err
	}
	ckpt, err := startCheckpointer(filepath.Join(dir, stateFile), log)
	if err != nil {
		db.Close()
		return nil, err
	}
	f := &fsm{
		ckpt:       ckpt,
		db:         db,
		dir:        dir,
		log:        log,
		handlers:   handlers,
		migrations: migrations,
		order:      append([]string{reservedComponent}, order...),
		applied:    newIndexWaiter(applied),
		onCommit:   func() {},

		codec:         reg.errorCodecOf(),
		resultDecoder: reg.resultDecoder,
	}
	f.migrations[reservedComponent] = append(clusterMigrations(), dedupMigration(), auditMigration(), leanMigration(), leanOutboxMigration())
	f.builtins = map[string]handler{
		migrateType:      {maxVersion: 1, fn: f.applyMigrate},
		outboxSentType:   {maxVersion: outboxSentVersion, fn: applyOutboxSent},
		outboxRetryType:  {maxVersion: 1, fn: applyOutboxRetry},
		outboxFailedType: {maxVersion: 1, fn: applyOutboxFailed},
		capabilitiesType: {maxVersion: 1, fn: func(tx *sql.Tx, cmd Command) (any, error) {
			f.capGen.Add(1)
			f.capDirty = true
			return applyCapabilities(tx, cmd)
		}},
		// Entries of this type are taken apart in applyOne; the entry
		// is here so that the version gate advertises it.
		batchType: {maxVersion: 1},
		// Not a command either: its entry makes the version gate
		// advertise that this binary honours request IDs (dedup.go).
		dedupType: {maxVersion: 1},
	}
	for typ, h := range admissionBuiltins() {
		f.builtins[typ] = h
	}
	return f, nil
}

func (f *fsm) close() error { return errors.Join(f.ckpt.close(), f.db.Close()) }

// lookup finds the apply function for cmd, or returns the
// *UnknownCommandError that is the command's result.
func (f *fsm) lookup(cmd Command) (ApplyFunc, error) {
	table := f.handlers
	if len(cmd.Type) >= len(reservedPrefix) && cmd.Type[:len(reservedPrefix)] == reservedPrefix {
		table = f.builtins
	}
	h, ok := table[cmd.Type]
	if !ok {
		return nil, &UnknownCommandError{Type: cmd.Type, Version: cmd.Version}
	}
	if cmd.Version < 1 || cmd.Version > h.maxVersion {
		return nil, &UnknownCommandError{Type: cmd.Type, Version: cmd.Version, MaxVersion: h.maxVersion}
	}
	return h.fn, nil
}

// shares reports whether commands of typ may share a log entry.
func (f *fsm) shares(typ string) bool { return f.handlers[typ].shares }

// Apply applies one entry; raft calls ApplyBatch instead, this is here to
// satisfy raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies a batch of committed entries in one SQLite
// transaction. Entries at or below the stored applied index were applied
// before a restart and are skipped. It panics when the transaction cannot
// begin or commit, or on an entry that is not a command envelope: going on
// would make this node differ from the others; after a restart the node
// replays from its last committed index.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	resps := make([]any, len(logs))
	if len(logs) == 0 {
		return resps
	}
	applied := f.applied.get()
	last := logs[len(logs)-1].Index
	if last <= applied {
		return resps
	}
	// Each entry is decoded once, for both passes; the types say
	// whether the batch may be tried without savepoints (optimistic.go).
	cmds := make([]Command, len(logs))
	free := true
	for i, l := range logs {
		if l.Index <= applied || l.Type != raft.LogCommand {
			continue
		}
		cmd, err := decodeEntry(l.Data)
		if err != nil {
			panic(fmt.Sprintf("cluster: fsm: entry %d is not a command: %v", l.Index, err))
		}
		cmd.Index = l.Index
		cmds[i] = cmd
		if cmd.Type != batchType || cmd.Version != 1 {
			free = free && f.savepointFree(cmd.Type)
		}
	}
	ctx := context.Background()
	if free && f.opt.tryNext() {
		if f.applyAll(ctx, logs, cmds, applied, last, resps, true) {
			return resps
		}
		clear(resps)
	}
	f.applyAll(ctx, logs, cmds, applied, last, resps, false)
	return resps
}

// applyAll applies logs (after applied, up to last) in one transaction,
// filling resps, and commits it. Without savepoints (optimistic) it stops
// at the first command that fails or is not known to be safe that way,
// rolls the transaction back and returns false; otherwise it returns true.
func (f *fsm) applyAll(ctx context.Context, logs []*raft.Log, cmds []Command, applied, last uint64, resps []any, optimistic bool) bool {
	tx, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		panic(fmt.Sprintf("cluster: fsm: begin transaction for entries up to %d: %v", last, err))
	}
	if !optimistic {
		// The statements belong to tx: its commit closes them (and hands
		// them back to the connection's statement cache).
		if f.savepoint, err = tx.PrepareContext(ctx, `SAVEPOINT cmd`); err != nil {
			panic(fmt.Sprintf("cluster: fsm: prepare savepoint: %v", err))
		}
		if f.release, err = tx.PrepareContext(ctx, `RELEASE cmd`); err != nil {
			panic(fmt.Sprintf("cluster: fsm: prepare release: %v", err))
		}
		defer func() { f.savepoint, f.release = nil, nil }()
	}
	dedup := f.dedup
	f.opt.begin(optimistic)
	for i, l := range logs {
		if l.Index <= applied || l.Type != raft.LogCommand {
			continue
		}
		resps[i] = f.applyOne(ctx, tx, cmds[i], l.Data)
		if f.opt.aborted {
			if err := tx.Rollback(); err != nil {
				panic(fmt.Sprintf("cluster: fsm: roll back entries up to %d: %v", last, err))
			}
			// What the pass learnt of the schema went with it.
			f.dedup = dedup
			f.opt.end(false)
			return false
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cluster_state SET applied_index = ? WHERE id = 1`, int64(last)); err != nil {
		panic(fmt.Sprintf("cluster: fsm: store applied index %d: %v", last, err))
	}
	if err := tx.Commit(); err != nil {
		panic(fmt.Sprintf("cluster: fsm: commit entries up to %d: %v", last, err))
	}
	f.opt.end(true)
	f.applied.set(last)
	if f.capDirty {
		f.capDirty = false
		f.capGen.Add(1)
	}
	f.onCommit()
	return true
}

// applyOne applies one command entry, cmd decoded from data: a command
// inside its own savepoint, or each command of a cluster.batch entry
// inside its own (or without, in a savepoint-free pass).
func (f *fsm) applyOne(ctx context.Context, tx *sql.Tx, cmd Command, data []byte) any {
	cmd.outbox = &outboxSeq{}
	if cmd.Type == batchType && cmd.Version == 1 {
		resp := f.applyBatchEntry(ctx, tx, cmd, data)
		if f.opt.aborted {
			return nil
		}
		f.prune(ctx, tx, cmd.Time, prunePerEntry+prunePerCommand*len(resp.resps))
		return resp
	}
	resp := f.applyCommand(ctx, tx, cmd)
	if f.opt.aborted {
		return nil
	}
	f.prune(ctx, tx, cmd.Time, prunePerEntry+prunePerCommand)
	return resp
}

// applyCommand applies one command inside its own savepoint, or, in a
// savepoint-free pass, without one (applyWithoutSavepoint), stopping the
// pass at a command that needs one.
func (f *fsm) applyCommand(ctx context.Context, tx *sql.Tx, cmd Command) *response {
	if f.opt.active && !f.savepointFree(cmd.Type) {
		f.opt.aborted = true
		return nil
	}
	fn, err := f.lookup(cmd)
	if err == nil && fn == nil {
		err = &UnknownCommandError{Type: cmd.Type, Version: cmd.Version}
	}
	if err != nil {
		if f.opt.active {
			f.opt.aborted = true
			return nil
		}
		f.log.Warn("command refused", "type", cmd.Type, "version", cmd.Version, "index", cmd.Index, "err", err)
		return &response{Err: err}
	}
	if f.opt.active {
		return f.applyWithoutSavepoint(ctx, tx, fn, cmd)
	}
	// A command with a request ID is applied first and its outcome
	// recorded after, with an insert that does nothing when the ID is
	// already recorded: then the command is a retry, its changes are
	// rolled back like a failed command's, and the recorded outcome is
	// the answer (see dedup.go). Looking the ID up before applying cost
	// every command a query, for the rare retry.
	dedup := cmd.RequestID != "" && f.dedupReady(ctx, tx)
	if cmd.Type == migrateType {
		// A migration may create the request table (or roll back its
		// creation): look again at the next command.
		defer func() { f.dedup = dedupUnknown }()
	}
	if _, err := f.savepoint.ExecContext(ctx); err != nil {
		panic(fmt.Sprintf("cluster: fsm: savepoint for entry %d: %v", cmd.Index, err))
	}
	var enqueued int
	if cmd.outbox != nil {
		enqueued = cmd.outbox.n
	}
	value, err := f.call(fn, tx, cmd)
	if err != nil {
		if environmental(err) {
			panic(fmt.Sprintf("cluster: fsm: entry %d (%s): storage failure: %v", cmd.Index, cmd.Type, err))
		}
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO cmd`); rerr != nil {
			panic(fmt.Sprintf("cluster: fsm: roll back entry %d: %v", cmd.Index, rerr))
		}
		if cmd.outbox != nil {
			// The command's outbox rows are gone, and so are their numbers.
			cmd.outbox.n = enqueued
		}
	}
	if dedup {
		if resp, retry := f.record(ctx, tx, cmd, value, err); retry {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO cmd`); rerr != nil {
				panic(fmt.Sprintf("cluster: fsm: roll back retried entry %d: %v", cmd.Index, rerr))
			}
			if cmd.outbox != nil {
				cmd.outbox.n = enqueued
			}
			if _, rerr := f.release.ExecContext(ctx); rerr != nil {
				panic(fmt.Sprintf("cluster: fsm: release entry %d: %v", cmd.Index, rerr))
			}
			return resp
		}
	}
	f.audit(ctx, tx, cmd, err)
	if _, rerr := f.release.ExecContext(ctx); rerr != nil {
		panic(fmt.Sprintf("cluster: fsm: release entry %d: %v", cmd.Index, rerr))
	}
	if err != nil {
		return &response{Err: err}
	}
	return &response{Value: value}
}

// call runs an apply function, turning its panic into an *ApplyPanicError
// so that one faulty apply function does not stop the cluster. A panic is
// as deterministic as the function, so every node turns it into the same
// error.
func (f *fsm) call(fn ApplyFunc, tx *sql.Tx, cmd Command) (value any, err error) {
	defer func() {
		if p := recover(); p != nil {
			f.log.Error("apply function panicked", "type", cmd.Type, "index", cmd.Index,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			value, err = nil, &ApplyPanicError{Type: cmd.Type, Value: p}
		}
	}()
	return fn(tx, cmd)
}

// encodeEntry is the log format of a command: its JSON envelope. Index is
// not encoded; Time is.
// The bytes are json.Marshal's: written by hand (encodeTrusted) when the
// payload is already in the form json.Marshal would copy unchanged,
// through json.Marshal otherwise (and for its error).
func encodeEntry(cmd Command) ([]byte, error) {
	cmd.Index = 0
	if cmd.Payload == nil || marshalForm(cmd.Payload) {
		if b, err := encodeTrusted(cmd); err == nil {
			return b, nil
		}
	}
	return json.Marshal(cmd)
}

// decodeEntry reverses encodeEntry. Unknown envelope fields are ignored, so
// a newer binary can add some without stopping older nodes. The command
// is json.Unmarshal's: decoded by hand (decodeEnvelope, which checks all
// it reads) when the envelope has the plain shape encodeEntry writes, by
// json.Unmarshal otherwise, so a corrupt entry is still its error. The
// payload is a copy, except a cluster.batch entry's, which is only split
// into envelopes that are copied in turn.
func decodeEntry(data []byte) (Command, error) {
	if len(data) == 0 || data[0] != '{' {
		return Command{}, errors.New("not a JSON envelope")
	}
	if cmd, end, ok := decodeEnvelope(data, 0); ok && skipSpace(data, end) == len(data) {
		if cmd.Payload != nil && (cmd.Type != batchType || cmd.Version != 1) {
			cmd.Payload = append(json.RawMessage(nil), cmd.Payload...)
		}
		return cmd, nil
	}
	var cmd Command
	err := json.Unmarshal(data, &cmd)
	return cmd, err
}

// Snapshot copies the database with SQLite's online backup API into a
// temporary file while raft holds back new entries, so the copy is exactly
// the state at the applied index; Persist then streams the file.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	tmp, err := os.CreateTemp(f.dir, "snapshot-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot: %w", err)
	}
	path := tmp.Name()
	tmp.Close()
	start := time.Now()
	if err := copyToFile(context.Background(), f.db, path); err != nil {
		removeDBFiles(path)
		return nil, fmt.Errorf("cluster: snapshot: %w", err)
	}
	f.log.Info("snapshot taken", "applied", f.applied.get(), "took", time.Since(start))
	return &fileSnapshot{path: path}, nil
}

// Restore replaces the database with a snapshot: the stream goes to a
// temporary file, which the backup API then copies into the live database
// through the write connection. The copy commits atomically; readers of the
// read-only pool see the old state or the new one, and the *sql.DB handles
// that other packages hold stay valid (no file is swapped under an open
// WAL connection).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	defer f.capGen.Add(1)
	tmp, err := os.CreateTemp(f.dir, "restore-*.tmp")
	if err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	path := tmp.Name()
	defer removeDBFiles(path)
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return fmt.Errorf("cluster: restore: read snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	src, err := sql.Open("sqlite3", sqliteDSN(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	defer src.Close()
	ctx := context.Background()
	if _, err := readAppliedIndex(ctx, src); err != nil {
		return fmt.Errorf("cluster: restore: snapshot is not a Sportello state: %w", err)
	}
	if err := backup(ctx, f.db, src); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	if _, err := f.db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	idx, err := readAppliedIndex(ctx, f.db)
	if err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	f.log.Info("snapshot restored", "applied", idx)
	f.dedup = dedupUnknown
	f.applied.set(idx)
	f.onCommit()
	return nil
}

// fileSnapshot is a database copy waiting to be persisted.
type fileSnapshot struct{ path string }

// Persist streams the copy into the raft snapshot sink. raft calls it on
// its own goroutine, concurrently with new applies, which is why the copy
// was taken in Snapshot.
func (s *fileSnapshot) Persist(sink raft.SnapshotSink) error {
	f, err := os.Open(s.path)
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(sink, f); err != nil {
		sink.Cancel()
		return fmt.Errorf("cluster: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release removes the copy.
func (s *fileSnapshot) Release() { removeDBFiles(s.path) }

// copyToFile writes a consistent copy of src's main database to path (an
// empty or missing file) in rollback-journal mode, so the copy is one
// self-contained file that the sqlite3 shell can open.
func copyToFile(ctx context.Context, src *sql.DB, path string) error {
	dst, err := sql.Open("sqlite3", sqliteDSN(path, "_journal_mode=DELETE"))
	if err != nil {
		return err
	}
	defer dst.Close()
	dst.SetMaxOpenConns(1)
	if err := backup(ctx, dst, src); err != nil {
		return err
	}
	_, err = dst.ExecContext(ctx, `PRAGMA journal_mode=DELETE`)
	return err
}

// backup copies src's main database over dst's with SQLite's online backup
// API, page by page, in one step.
func backup(ctx context.Context, dst, src *sql.DB) error {
	dc, err := dst.Conn(ctx)
	if err != nil {
		return err
	}
	defer dc.Close()
	sc, err := src.Conn(ctx)
	if err != nil {
		return err
	}
	defer sc.Close()
	return dc.Raw(func(d any) error {
		return sc.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			// Step returns false without error while the source or the
			// destination is busy; a writer never holds them long.
			for tries := 0; ; tries++ {
				done, err := b.Step(-1)
				if err != nil {
					b.Close()
					return fmt.Errorf("backup: %w", err)
				}
				if done {
					break
				}
				if tries == 1000 {
					b.Close()
					return errors.New("backup: database stayed busy")
				}
				time.Sleep(10 * time.Millisecond)
			}
			return b.Close()
		})
	})
}

// removeDBFiles removes a temporary database and its side files.
func removeDBFiles(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
