package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// newOptimismFSM is newTestFSM with t.put sharing log entries, so that
// its commands are savepoint-free; savepoints forces a savepoint per
// command on every batch, as before savepoint-free passes.
func newOptimismFSM(t *testing.T, savepoints bool) *fsm {
	t.Helper()
	r := testRegistry()
	r.ShareEntries("t.put")
	f, err := newFSM(t.TempDir(), r, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	f.opt.off = savepoints
	return f
}

// sharedLog is a log of shared entries of t.put commands (odd values fail
// after writing, multiples of three queue an email), some with request
// IDs, one of them retried in a later entry, and one t.panic entry of its
// own; batch k of the returned batches is what raft hands ApplyBatch.
func sharedLog(t *testing.T) (batches [][]*raft.Log) {
	t.Helper()
	base := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	idx := uint64(0)
	entry := func(cmd Command) *raft.Log {
		idx++
		cmd.Time = base.Add(time.Duration(idx) * time.Second)
		data, err := encodeEntry(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}
	}
	shared := func(values ...int) *raft.Log {
		var envs []json.RawMessage
		for _, v := range values {
			c, err := NewCommand("t.put", 1, "bari", v)
			if err != nil {
				t.Fatal(err)
			}
			if v%4 == 0 {
				c.RequestID, c.Fingerprint = fmt.Sprintf("req-%d", v%1000), "fp"
			}
			env, err := encodeEntry(c)
			if err != nil {
				t.Fatal(err)
			}
			envs = append(envs, env)
		}
		payload, err := json.Marshal(envs)
		if err != nil {
			t.Fatal(err)
		}
		return entry(Command{Type: batchType, Version: 1, Payload: payload})
	}
	mig, _ := NewCommand(migrateType, 1, "", migratePayload{Targets: []migrateTarget{{"cluster", len(clusterMigrations()) + 4}, {"t", 1}}})
	boom, _ := NewCommand("t.panic", 1, "bari", 0)
	batches = [][]*raft.Log{
		{entry(mig)},
		{shared(0, 2, 4, 6), shared(8, 10, 12)}, // 1: all succeed
		{shared(14, 16, 3, 18), shared(20)},     // 2: 3 fails after writing
		{shared(22, 24)},                        // 3: after a redo: savepoints
		{shared(26, 28, 30)},                    // 4: tried again, commits
		{shared(32, 1004, 34)},                  // 5: 1004 retries request 4
		{shared(36, 38)},                        // 6
		{shared(40, 42, 5), shared(7, 44)},      // 7: two failures
		{shared(46, 48)},                        // 8
		{shared(50, 52)},                        // 9
		{shared(54, 56), entry(boom)},           // 10: not savepoint-free
		{shared(58, 60)},                        // 11
	}
	return batches
}

// describeAll renders ApplyBatch's responses, batch entries command by
// command, so that two runs can be compared.
func describeAll(resps []any) string {
	var b strings.Builder
	for _, r := range resps {
		switch r := r.(type) {
		case *batchResponse:
			for _, c := range r.resps {
				fmt.Fprintf(&b, "[value=%v err=%v]", c.Value, c.Err)
			}
			b.WriteString("\n")
		case *response:
			fmt.Fprintf(&b, "value=%v err=%v\n", r.Value, r.Err)
		default:
			fmt.Fprintf(&b, "%T\n", r)
		}
	}
	return b.String()
}

// TestSavepointFreeSameOutcome applies the same log to an FSM that uses
// a savepoint per command throughout and to one that first tries each
// batch without: the two databases and every response must be the same,
// and the second must have committed some passes without savepoints,
// redone the ones that met a failure or a retry, and not tried those
// holding a type that is not savepoint-free.
func TestSavepointFreeSameOutcome(t *testing.T) {
	t.Parallel()
	batches := sharedLog(t)
	plain, opt := newOptimismFSM(t, true), newOptimismFSM(t, false)
	var tried, committedAt, redoneAt []int
	for i := range batches {
		committed, redone := opt.opt.committed.Load(), opt.opt.redone.Load()
		want, got := describeAll(plain.ApplyBatch(batches[i])), describeAll(opt.ApplyBatch(batches[i]))
		if got != want {
			t.Errorf("batch %d: responses differ:\nwith savepoints:\n%s\noptimistic:\n%s", i, want, got)
		}
		if opt.opt.committed.Load() > committed {
			committedAt = append(committedAt, i)
			tried = append(tried, i)
		}
		if opt.opt.redone.Load() > redone {
			redoneAt = append(redoneAt, i)
			tried = append(tried, i)
		}
	}
	if a, b := dumpFSM(t, plain), dumpFSM(t, opt); a != b {
		t.Fatalf("databases differ:\n--- with savepoints\n%s\n--- optimistic\n%s", a, b)
	}
	if c, r := plain.opt.committed.Load(), plain.opt.redone.Load(); c+r != 0 {
		t.Errorf("FSM with savepoints only: %d passes committed, %d redone without", c, r)
	}
	// Tried: every batch but those with a command that is not
	// savepoint-free (0, the migration; 10, t.panic), the one right after
	// a redo (3, 6), and the two after the second redo in a row (8, 9).
	if got, want := fmt.Sprint(tried), "[1 2 4 5 7 11]"; got != want {
		t.Errorf("batches tried without savepoints: got %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(committedAt), "[1 4 11]"; got != want {
		t.Errorf("savepoint-free passes committed at batches %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(redoneAt), "[2 5 7]"; got != want {
		t.Errorf("savepoint-free passes redone at batches %s, want %s", got, want)
	}
	// The failed commands left nothing: no odd value, no row of t.panic.
	var odd int
	if err := opt.db.QueryRow(`SELECT COUNT(*) FROM t_plain WHERE value % 2 != 0 OR value < 0`).Scan(&odd); err != nil {
		t.Fatal(err)
	}
	if odd != 0 {
		t.Errorf("rows of failed commands: %d", odd)
	}
}

// TestOptimismBackoff checks the rhythm of the savepoint-free passes:
// after a redone pass the next 1, 2, 4 … 64 batches use savepoints; a
// committed pass resets it.
func TestOptimismBackoff(t *testing.T) {
	var o optimism
	run := func(fails bool) (tried bool) {
		tried = o.tryNext()
		o.begin(tried)
		o.end(!(tried && fails))
		return tried
	}
	var skipped []int
	for range 9 {
		if !run(true) {
			t.Fatal("a pass was not tried after its backoff")
		}
		n := 0
		for !o.tryNext() {
			n++
			o.begin(false)
			o.end(true)
		}
		skipped = append(skipped, n)
	}
	if got, want := fmt.Sprint(skipped), "[1 2 4 8 16 32 64 64 64]"; got != want {
		t.Errorf("batches with savepoints after each redone pass: got %s, want %s", got, want)
	}
	if !run(false) || o.backoff != 0 || !run(true) || o.skip != 1 {
		t.Errorf("a committed pass does not reset the backoff: skip %d, backoff %d", o.skip, o.backoff)
	}
	o = optimism{off: true}
	if o.tryNext() {
		t.Error("tried a savepoint-free pass with optimism off")
	}
}
