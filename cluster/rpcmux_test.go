package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// forwardMany proposes count distinct puts through n from workers
// goroutines and fails the test on any error or wrong value.
func forwardMany(t *testing.T, n *cluster.Node, prefix string, count, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, count)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				key := fmt.Sprintf("%s-%d", prefix, i)
				res, err := propose(n, putPayload{Key: key, Value: "v"})
				for try := 0; errors.Is(err, cluster.ErrNoLeader) && try < 50; try++ {
					// An election on the busy test machine; a client
					// retries the 503.
					time.Sleep(100 * time.Millisecond)
					res, err = propose(n, putPayload{Key: key, Value: "v"})
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", key, err)
					continue
				}
				if res.Value != "ok:"+key {
					errs <- fmt.Errorf("%s: value %#v", key, res.Value)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func follower(t *testing.T, nodes []*cluster.Node) (leader, f *cluster.Node) {
	t.Helper()
	return clustertest.LeaderAndFollower(t, nodes...)
}

// TestForwardingSharesOneConnection: concurrent commands forwarded by a
// follower travel on one multiplexed connection to the leader, each gets
// its own answer, and a domain error still crosses as itself.
func TestForwardingSharesOneConnection(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded)
	_, f := follower(t, nodes)
	forwardMany(t, f, "mux", 200, 32)
	if mux, old := cluster.MultiplexedRPCConns(f); mux != 1 || old != 0 {
		t.Errorf("follower keeps %d multiplexed connections and %d old-framing addresses, want 1 and 0", mux, old)
	}
	if _, err := propose(f, putPayload{Key: "mux-7", Value: "again"}); !errors.Is(err, errTaken) {
		t.Errorf("put of a taken key through the follower: %v, want errTaken", err)
	}
	waitSameIndex(t, nodes...)
	for _, n := range nodes {
		if got := applies(t, n, "mux-42"); got != 1 {
			t.Errorf("%s: mux-42 applied %d times, want 1", n.Config().NodeID, got)
		}
	}
}

// TestForwardingToAnOlderLeader: a leader that refuses to multiplex (as
// the previous version does) still gets every forwarded command, over
// the one-request-per-connection framing.
func TestForwardingToAnOlderLeader(t *testing.T) {
	t.Parallel()
	nodes := clustertest.ClusterWith(t, 3, cluster.RefuseMultiplexedRPC, registerKVDecoded)
	_, f := follower(t, nodes)
	// Few at a time: each one in flight is a TLS connection, and as many
	// handshakes at once under the race detector can starve heartbeats.
	forwardMany(t, f, "old", 40, 4)
	if mux, old := cluster.MultiplexedRPCConns(f); mux != 0 || old != 1 {
		t.Errorf("follower keeps %d multiplexed connections and %d old-framing addresses, want 0 and 1", mux, old)
	}
	waitSameDumps(t, nodes...)
}

// TestForwardingAfterACallerGaveUp: a caller whose deadline ends while
// its command is in flight gets an error that leaves the outcome open or
// says nothing was sent; the connection stays usable for the others and
// its late answer goes nowhere.
func TestForwardingAfterACallerGaveUp(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded)
	_, f := follower(t, nodes)
	forwardMany(t, f, "warm", 10, 2)
	for i := range 20 {
		cmd, err := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: fmt.Sprintf("hurry-%d", i), Value: "v"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*100*time.Microsecond)
		_, err = f.Propose(ctx, cmd)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("hurried put %d: %v, want success or the deadline", i, err)
		}
	}
	forwardMany(t, f, "after", 50, 8)
	if mux, _ := cluster.MultiplexedRPCConns(f); mux != 1 {
		t.Errorf("follower keeps %d multiplexed connections, want still 1", mux)
	}
}
