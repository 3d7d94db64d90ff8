package cluster_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// copyDir copies a node's directory, leaving out the files whose names
// start with one of skip.
func copyDir(t *testing.T, src, dst string, skip ...string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		for _, s := range skip {
			if strings.HasPrefix(rel, s) {
				return nil
			}
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// firstLogIndex opens a closed node's raft log and returns its first index.
func firstLogIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	first, err := cluster.FirstLogIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// TestRebuildFromSnapshotAndLog builds a node's state from its snapshot
// plus the log left after compaction, and compares it byte for byte with
// the state the original node kept.
func TestRebuildFromSnapshotAndLog(t *testing.T) {
	t.Parallel()
	dirA := t.TempDir()
	// A fixed clock: A and B, two separate leaders, stamp the same time.
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cfg := cluster.Config{Dir: dirA, TrailingLogs: 3, SnapshotThreshold: 1 << 20, Now: func() time.Time { return at }}
	a := clustertest.New(t, cfg, registerKV)
	clustertest.Start(t, a)
	for i := range 30 {
		put(t, a, string(rune('a'+i%26))+string(rune('0'+i/26)), "v")
	}
	if err := a.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	// Entries after the snapshot, including failing ones, stay in the log.
	for i := range 10 {
		propose(a, putPayload{Key: "a0", Value: "again"}) // errTaken
		put(t, a, "post"+string(rune('a'+i)), "w")
	}
	if _, err := propose(a, putPayload{Key: "a0", Value: "over", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	before := withoutAppliedIndex(clustertest.Dump(t, a))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if first := firstLogIndex(t, dirA); first <= 1 {
		t.Fatalf("log first index after snapshot: got %d, want > 1 (compacted)", first)
	}

	// B has A's log and snapshots but no state.db: it must restore the
	// snapshot and replay the rest of the log.
	dirB := t.TempDir()
	copyDir(t, dirA, dirB, "state.db")
	if _, err := os.Stat(filepath.Join(dirB, "state.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state.db copied: %v", err)
	}
	var logA, logB syncBuffer
	cfg.Dir, cfg.Logger = dirA, slog.New(slog.NewTextHandler(&logA, nil))
	a = clustertest.New(t, cfg, registerKV)
	clustertest.Start(t, a)
	cfg.Dir, cfg.Logger = dirB, slog.New(slog.NewTextHandler(&logB, nil))
	b := clustertest.New(t, cfg, registerKV)
	clustertest.Start(t, b)
	// A's state.db was current: no restore. B had none: restore.
	if strings.Contains(logA.String(), "snapshot restored") {
		t.Errorf("restarted node restored its snapshot, want it to keep state.db")
	}
	if !strings.Contains(logB.String(), "snapshot restored") {
		t.Errorf("node without state.db did not restore the snapshot")
	}

	dumpA, dumpB := clustertest.Dump(t, a), clustertest.Dump(t, b)
	if d := clustertest.Diff(dumpB, dumpA); d != "" {
		t.Fatalf("node rebuilt from snapshot + log differs from the original: %s", d)
	}
	if d := clustertest.Diff(withoutAppliedIndex(dumpA), before); d != "" {
		t.Fatalf("restarted node differs from before its restart: %s", d)
	}
	// Both go on identically (with the same request ID: Propose would
	// give each node's command a random one, recorded in the state).
	for _, n := range []*cluster.Node{a, b} {
		if _, err := proposeID(n, "next", "", putPayload{Key: "next", Value: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := clustertest.Diff(clustertest.Dump(t, b), clustertest.Dump(t, a)); d != "" {
		t.Fatalf("after one more command: %s", d)
	}
}

// TestAutomaticSnapshots lets raft's thresholds take snapshots and compact
// the log, then restarts the node on its state.
func TestAutomaticSnapshots(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := cluster.Config{Dir: dir, TrailingLogs: 5, SnapshotThreshold: 10, SnapshotInterval: 50_000_000}
	n := clustertest.New(t, cfg, registerKV)
	clustertest.Start(t, n)
	for i := range 60 {
		put(t, n, "k"+string(rune('A'+i)), "v")
	}
	deadline := 100
	for ; deadline > 0; deadline-- {
		entries, _ := os.ReadDir(filepath.Join(dir, "snapshots"))
		if len(entries) > 0 {
			break
		}
		if _, err := propose(n, putPayload{Key: "tick", Value: "y", Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	if deadline == 0 {
		t.Fatal("raft took no snapshot with SnapshotThreshold 10")
	}
	before := withoutAppliedIndex(clustertest.Dump(t, n))
	n = restart(t, n, dir, registerKV)
	if d := clustertest.Diff(withoutAppliedIndex(clustertest.Dump(t, n)), before); d != "" {
		t.Fatalf("after restart: %s", d)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers (loggers).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
