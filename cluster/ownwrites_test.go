package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// gatedFollower starts a three-node cluster whose apply a gate can hold,
// and returns the gate, the nodes, the leader, a follower and a context
// of 20 s.
func gatedFollower(t *testing.T) (*clustertest.Gate, []*cluster.Node, *cluster.Node, *cluster.Node, context.Context) {
	t.Helper()
	gate := clustertest.NewGate()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, f := follower(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return gate, nodes, leader, f, ctx
}

// TestWithoutLocalApply: a follower whose apply lags answers a write
// proposed WithoutLocalApply as soon as the leader has applied it, while
// a plain Propose still waits for the follower's own apply; WaitOwnWrites
// then waits until the follower has caught up with what it forwarded.
func TestWithoutLocalApply(t *testing.T) {
	t.Parallel()
	gate, nodes, leader, f, ctx := gatedFollower(t)

	// Nothing forwarded yet: nothing to wait for.
	if err := f.WaitOwnWrites(ctx); err != nil {
		t.Fatalf("WaitOwnWrites with nothing forwarded: %v", err)
	}
	id := f.Config().NodeID
	gate.Hold(id)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}

	cmd, err := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: "own-1", Value: "uno"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Propose(cluster.WithoutLocalApply(ctx), cmd)
	if err != nil {
		t.Fatalf("Propose WithoutLocalApply on a lagging follower: %v", err)
	}
	if res.Value != "ok:own-1" {
		t.Errorf("result %v, want the leader's result %q", res.Value, "ok:own-1")
	}
	if got := f.AppliedIndex(); got >= res.Index {
		t.Fatalf("follower applied %d, want it behind the write at %d (held)", got, res.Index)
	}
	if got := readKV(t, f, "own-1"); got != "" {
		t.Errorf("follower already has own-1 = %q while held", got)
	}
	if got := readKV(t, leader, "own-1"); got != "uno" {
		t.Errorf("leader has own-1 = %q, want uno", got)
	}

	// A plain Propose waits for the follower's own apply.
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	cmd2, _ := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: "own-2", Value: "due"})
	_, err = f.Propose(short, cmd2)
	stop()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("plain Propose on a held follower: %v, want it to wait for the local apply past its deadline", err)
	}

	waited := make(chan error, 1)
	go func() { waited <- f.WaitOwnWrites(ctx) }()
	select {
	case err := <-waited:
		t.Fatalf("WaitOwnWrites returned %v while the follower was held", err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(id)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitOwnWrites: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("WaitOwnWrites did not return after the release")
	}
	if got := f.AppliedIndex(); got < res.Index {
		t.Errorf("after WaitOwnWrites the follower applied %d, want at least %d", got, res.Index)
	}
	for key, want := range map[string]string{"own-1": "uno", "own-2": "due"} {
		if got := readKV(t, f, key); got != want {
			t.Errorf("after WaitOwnWrites the follower has %s = %q, want %q", key, got, want)
		}
	}
	waitSameDumps(t, nodes...)
}

// TestEarlyAnswerBeforeCommit: on the leader, a command proposed
// WithoutLocalApply that shares an entry is answered once it is applied,
// before the entry's commit (early.go), while a plain one of the same
// entry waits for the commit; every node ends with the same state.
func TestEarlyAnswerBeforeCommit(t *testing.T) {
	t.Parallel()
	gate := clustertest.NewGate()
	shareKV := func(r *cluster.Registry) { r.ShareEntries("kv.put") }
	nodes := clustertest.Cluster(t, 3, registerKVDecoded, shareKV, gate.Register)
	t.Cleanup(gate.ReleaseAll) // before the nodes close
	leader, _ := follower(t, nodes)
	id := leader.Config().NodeID
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// The leader stops at "a"; "a" and "b" take both of the batcher's
	// slots, so the commands after them queue and go into one entry:
	// the early put, the plain put, then "c", where the leader stops
	// again before that entry's commit.
	gate.HoldAt(id, "a")
	gate.HoldAt(id, "c")
	type answer struct {
		res cluster.Result
		err error
	}
	async := func(f func() (cluster.Result, error)) chan answer {
		ch := make(chan answer, 1)
		go func() {
			res, err := f()
			ch <- answer{res, err}
		}()
		return ch
	}
	hold := func(name string) chan answer {
		return async(func() (cluster.Result, error) { return gate.Propose(ctx, leader, name) })
	}
	putWith := func(pctx context.Context, key string) chan answer {
		return async(func() (cluster.Result, error) {
			cmd, err := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: key, Value: key})
			if err != nil {
				return cluster.Result{}, err
			}
			return leader.Propose(pctx, cmd)
		})
	}
	pause := func() { time.Sleep(100 * time.Millisecond) }
	a := hold("a")
	pause()
	b := hold("b")
	pause()
	early := putWith(cluster.WithoutLocalApply(ctx), "early")
	pause()
	plain := putWith(ctx, "plain")
	pause()
	c := hold("c")
	pause()
	gate.ReleaseAt(id, "a")

	var got answer
	select {
	case got = <-early:
	case <-ctx.Done():
		t.Fatal("the early put got no answer while the leader was stopped after it in the same entry")
	}
	if got.err != nil || got.res.Value != "ok:early" {
		t.Fatalf("early put: %+v, %v", got.res, got.err)
	}
	if applied := leader.AppliedIndex(); applied >= got.res.Index {
		t.Errorf("leader applied %d, want it before the entry %d's commit", applied, got.res.Index)
	}
	select {
	case p := <-plain:
		t.Fatalf("the plain put was answered (%+v, %v) before its entry's commit", p.res, p.err)
	case <-time.After(200 * time.Millisecond):
	}
	gate.ReleaseAt(id, "c")
	p := <-plain
	if p.err != nil || p.res.Index != got.res.Index {
		t.Errorf("plain put: %+v, %v; want it in the early put's entry %d", p.res, p.err, got.res.Index)
	}
	if leader.AppliedIndex() < p.res.Index {
		t.Errorf("the plain put was answered before the leader applied %d", p.res.Index)
	}
	for _, ch := range []chan answer{a, b, c} {
		if r := <-ch; r.err != nil {
			t.Errorf("hold: %v", r.err)
		}
	}
	if err := leader.WaitOwnWrites(ctx); err != nil {
		t.Fatal(err)
	}
	if readKV(t, leader, "early") != "early" || readKV(t, leader, "plain") != "plain" {
		t.Error("the leader lacks a put after WaitOwnWrites")
	}
	waitSameDumps(t, nodes...)
}

// WaitReceived waits for the commands a node holds and has not applied,
// and not for raft's own entries, which never reach the FSM: after a
// barrier (the newest entry of the log) it returns at once.
func TestWaitReceived(t *testing.T) {
	t.Parallel()
	gate, _, leader, f, ctx := gatedFollower(t)

	gate.Hold(f.Config().NodeID)
	if err := gate.Stop(ctx, leader); err != nil {
		t.Fatal(err)
	}
	cmd, err := cluster.NewCommand("kv.put", 1, "bari", putPayload{Key: "received-1", Value: "uno"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Propose(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	for f.Status().LastLogIndex < res.Index {
		if ctx.Err() != nil {
			t.Fatal("the follower never received the command")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- f.WaitReceived(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("WaitReceived returned %v while the follower held the command at %d unapplied (applied %d)", err, res.Index, f.AppliedIndex())
	case <-time.After(200 * time.Millisecond):
	}
	gate.Release(f.Config().NodeID)
	if err := <-done; err != nil {
		t.Fatalf("WaitReceived: %v", err)
	}
	if f.AppliedIndex() < res.Index {
		t.Fatalf("WaitReceived returned at %d, before the command at %d", f.AppliedIndex(), res.Index)
	}

	// A barrier is the newest entry, and never reaches the FSM.
	if _, err := leader.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	if err := leader.WaitReceived(short); err != nil {
		t.Fatalf("WaitReceived after a barrier: %v", err)
	}
}
