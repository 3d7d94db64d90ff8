package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestOutboxParallelAcrossSequencesInOrderWithin: the worker delivers
// different sequences at the same time (a slow receiver does not hold
// the others) and the items of one sequence one at a time, in order.
func TestOutboxParallelAcrossSequencesInOrderWithin(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		inFlight int
		maxIn    int
		seqIn    int // deliveries of sequence "o" in flight
		seqOrder []string
		release  = make(chan struct{})
	)
	deliver := func(ctx context.Context, m cluster.OutboxMessage) error {
		mu.Lock()
		inFlight++
		maxIn = max(maxIn, inFlight)
		inSeq := strings.HasPrefix(m.Key, "kv/o/")
		if inSeq {
			seqIn++
			if seqIn > 1 {
				t.Errorf("two items of one sequence delivered at once (%s)", m.Key)
			}
			seqOrder = append(seqOrder, m.Key)
		}
		mu.Unlock()
		// The first round waits until every item is enqueued; each
		// delivery takes a while, as an SMTP conversation does.
		select {
		case <-release:
		case <-ctx.Done():
		}
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		inFlight--
		if inSeq {
			seqIn--
		}
		mu.Unlock()
		return nil
	}
	n := clustertest.New(t, cluster.Config{}, registerKV)
	n.HandleOutbox("test", deliver)
	clustertest.Start(t, n)

	for i := range 6 {
		if _, err := propose(n, putPayload{Key: fmt.Sprintf("s%d/k", i), Value: "1", Outbox: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"1", "2", "3"} {
		if _, err := propose(n, putPayload{Key: "o/k", Value: v, Outbox: true, Overwrite: true}); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	deadline := time.Now().Add(20 * time.Second)
	for {
		sent, err := n.Outbox(context.Background(), cluster.OutboxSent, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(sent) == 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 9 items sent after 20s", len(sent))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if maxIn < 3 {
		t.Errorf("at most %d deliveries at once, want several sequences in parallel", maxIn)
	}
	if want := []string{"kv/o/k/1", "kv/o/k/2", "kv/o/k/3"}; !slices.Equal(seqOrder, want) {
		t.Errorf("sequence delivered as %v, want %v", seqOrder, want)
	}
}
