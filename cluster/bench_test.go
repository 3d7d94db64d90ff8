package cluster_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// registerBench wires "bench.insert": one small row per command.
func registerBench(r *cluster.Registry) {
	r.Migrate(cluster.Migration{Component: "bench", Version: 1, SQL: `CREATE TABLE bench (
		id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, at INTEGER NOT NULL)`})
	r.Handle("bench.insert", 1, func(tx *sql.Tx, cmd cluster.Command) (any, error) {
		var p struct {
			Name string `json:"name"`
		}
		if err := cmd.Decode(&p); err != nil {
			return nil, err
		}
		_, err := tx.Exec(`INSERT INTO bench (tenant, name, at) VALUES (?, ?, ?)`, cmd.Tenant, p.Name, cmd.Time.UnixNano())
		return nil, err
	})
}

// BenchmarkPropose measures Propose of a small insert on a one-node
// cluster (real raft log with fsync, real SQLite) with 1 to 256 concurrent
// writers. It reports commands/s and, against the raw fsync rate of the
// same filesystem measured in the same run, commands per fsync.
func BenchmarkPropose(b *testing.B) {
	fsyncs, err := cluster.MeasureFsync(b.TempDir(), 200)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"batched", "unbatched"} {
		for _, writers := range []int{1, 16, 64, 256} {
			b.Run(fmt.Sprintf("fsm=%s/writers=%d", mode, writers), func(b *testing.B) {
				benchPropose(b, mode == "unbatched", writers, fsyncs)
			})
		}
	}
}

func benchPropose(b *testing.B, unbatched bool, writers int, fsyncs float64) {
	n := clustertest.New(b, cluster.Config{Logger: clustertest.Logger(b)}, registerBench)
	if unbatched {
		cluster.SetUnbatched(n)
	}
	clustertest.Start(b, n)
	cmd, err := cluster.NewCommand("bench.insert", 1, "bari", map[string]string{"name": "Mario Rossi"})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := n.Propose(context.Background(), cmd); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "cmds/s")
	b.ReportMetric(fsyncs, "fsyncs/s")
	b.ReportMetric(rate/fsyncs, "cmds/fsync")
}

// BenchmarkFsync measures write+fsync of 4 KiB blocks in the test's
// temporary directory: the disk's durable-write ceiling.
func BenchmarkFsync(b *testing.B) {
	dir := b.TempDir()
	b.ResetTimer()
	rate, err := cluster.MeasureFsync(dir, b.N)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(rate, "fsyncs/s")
}

func TestMeasureFsync(t *testing.T) {
	t.Parallel()
	rate, err := cluster.MeasureFsync(t.TempDir(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("rate: got %v, want > 0", rate)
	}
	if _, err := cluster.MeasureFsync(t.TempDir(), 0); err == nil {
		t.Errorf("n=0: got nil error, want one")
	}
}
