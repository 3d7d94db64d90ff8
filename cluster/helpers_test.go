package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
)

// errTaken is the domain error of the test command "kv.put" when the key
// already exists and the payload does not allow overwriting.
var errTaken = errors.New("key taken")

// putPayload is the payload of "kv.put": store Value under Key. It fails
// with errTaken when Key exists and Overwrite is false, after a first
// write that the savepoint must undo.
type putPayload struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Overwrite bool   `json:"overwrite,omitempty"`
	Outbox    bool   `json:"outbox,omitempty"`
}

// registerKV wires a small key-value component: two migrations and the
// command "kv.put" (v1 and v2).
func registerKV(r *cluster.Registry) {
	r.Migrate(
		cluster.Migration{Component: "kv", Version: 1, SQL: `CREATE TABLE kv (
			key TEXT PRIMARY KEY, value TEXT NOT NULL, idx INTEGER NOT NULL, at TEXT NOT NULL)`},
		cluster.Migration{Component: "kv", Version: 2, SQL: `CREATE TABLE kv_log (
			id INTEGER PRIMARY KEY, key TEXT NOT NULL, tenant TEXT NOT NULL)`},
	)
	r.Handle("kv.put", 2, applyPut)
}

func applyPut(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p putPayload
	if err := cmd.Decode(&p); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`INSERT INTO kv_log (key, tenant) VALUES (?, ?)`, p.Key, cmd.Tenant); err != nil {
		return nil, err
	}
	var exists bool
	if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM kv WHERE key = ?)`, p.Key).Scan(&exists); err != nil {
		return nil, err
	}
	if exists && !p.Overwrite {
		return nil, fmt.Errorf("put %s: %w", p.Key, errTaken)
	}
	if _, err := tx.Exec(`INSERT INTO kv (key, value, idx, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, idx = excluded.idx, at = excluded.at`,
		p.Key, p.Value, int64(cmd.Index), cmd.Time.Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	if p.Outbox {
		err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{
			Kind: "test", Key: "kv/" + p.Key + "/" + p.Value, Payload: []byte(`{"key":"` + p.Key + `"}`)})
		if err != nil {
			return nil, err
		}
	}
	return "ok:" + p.Key, nil
}

// put proposes "kv.put" and fails the test on a non-domain error.
func put(t testing.TB, n *cluster.Node, key, value string) cluster.Result {
	t.Helper()
	res, err := propose(n, putPayload{Key: key, Value: value})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return res
}

func propose(n *cluster.Node, p putPayload) (cluster.Result, error) {
	cmd, err := cluster.NewCommand("kv.put", 1, "bari", p)
	if err != nil {
		return cluster.Result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Propose(ctx, cmd)
}

// readKV returns the value of key in the node's local state ("" if none).
func readKV(t testing.TB, n *cluster.Node, key string) string {
	t.Helper()
	var v string
	err := n.DB().QueryRow(`SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("read %s: %v", key, err)
	}
	return v
}

// checkGoroutines fails the test when, after cleanup, more goroutines run
// than before it started (allowing a short grace period for goroutines
// that are returning). Register it first so it runs after every other
// cleanup. Tests that use it do not run in parallel: other tests' goroutines
// would be counted.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			now := runtime.NumGoroutine()
			if now <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: got %d after close, want at most %d\n%s", now, before, leakReport(string(buf)))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// leakReport keeps the stacks of goroutines started by this module or its
// raft and SQLite dependencies.
func leakReport(stacks string) string {
	var out []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "sportello") || strings.Contains(g, "hashicorp") || strings.Contains(g, "database/sql") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
