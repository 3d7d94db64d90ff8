package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"go.etcd.io/bbolt"
)

func TestProposeAndRead(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	if !n.IsLeader() {
		t.Fatalf("IsLeader: got false, want true")
	}
	res := put(t, n, "a", "1")
	if res.Value != "ok:a" {
		t.Errorf("Value: got %v, want ok:a", res.Value)
	}
	if res.Index == 0 || n.AppliedIndex() < res.Index {
		t.Errorf("Index %d, AppliedIndex %d: want 0 < Index <= AppliedIndex", res.Index, n.AppliedIndex())
	}
	if got := readKV(t, n, "a"); got != "1" {
		t.Errorf("read a: got %q, want 1", got)
	}
}

func TestDomainErrorRollsBackOnlyItsCommand(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	put(t, n, "a", "1")

	// Many concurrent proposals land in shared batches: the failing ones
	// must not undo the others.
	const writers = 40
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "a" // even writers collide with the existing key
			if i%2 == 1 {
				key = "k" + string(rune('A'+i))
			}
			_, errs[i] = propose(n, putPayload{Key: key, Value: "x"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 {
			if !errors.Is(err, errTaken) {
				t.Errorf("writer %d: got %v, want errTaken", i, err)
			}
		} else if err != nil {
			t.Errorf("writer %d: got %v, want nil", i, err)
		}
	}
	var logRows, kvRows int
	n.DB().QueryRow(`SELECT COUNT(*) FROM kv_log`).Scan(&logRows)
	n.DB().QueryRow(`SELECT COUNT(*) FROM kv`).Scan(&kvRows)
	// kv_log is written before the check: failed commands' rows are rolled back.
	if want := 1 + writers/2; logRows != want || kvRows != want {
		t.Errorf("rows: got kv_log %d, kv %d, want %d each", logRows, kvRows, want)
	}
	if got := readKV(t, n, "a"); got != "1" {
		t.Errorf("a: got %q, want 1", got)
	}
}

func TestProposeRefusesUnknownCommands(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	before := n.AppliedIndex()
	tests := []struct {
		name    string
		typ     string
		version int
		max     int
	}{
		{"unknown type", "nope.thing", 1, 0},
		{"version too new", "kv.put", 3, 2},
		{"version zero", "kv.put", 0, 2},
		{"reserved type", "cluster.nope", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, _ := cluster.NewCommand(tt.typ, tt.version, "bari", putPayload{Key: "z"})
			_, err := n.Propose(context.Background(), cmd)
			var ue *cluster.UnknownCommandError
			if !errors.As(err, &ue) {
				t.Fatalf("got %v, want *UnknownCommandError", err)
			}
			if ue.Type != tt.typ || ue.MaxVersion != tt.max {
				t.Errorf("got type %q max %d, want %q max %d", ue.Type, ue.MaxVersion, tt.typ, tt.max)
			}
		})
	}
	if got := n.AppliedIndex(); got != before {
		t.Errorf("AppliedIndex: got %d, want %d (nothing proposed)", got, before)
	}
}

func TestLeaderStampsTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 10, 4, 9, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	n := clustertest.New(t, cluster.Config{Now: func() time.Time { return at }}, registerKV)
	clustertest.Start(t, n)
	cmd, _ := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: "t", Value: "v"})
	cmd.Time = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) // ignored: the leader stamps
	if _, err := n.Propose(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	var got string
	n.DB().QueryRow(`SELECT at FROM kv WHERE key = 't'`).Scan(&got)
	if want := at.UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("apply saw time %s, want %s", got, want)
	}
}

func TestWaitApplied(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	next := n.AppliedIndex() + 1

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.WaitApplied(ctx, next); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied before the write: got %v, want deadline exceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- n.WaitApplied(context.Background(), next) }()
	put(t, n, "w", "1")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitApplied: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitApplied did not return after the write was applied")
	}
}

func TestDBIsReadOnly(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV)
	if _, err := n.DB().Exec(`INSERT INTO kv (key, value, idx, at) VALUES ('x', 'y', 0, '')`); err == nil {
		t.Fatal("write through DB(): got nil error, want a read-only error")
	}
	var mode string
	n.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode: got %q, want wal", mode)
	}
}

// restart closes n and starts a new node on the same directory with a
// new port, returning it.
func restart(t *testing.T, n *cluster.Node, dir string, register ...func(*cluster.Registry)) *cluster.Node {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	m := clustertest.New(t, cluster.Config{Dir: dir}, register...)
	clustertest.Start(t, m)
	return m
}

func TestRestartKeepsStateOnNewPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	oldAddr := n.RaftAddr()
	for _, k := range []string{"a", "b", "c"} {
		put(t, n, k, "v"+k)
	}
	if _, err := propose(n, putPayload{Key: "a", Value: "again"}); !errors.Is(err, errTaken) {
		t.Fatalf("duplicate put: got %v, want errTaken", err)
	}
	// Restarting on a new port appends a configuration entry (the node's
	// new address), so the applied index moves; everything else is equal.
	before := withoutAppliedIndex(clustertest.Dump(t, n))

	for round := range 2 {
		n = restart(t, n, dir, registerKV)
		if n.RaftAddr() == oldAddr {
			t.Logf("round %d: same port chosen again (%s)", round, oldAddr)
		}
		if !n.IsLeader() {
			t.Fatalf("round %d: restarted node does not lead", round)
		}
		if d := clustertest.Diff(withoutAppliedIndex(clustertest.Dump(t, n)), before); d != "" {
			t.Fatalf("round %d: state after restart differs from before: %s", round, d)
		}
		oldAddr = n.RaftAddr()
	}
	// The restarted node still takes writes.
	put(t, n, "d", "vd")
	if got := readKV(t, n, "d"); got != "vd" {
		t.Errorf("d: got %q, want vd", got)
	}
}

// TestRestartMovesBoltLogToSegments starts a node on the data folder an
// older version left (the raft log in a bolt raft.db): it moves the log
// into segments, keeps its state and term, takes writes, and leaves in
// raft.db a note that bbolt, and so an older binary, refuses.
func TestRestartMovesBoltLogToSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	for _, k := range []string{"a", "b", "c"} {
		put(t, n, k, "v"+k)
	}
	before := withoutAppliedIndex(clustertest.Dump(t, n))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := cluster.RevertLogToBolt(dir)
	if err != nil {
		t.Fatalf("RevertLogToBolt: %v", err)
	}
	if entries < 4 {
		t.Fatalf("the old log held %d entries, want the bootstrap and three puts at least", entries)
	}
	n = clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	if d := clustertest.Diff(withoutAppliedIndex(clustertest.Dump(t, n)), before); d != "" {
		t.Fatalf("state after the move differs from before: %s", d)
	}
	put(t, n, "d", "vd")
	if got := readKV(t, n, "d"); got != "vd" {
		t.Errorf("d: got %q, want vd", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "raftlog")); err != nil {
		t.Errorf("no raftlog/ after the move: %v", err)
	}
	note, err := os.ReadFile(filepath.Join(dir, "raft.db"))
	if err != nil || !bytes.HasPrefix(note, []byte("sportello: the raft log moved")) {
		t.Errorf("raft.db after the move = %q, %v; want the note", note[:min(len(note), 60)], err)
	}
	if db, err := bbolt.Open(filepath.Join(dir, "raft.db"), 0o600, &bbolt.Options{Timeout: time.Second}); err == nil {
		db.Close()
		t.Error("bbolt opened raft.db after the move: an older binary would start without its log")
	}
	// And again: a second restart finds the segments, no bolt file.
	n = restart(t, n, dir, registerKV)
	if got := readKV(t, n, "d"); got != "vd" {
		t.Errorf("after a second restart, d: got %q, want vd", got)
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v1 := func(r *cluster.Registry) {
		r.Migrate(cluster.Migration{Component: "kv", Version: 1, SQL: `CREATE TABLE kv (key TEXT PRIMARY KEY)`})
	}
	v2 := func(r *cluster.Registry) {
		v1(r)
		r.Migrate(cluster.Migration{Component: "kv", Version: 2, SQL: `ALTER TABLE kv ADD COLUMN note TEXT`})
	}
	schema := func(n *cluster.Node) map[string]int {
		rows, err := n.DB().Query(`SELECT component, version FROM cluster_schema`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var c string
			var v int
			rows.Scan(&c, &v)
			m[c] = v
		}
		return m
	}
	n := clustertest.New(t, cluster.Config{Dir: dir}, v1)
	clustertest.Start(t, n)
	if got := schema(n); got["kv"] != 1 || got["cluster"] != 6 {
		t.Fatalf("schema after v1: got %v, want kv=1 cluster=6", got)
	}
	n = restart(t, n, dir, v2)
	if got := schema(n); got["kv"] != 2 {
		t.Fatalf("schema after v2: got %v, want kv=2", got)
	}
	if _, err := n.DB().Exec(`SELECT note FROM kv`); err != nil {
		t.Errorf("column added by v2: %v", err)
	}
	// An older binary (knowing only v1) refuses the newer state.
	n.Close()
	old := clustertest.New(t, cluster.Config{Dir: dir}, v1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := old.Start(ctx)
	var me *cluster.MigrationError
	if !errors.As(err, &me) || me.Component != "kv" || me.Version != 2 || me.Known != 1 {
		t.Fatalf("start older binary: got %v, want *MigrationError kv 2 known 1", err)
	}
}

func TestMigrationFailureStopsStart(t *testing.T) {
	t.Parallel()
	n := clustertest.New(t, cluster.Config{}, func(r *cluster.Registry) {
		r.Migrate(cluster.Migration{Component: "bad", Version: 1, SQL: `CREATE TABLE ok (x)`},
			cluster.Migration{Component: "bad", Version: 2, SQL: `THIS IS NOT SQL`})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.Start(ctx)
	var me *cluster.MigrationError
	if !errors.As(err, &me) || me.Version != 2 {
		t.Fatalf("got %v, want *MigrationError for bad/2", err)
	}
	// The whole migrate command rolled back: not even bad/1's table exists.
	if _, err := n.DB().Exec(`SELECT * FROM ok`); err == nil {
		t.Errorf("table of bad/1 exists, want the failed migrate command rolled back whole")
	}
}

func TestStartFailsWithoutLeadership(t *testing.T) {
	t.Parallel()
	n := clustertest.New(t, cluster.Config{}, registerKV)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := n.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with an expired context: got %v, want deadline exceeded", err)
	}
}

func TestRegistryPanics(t *testing.T) {
	t.Parallel()
	fn := applyPut
	tests := []struct {
		name string
		do   func(r *cluster.Registry)
	}{
		{"duplicate type", func(r *cluster.Registry) { r.Handle("a.b", 1, fn); r.Handle("a.b", 1, fn) }},
		{"reserved type", func(r *cluster.Registry) { r.Handle("cluster.x", 1, fn) }},
		{"zero version", func(r *cluster.Registry) { r.Handle("a.b", 0, fn) }},
		{"nil fn", func(r *cluster.Registry) { r.Handle("a.b", 1, nil) }},
		{"reserved component", func(r *cluster.Registry) {
			r.Migrate(cluster.Migration{Component: "cluster", Version: 1, SQL: "SELECT 1"})
		}},
		{"duplicate migration", func(r *cluster.Registry) {
			m := cluster.Migration{Component: "x", Version: 1, SQL: "SELECT 1"}
			r.Migrate(m, m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("got no panic, want one")
				}
			}()
			tt.do(cluster.NewRegistry())
		})
	}
	t.Run("gap in migrations", func(t *testing.T) {
		r := cluster.NewRegistry()
		r.Migrate(cluster.Migration{Component: "x", Version: 2, SQL: "SELECT 1"})
		_, err := cluster.New(cluster.Config{Dir: t.TempDir(), NodeID: "n", RaftAddr: "127.0.0.1:0", Registry: r})
		if err == nil || !strings.Contains(err.Error(), "version 1 missing") {
			t.Errorf("New: got %v, want a missing-version error", err)
		}
	})
	t.Run("handle after New", func(t *testing.T) {
		r := cluster.NewRegistry()
		n, err := cluster.New(cluster.Config{Dir: t.TempDir(), NodeID: "n", RaftAddr: "127.0.0.1:0", Registry: r})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		defer func() {
			if recover() == nil {
				t.Errorf("got no panic, want one")
			}
		}()
		r.Handle("late.cmd", 1, fn)
	})
}

func TestNewRefusesStateWithoutLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := clustertest.New(t, cluster.Config{Dir: dir}, registerKV)
	clustertest.Start(t, n)
	put(t, n, "a", "1")
	n.Close()
	if err := os.RemoveAll(filepath.Join(dir, "raftlog")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "raft.db"))
	r := cluster.NewRegistry()
	registerKV(r)
	m, err := cluster.New(cluster.Config{Dir: dir, NodeID: "node1", RaftAddr: "127.0.0.1:0", Registry: r})
	if err == nil {
		m.Close()
		t.Fatal("New over state.db without raft.db: got nil error, want a refusal")
	}
}

// TestCloseLeaksNothing is not parallel: it counts goroutines.
func TestCloseLeaksNothing(t *testing.T) {
	checkGoroutines(t)
	var delivered sync.WaitGroup
	delivered.Add(1)
	var once sync.Once
	n := clustertest.New(t, cluster.Config{}, registerKV)
	n.HandleOutbox("test", func(ctx context.Context, m cluster.OutboxMessage) error {
		once.Do(delivered.Done)
		return nil
	})
	clustertest.Start(t, n)
	put(t, n, "a", "1")
	if _, err := propose(n, putPayload{Key: "b", Value: "1", Outbox: true}); err != nil {
		t.Fatal(err)
	}
	delivered.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go n.WaitApplied(ctx, 1<<40) // must end at Close
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := propose(n, putPayload{Key: "c"}); err == nil {
		t.Errorf("Propose after Close: got nil error, want one")
	}
}

// withoutAppliedIndex drops the cluster_state row from a dump.
func withoutAppliedIndex(dump string) string {
	var keep []string
	for _, l := range strings.Split(dump, "\n") {
		if !strings.HasPrefix(l, "cluster_state ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestFollowerReturnsNotLeader(t *testing.T) {
	t.Parallel()
	dirA := t.TempDir()
	a := clustertest.New(t, cluster.Config{Dir: dirA}, registerKV)
	clustertest.Start(t, a)
	put(t, a, "a", "1")
	a.Close()

	// node2 on a copy of node1's state is not in the configuration, so it
	// never leads: Start times out and Propose says who leads (nobody).
	dirB := t.TempDir()
	copyDir(t, dirA, dirB)
	b := clustertest.New(t, cluster.Config{Dir: dirB, NodeID: "node2"}, registerKV)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := b.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start of a node outside the configuration: got %v, want deadline exceeded", err)
	}
	_, err := propose(b, putPayload{Key: "b", Value: "1"})
	var nl *cluster.NotLeaderError
	if !errors.Is(err, cluster.ErrNotLeader) || !errors.As(err, &nl) {
		t.Fatalf("Propose on a follower: got %v, want *NotLeaderError", err)
	}
	if b.IsLeader() {
		t.Errorf("IsLeader: got true, want false")
	}
	// Its local state is readable all the same.
	if got := readKV(t, b, "a"); got != "1" {
		t.Errorf("read on follower: got %q, want 1", got)
	}
}
