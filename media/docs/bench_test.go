package docs

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// BenchmarkPut20MiB uploads 20 MiB PDFs through a follower of a
// three-node cluster (all in this process, so on the same cores) and
// reads each back on the leader. The figures are in DESIGN.md.
//
//	go test ./media/docs/ -run '^$' -bench Put20MiB -benchtime 5x
func BenchmarkPut20MiB(b *testing.B) {
	nodes := clustertest.Cluster(b, 3, Register)
	leader := clustertest.Leader(b, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	up, down := NewStore(follower, nil, nil), NewStore(leader, nil, nil)
	file := pdf(b, DefaultMaxBytes)
	ctx := context.Background()
	b.SetBytes(int64(len(file)))
	b.ResetTimer()
	for b.Loop() {
		d, err := up.Put(ctx, bari, "room1", "", "citizen", "a.pdf", bytes.NewReader(file), Policy{})
		if err != nil {
			b.Fatal(err)
		}
		if err := leader.WaitApplied(ctx, follower.AppliedIndex()); err != nil {
			b.Fatal(err)
		}
		rc, err := down.Open(ctx, bari, d.ID)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(len(file)) {
			b.Fatalf("read back %d bytes, %v", n, err)
		}
		rc.Close()
	}
}
