package cluster_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// appended is a result that writes its own JSON (cluster.JSONAppender)
// and keeps a smaller form in the request records; the counters tell
// which encoder ran.
type appended struct {
	Key   string `json:"key"`
	N     int    `json:"n"`
	calls *atomic.Int64
	rec   *atomic.Int64
}

func (a appended) AppendJSON(dst []byte) []byte {
	a.calls.Add(1)
	return fmt.Appendf(dst, `{"key":%q,"n":%d}`, a.Key, a.N)
}

func (a appended) RecordedValue() any { return appendedRecord{Key: a.Key, calls: a.rec} }

// appendedRecord is appended's form in the request records.
type appendedRecord struct {
	Key   string `json:"key"`
	calls *atomic.Int64
}

func (r appendedRecord) AppendJSON(dst []byte) []byte {
	r.calls.Add(1)
	return fmt.Appendf(dst, `{"key":%q}`, r.Key)
}

// TestResultsWriteTheirOwnJSON: a forwarded command's result and its
// request record are encoded by the value's AppendJSON, not json.Marshal,
// and the follower decodes the answer as before.
func TestResultsWriteTheirOwnJSON(t *testing.T) {
	t.Parallel()
	var calls, rec atomic.Int64
	register := func(r *cluster.Registry) {
		r.Handle("ja.put", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
			var key string
			if err := cmd.Decode(&key); err != nil {
				return nil, err
			}
			return appended{Key: key, N: len(key), calls: &calls, rec: &rec}, nil
		})
		r.HandleResult("ja.put", func(raw json.RawMessage) (any, error) {
			var a appended
			err := json.Unmarshal(raw, &a)
			return a, err
		})
	}
	nodes := clustertest.Cluster(t, 3, register)
	_, f := follower(t, nodes)
	cmd, err := cluster.NewCommand("ja.put", 1, "bari", "k-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := f.Propose(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := res.Value.(appended); !ok || a.Key != "k-1" || a.N != 3 {
		t.Fatalf("forwarded result %#v", res.Value)
	}
	waitSameIndex(t, nodes...)
	if calls.Load() < 1 {
		t.Error("the leader's answer did not go through AppendJSON")
	}
	if rec.Load() != 3 {
		t.Errorf("%d records written through AppendJSON, want 3 (one per node)", rec.Load())
	}
	for _, n := range nodes {
		var v string
		if err := n.DB().QueryRow(`SELECT value FROM cluster_requests WHERE type = 'ja.put'`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(appendedRecord{Key: "k-1"})
		if v != string(want) {
			t.Errorf("%s: recorded %s, want %s", n.Config().NodeID, v, want)
		}
	}
}
