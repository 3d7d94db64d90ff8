package cluster

import (
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRetryInsideEntryChangesNothing: the FSM applies a command with a
// request ID first and records its outcome after; a retry (its ID already
// recorded) is rolled back to its savepoint and answered with the first
// outcome, and a reused ID with another fingerprint gets
// ErrRequestReused. The state is the one of looking the ID up first: no
// row of the retries stays, and the outbox numbers skip none.
func TestRetryInsideEntryChangesNothing(t *testing.T) {
	t.Parallel()
	f, err := newFSM(t.TempDir(), testRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	at := time.Date(2027, 3, 11, 9, 0, 0, 0, time.UTC)
	entry := func(idx uint64, cmd Command) *raft.Log {
		cmd.Time = at
		data, err := encodeEntry(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
	}
	mig, _ := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{{"cluster", len(f.migrations["cluster"])}, {"t", 1}}})
	put := func(v int, rid, fp string) rawJSON {
		c, _ := NewCommand("t.put", 1, "bari", v)
		c.Time, c.RequestID, c.Fingerprint = at, rid, fp
		env, err := encodeEntry(c)
		if err != nil {
			t.Fatal(err)
		}
		return rawJSON(env)
	}
	batch, _ := NewCommand(batchType, 1, "", []any{
		put(6, "r1", "a"),  // applied: row 6, outbox t/6
		put(6, "r1", "a"),  // retry: answered 60, nothing written
		put(12, "r1", "b"), // reused ID: refused, its outbox row undone
		put(18, "r2", "a"), // applied: outbox t/18 numbered 2
		put(3, "r3", "a"),  // fails (odd), recorded with its error
		put(3, "r3", "a"),  // retry of the failure: the same error
	})
	// The same retry in a later entry, and after the window a new apply.
	later, _ := NewCommand("t.put", 1, "bari", 6)
	later.RequestID, later.Fingerprint = "r1", "a"
	resps := f.ApplyBatch([]*raft.Log{entry(1, mig), entry(2, batch), entry(3, later)})
	got := resps[1].(*batchResponse).resps
	if got[0].Err != nil || got[0].Value != 60 {
		t.Errorf("first apply: %v, %v; want 60", got[0].Value, got[0].Err)
	}
	if raw, ok := got[1].Value.(json.RawMessage); got[1].Err != nil || !ok || string(raw) != "60" {
		t.Errorf("retry: %#v, %v; want the recorded 60", got[1].Value, got[1].Err)
	}
	if !errors.Is(got[2].Err, ErrRequestReused) {
		t.Errorf("reused ID: %v, want ErrRequestReused", got[2].Err)
	}
	if got[3].Err != nil || got[3].Value != 180 {
		t.Errorf("second request: %v, %v; want 180", got[3].Value, got[3].Err)
	}
	if got[4].Err == nil || got[5].Err == nil || got[4].Err.Error() != got[5].Err.Error() {
		t.Errorf("failure and its retry: %v, %v; want the same error", got[4].Err, got[5].Err)
	}
	if r := resps[2].(*response); r.Err != nil || string(r.Value.(json.RawMessage)) != "60" {
		t.Errorf("retry in a later entry: %#v, %v", r.Value, r.Err)
	}
	rows := func(q string) []string {
		t.Helper()
		rs, err := f.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []string
		for rs.Next() {
			var s string
			if err := rs.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if v := rows(`SELECT value FROM t_plain ORDER BY rowid`); !slices.Equal(v, []string{"6", "18"}) {
		t.Errorf("rows %q, want 6 and 18 only", v)
	}
	if v := rows(`SELECT id || ' ' || key FROM cluster_outbox ORDER BY rowid`); !slices.Equal(v, []string{"2-1 t/6", "2-2 t/18"}) {
		t.Errorf("outbox %q, want 2-1 t/6 and 2-2 t/18", v)
	}
	if v := rows(`SELECT rid || ' ' || cmd_index || ' ' || fingerprint FROM cluster_requests ORDER BY rid`); !slices.Equal(v, []string{"r1 2 a", "r2 2 a", "r3 2 a"}) {
		t.Errorf("request records %q", v)
	}

	// After the window the ID is applied again, and its record replaced.
	again, _ := NewCommand("t.put", 1, "bari", 24)
	again.RequestID, again.Fingerprint = "r1", "c"
	l := entry(4, again)
	l.Data, _ = encodeEntry(Command{Type: again.Type, Version: 1, Tenant: "bari", Time: at.Add(DedupWindow + time.Minute),
		Payload: again.Payload, RequestID: "r1", Fingerprint: "c"})
	if r := f.ApplyBatch([]*raft.Log{l})[0].(*response); r.Err != nil || r.Value != 240 {
		t.Errorf("after the window: %v, %v; want 240", r.Value, r.Err)
	}
	if v := rows(`SELECT rid || ' ' || cmd_index || ' ' || fingerprint FROM cluster_requests WHERE rid = 'r1'`); len(v) > 0 && v[0] != "r1 4 c" {
		t.Errorf("record after the window %q, want r1 4 c (or pruned)", v)
	}
}
