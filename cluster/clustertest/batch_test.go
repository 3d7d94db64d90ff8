package clustertest_test

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

// registerSharedSlots is registerSlots with slots.book allowed to share
// log entries.
func registerSharedSlots(r *cluster.Registry) {
	registerSlots(r)
	r.ShareEntries("slots.book")
}

// TestBatchedCommandsKeepTheirOwnOutcome sends many bookings at once
// through every node: the leader packs them into shared entries, and each
// proposer still gets its own command's result or domain error, capacity
// holds, and every node ends with the same rows. It does not run in
// parallel with other tests: the burst, under the race detector, with
// other clusters in the same process, can starve the heartbeats of two
// cores and make the leader step down, which is another test.
func TestBatchedCommandsKeepTheirOwnOutcome(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, registerSharedSlots)
	leader := clustertest.Leader(t, nodes...)
	const slots, perSlot = 40, 4 // capacity 2: 80 bookings, 80 refusals
	type outcome struct {
		slot  string
		count int
		err   error
	}
	out := make(chan outcome, slots*perSlot)
	var wg sync.WaitGroup
	for i := range slots * perSlot {
		wg.Go(func() {
			slot := fmt.Sprintf("s%02d", i%slots)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// A command refused for want of a leader was handed to no
			// leader and is safe to send again, as API clients do on 503:
			// the burst, with other packages' tests on the same two cores
			// (CI runs them in parallel), can make the leader step down.
			var res cluster.Result
			var err error
			for {
				res, err = book(ctx, nodes[i%3], slot, fmt.Sprintf("c%d", i))
				if !errors.Is(err, cluster.ErrNoLeader) || ctx.Err() != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			o := outcome{slot: slot, err: err}
			if err == nil {
				b, ok := res.Value.(booked)
				if !ok || b.Slot != slot {
					o.err = fmt.Errorf("result %#v is not this command's", res.Value)
				}
				o.count = b.Count
			}
			out <- o
		})
	}
	wg.Wait()
	close(out)
	counts := map[string][]int{}
	full := 0
	for o := range out {
		switch {
		case errors.Is(o.err, errSlotFull):
			full++
		case o.err != nil:
			t.Errorf("slot %s: %v", o.slot, o.err)
		default:
			counts[o.slot] = append(counts[o.slot], o.count)
		}
	}
	if full != slots*(perSlot-capacity) {
		t.Errorf("%d refusals, want %d", full, slots*(perSlot-capacity))
	}
	for slot, cs := range counts {
		if len(cs) != capacity || cs[0]+cs[1] != 3 {
			t.Errorf("slot %s: counts %v, want one 1 and one 2", slot, cs)
		}
	}
	// Every leader of the run proposed its share (one, unless the
	// leader stepped down during the burst).
	var entries, commands uint64
	for _, n := range nodes {
		e, c := n.BatchStats()
		entries, commands = entries+e, commands+c
	}
	t.Logf("leaders proposed %d commands in %d entries", commands, entries)
	// A command of a leader that stepped down may be counted again when
	// resent to the next one: at least all of them, in fewer entries.
	if commands < slots*perSlot || entries >= commands {
		t.Errorf("leaders batched %d commands into %d entries; want at least all %d, in fewer entries", commands, entries, slots*perSlot)
	}
	want := clustertest.Dump(t, leader)
	for _, n := range nodes {
		if err := n.WaitApplied(context.Background(), leader.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
		if d := clustertest.Diff(clustertest.Dump(t, n), want); d != "" {
			t.Errorf("%s differs from the leader:\n%s", n.Config().NodeID, d)
		}
	}
}
