package cluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var errOdd = errors.New("odd value")

// testRegistry has one component "t" and commands "t.put" (fails on odd
// values after writing, so the savepoint must undo it) and "t.panic".
func testRegistry() *Registry {
	r := NewRegistry()
	r.Migrate(Migration{Component: "t", Version: 1, SQL: `CREATE TABLE t (
		id INTEGER PRIMARY KEY, value INTEGER NOT NULL, idx INTEGER NOT NULL, at TEXT NOT NULL, tenant TEXT NOT NULL);
		CREATE TABLE t_plain (value INTEGER)`})
	r.Handle("t.put", 1, func(tx *sql.Tx, cmd Command) (any, error) {
		var v int
		if err := cmd.Decode(&v); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(`INSERT INTO t (value, idx, at, tenant) VALUES (?, ?, ?, ?)`,
			v, int64(cmd.Index), cmd.Time.Format(time.RFC3339Nano), cmd.Tenant); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(`INSERT INTO t_plain (value) VALUES (?)`, v); err != nil {
			return nil, err
		}
		if v%2 == 1 {
			return nil, fmt.Errorf("put %d: %w", v, errOdd)
		}
		if v%3 == 0 {
			if err := Enqueue(tx, cmd, OutboxItem{Kind: "email", Key: fmt.Sprintf("t/%d", v), Payload: []byte(`{}`)}); err != nil {
				return nil, err
			}
		}
		return v * 10, nil
	})
	r.Handle("t.panic", 1, func(tx *sql.Tx, cmd Command) (any, error) {
		tx.Exec(`INSERT INTO t_plain (value) VALUES (-1)`)
		var m map[string]int
		m["boom"] = 1 // nil map: panics after a write the savepoint must undo
		return nil, nil
	})
	return r
}

func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	f, err := newFSM(t.TempDir(), testRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

// testLog builds a log exercising every path of the FSM: a configuration
// entry, migrations, successes, domain errors, unknown types and versions,
// a panicking apply function and outbox items.
func testLog(t *testing.T) []*raft.Log {
	t.Helper()
	base := time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC)
	var logs []*raft.Log
	add := func(cmd Command) {
		idx := uint64(len(logs) + 1)
		cmd.Time = base.Add(time.Duration(idx) * time.Second)
		data, err := encodeEntry(cmd)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data})
	}
	logs = append(logs, &raft.Log{Index: 1, Term: 1, Type: raft.LogConfiguration,
		Data: raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: "x:1"}}})})
	mig, _ := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{{"cluster", 1}, {"t", 1}}})
	add(mig)
	for v := range 30 {
		c, _ := NewCommand("t.put", 1, "bari", v)
		add(c)
		switch v % 10 {
		case 4:
			c, _ := NewCommand("t.unknown", 1, "bari", v)
			add(c)
		case 6:
			c, _ := NewCommand("t.put", 2, "bari", v)
			add(c)
		case 8:
			c, _ := NewCommand("t.panic", 1, "bari", v)
			add(c)
		}
	}
	return logs
}

// dumpFSM dumps the FSM's database.
func dumpFSM(t *testing.T, f *fsm) string {
	t.Helper()
	var b bytes.Buffer
	if err := Dump(context.Background(), f.db, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// describe renders responses so that two runs can be compared.
func describe(resps []any) []string {
	out := make([]string, len(resps))
	for i, r := range resps {
		switch r := r.(type) {
		case nil:
			out[i] = "nil"
		case *response:
			out[i] = fmt.Sprintf("value=%v err=%v", r.Value, r.Err)
		default:
			out[i] = fmt.Sprintf("%T", r)
		}
	}
	return out
}

func TestFSMDeterministicAcrossBatchings(t *testing.T) {
	t.Parallel()
	logs := testLog(t)

	a := newTestFSM(t)
	rawA := a.ApplyBatch(logs)
	respA := describe(rawA)

	b := newTestFSM(t)
	var respB []string
	for i, size := 0, 1; i < len(logs); size = size%5 + 1 {
		end := min(i+size, len(logs))
		respB = append(respB, describe(b.ApplyBatch(logs[i:end]))...)
		i = end
	}
	dumpA, dumpB := dumpFSM(t, a), dumpFSM(t, b)
	if dumpA != dumpB {
		t.Fatalf("two FSMs fed the same log differ:\n--- one batch\n%s\n--- many batches\n%s", dumpA, dumpB)
	}
	if fmt.Sprint(respA) != fmt.Sprint(respB) {
		t.Errorf("responses differ:\n%v\n%v", respA, respB)
	}
	if got, want := a.applied.get(), logs[len(logs)-1].Index; got != want {
		t.Errorf("applied index: got %d, want %d", got, want)
	}

	// Each kind of entry gets the response it should.
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			if rawA[i] != nil {
				t.Errorf("entry %d (%v): got response %v, want nil", l.Index, l.Type, rawA[i])
			}
			continue
		}
		cmd, _ := decodeEntry(l.Data)
		r, _ := rawA[i].(*response)
		if r == nil {
			t.Fatalf("entry %d: got no response", l.Index)
		}
		var ue *UnknownCommandError
		var pe *ApplyPanicError
		var v int
		cmd.Decode(&v)
		switch {
		case cmd.Type == migrateType:
			if r.Err != nil {
				t.Errorf("migrate: got %v, want nil", r.Err)
			}
		case cmd.Type == "t.unknown":
			if !errors.As(r.Err, &ue) || ue.MaxVersion != 0 {
				t.Errorf("entry %d unknown type: got %v, want *UnknownCommandError", l.Index, r.Err)
			}
		case cmd.Version == 2:
			if !errors.As(r.Err, &ue) || ue.MaxVersion != 1 {
				t.Errorf("entry %d too new: got %v, want *UnknownCommandError max 1", l.Index, r.Err)
			}
		case cmd.Type == "t.panic":
			if !errors.As(r.Err, &pe) {
				t.Errorf("entry %d panic: got %v, want *ApplyPanicError", l.Index, r.Err)
			}
		case v%2 == 1:
			if !errors.Is(r.Err, errOdd) {
				t.Errorf("entry %d put %d: got %v, want errOdd", l.Index, v, r.Err)
			}
		default:
			if r.Err != nil || r.Value != v*10 {
				t.Errorf("entry %d put %d: got %v, %v, want %d, nil", l.Index, v, r.Value, r.Err, v*10)
			}
		}
	}
	// Failed commands changed nothing: no odd values, no -1 of t.panic.
	var odd int
	a.db.QueryRow(`SELECT COUNT(*) FROM t_plain WHERE value % 2 != 0`).Scan(&odd)
	if odd != 0 {
		t.Errorf("rows of failed commands: got %d, want 0", odd)
	}
}

func TestFSMSkipsReplayedEntries(t *testing.T) {
	t.Parallel()
	logs := testLog(t)
	f := newTestFSM(t)
	f.ApplyBatch(logs[:20])
	mid := dumpFSM(t, f)

	// raft hands entries again after a restart: those at or below the
	// stored index are skipped, a batch straddling it applies only the rest.
	f.ApplyBatch(logs[:10])
	if d := dumpFSM(t, f); d != mid {
		t.Fatalf("replaying applied entries changed the state")
	}
	f.ApplyBatch(logs[15:])
	g := newTestFSM(t)
	g.ApplyBatch(logs)
	if dumpFSM(t, f) != dumpFSM(t, g) {
		t.Fatalf("state after a straddling replay differs from a single pass")
	}

	// A reopened FSM reads its applied index from SQLite.
	dir := f.dir
	f.close()
	h, err := newFSM(dir, testRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	if got, want := h.applied.get(), logs[len(logs)-1].Index; got != want {
		t.Errorf("applied index after reopen: got %d, want %d", got, want)
	}
	h.ApplyBatch(logs)
	if dumpFSM(t, h) != dumpFSM(t, g) {
		t.Fatalf("replay after reopen applied entries twice")
	}
}

func TestFSMPanicsOnUndecodableEntry(t *testing.T) {
	t.Parallel()
	f := newTestFSM(t)
	defer func() {
		if recover() == nil {
			t.Fatal("got no panic on a garbage entry, want one")
		}
	}()
	f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: []byte("\x00garbage")}})
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoreUnderReaders(t *testing.T) {
	t.Parallel()
	logs := testLog(t)
	a := newTestFSM(t)
	a.ApplyBatch(logs)
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// New entries after Snapshot do not leak into the persisted copy.
	more, _ := NewCommand("t.put", 1, "bari", 100)
	data, _ := encodeEntry(more)
	want := dumpFSM(t, a)
	a.ApplyBatch([]*raft.Log{{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: data}})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	b := newTestFSM(t)
	b.ApplyBatch(logs[:5])
	reader, err := openReadDB(filepath.Join(b.dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// A reader holding an open read transaction during the restore.
	rtx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var before int
	rtx.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&before)

	if err := b.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	rtx.Rollback()
	if got := dumpFSM(t, b); got != want {
		t.Fatalf("restored state differs from the snapshot's:\n--- got\n%s\n--- want\n%s", got, want)
	}
	if got, want := b.applied.get(), uint64(len(logs)); got != want {
		t.Errorf("applied index after restore: got %d, want %d", got, want)
	}
	var rows int
	if err := reader.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&rows); err != nil {
		t.Fatalf("read pool after restore: %v", err)
	}
	var wantRows int
	a.db.QueryRow(`SELECT COUNT(*) FROM t WHERE idx <= ?`, len(logs)).Scan(&wantRows)
	if rows != wantRows {
		t.Errorf("rows seen by the read pool after restore: got %d, want %d", rows, wantRows)
	}
	var mode string
	b.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal mode after restore: got %q, want wal", mode)
	}
	// The restored FSM goes on applying where the snapshot ended.
	b.ApplyBatch([]*raft.Log{{Index: uint64(len(logs) + 1), Type: raft.LogCommand, Data: data}})
	if dumpFSM(t, b) != dumpFSM(t, a) {
		t.Errorf("restored FSM diverged after applying the next entry")
	}
}

func TestFSMRestoreRefusesGarbage(t *testing.T) {
	t.Parallel()
	f := newTestFSM(t)
	f.ApplyBatch(testLog(t)[:5])
	before := dumpFSM(t, f)
	if err := f.Restore(io.NopCloser(bytes.NewReader([]byte("not a database")))); err == nil {
		t.Fatal("Restore of garbage: got nil error, want one")
	}
	if dumpFSM(t, f) != before {
		t.Error("a refused restore changed the state")
	}
}
