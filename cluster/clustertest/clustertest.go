package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Node starts a one-node cluster in t.TempDir() on 127.0.0.1:0 with the
// apply functions and migrations that register adds, waits until it leads
// and has migrated, and closes it in t.Cleanup. Logs at warning level and
// above go to the test's output.
func Node(t testing.TB, register ...func(*cluster.Registry)) *cluster.Node {
	t.Helper()
	n := New(t, cluster.Config{}, register...)
	Start(t, n)
	return n
}

// New builds, but does not start, a test node closed in t.Cleanup; use it
// when the test must call HandleOutbox or change the configuration before
// Start. Zero fields of cfg get test defaults: Dir t.TempDir(), NodeID
// "node1", RaftAddr "127.0.0.1:0", a fresh Registry, Logger, and a 100 ms
// heartbeat so the node leads quickly.
func New(t testing.TB, cfg cluster.Config, register ...func(*cluster.Registry)) *cluster.Node {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "node1"
	}
	if cfg.RaftAddr == "" {
		cfg.RaftAddr = "127.0.0.1:0"
	}
	if cfg.Registry == nil {
		cfg.Registry = cluster.NewRegistry()
	}
	for _, f := range register {
		f(cfg.Registry)
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 100 * time.Millisecond
	}
	n, err := cluster.New(cfg)
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return n
}

// Start starts n and waits, at most 30 s, until it serves.
func Start(t testing.TB, n *cluster.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("start node: %v", err)
	}
}

// Logger returns a logger that writes warnings and errors to the test's
// output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Dump returns cluster.Dump of the node's local state: every table's
// schema and rows in a stable text form. Two nodes at the same applied
// index give equal dumps.
func Dump(t testing.TB, n *cluster.Node) string {
	t.Helper()
	var b bytes.Buffer
	if err := cluster.Dump(context.Background(), n.DB(), &b); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return b.String()
}

// Diff describes the first line where two dumps differ, or returns "" when
// they are equal.
func Diff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return fmt.Sprintf("line %d:\n  got  %s\n  want %s", i+1, g, w)
		}
	}
	return ""
}
