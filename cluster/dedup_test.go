package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// registerKVDecoded is registerKV with a result decoder for kv.put, so
// that forwarded and replayed results come back as strings.
func registerKVDecoded(r *cluster.Registry) {
	registerKV(r)
	r.RegisterError("kv.taken", errTaken)
	r.HandleResult("kv.put", func(raw json.RawMessage) (any, error) {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	})
}

// proposeID proposes kv.put with request ID rid and fingerprint fp.
func proposeID(n *cluster.Node, rid, fp string, p putPayload) (cluster.Result, error) {
	cmd, err := cluster.NewCommand("kv.put", 1, "bari", p)
	if err != nil {
		return cluster.Result{}, err
	}
	cmd.RequestID, cmd.Fingerprint = rid, fp
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return n.Propose(ctx, cmd)
}

// applies counts how often kv.put was applied for key on n (kv_log keeps
// a row per successful apply and per refused one alike... only for the
// applied ones: a refusal's row is rolled back).
func applies(t *testing.T, n *cluster.Node, key string) int {
	t.Helper()
	var c int
	if err := n.DB().QueryRow(`SELECT count(*) FROM kv_log WHERE key = ?`, key).Scan(&c); err != nil {
		t.Fatalf("count %s: %v", key, err)
	}
	return c
}

// withoutState drops the cluster_state rows (the applied index) from a
// dump: a replayed request moves the applied index and nothing else.
func withoutState(dump string) string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if !strings.HasPrefix(l, "cluster_state") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitSameIndex(t *testing.T, nodes ...*cluster.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var top uint64
	for _, n := range nodes {
		top = max(top, n.AppliedIndex())
	}
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, top); err != nil {
			t.Fatalf("%s: wait for %d: %v", n.Config().NodeID, top, err)
		}
	}
}

func TestDedupForwardedAnswerLost(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded)
	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	cluster.DropProposeAnswers(leader, 1)
	// No request ID: Propose picks one and keeps it for its retry.
	res, err := propose(follower, putPayload{Key: "lost", Value: "v"})
	if err != nil {
		t.Fatalf("propose whose first answer is lost: got %v, want success on the retry", err)
	}
	if res.Value != "ok:lost" {
		t.Errorf("value: got %#v, want %q", res.Value, "ok:lost")
	}
	waitSameIndex(t, nodes...)
	for _, n := range nodes {
		if got := applies(t, n, "lost"); got != 1 {
			t.Errorf("%s: kv.put applied %d times, want 1", n.Config().NodeID, got)
		}
	}
	waitSameDumps(t, nodes...)
}

func TestDedupReplayReturnsRecordedOutcome(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded)
	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	put(t, leader, "taken", "first")
	for _, tc := range []struct {
		name    string
		first   *cluster.Node
		replay  *cluster.Node
		payload putPayload
		wantVal any
		wantErr error
	}{
		{"value via leader, replay via follower", leader, follower, putPayload{Key: "a", Value: "1"}, "ok:a", nil},
		{"value via follower, replay via leader", follower, leader, putPayload{Key: "b", Value: "1"}, "ok:b", nil},
		{"domain error via follower", follower, follower, putPayload{Key: "taken", Value: "2"}, nil, errTaken},
		{"domain error via leader", leader, follower, putPayload{Key: "taken", Value: "3"}, nil, errTaken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rid := "rid-" + tc.name
			res, err := proposeID(tc.first, rid, "fp", tc.payload)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("first: got error %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && res.Value != tc.wantVal {
				t.Fatalf("first: got value %#v, want %#v", res.Value, tc.wantVal)
			}
			waitSameIndex(t, nodes...)
			before := withoutState(clustertest.Dump(t, leader))
			// The replay carries another payload: it must not be applied.
			again := tc.payload
			again.Value, again.Overwrite = "replayed", true
			res2, err2 := proposeID(tc.replay, rid, "fp", again)
			if !errors.Is(err2, tc.wantErr) || (tc.wantErr == nil && err2 != nil) {
				t.Fatalf("replay: got error %v, want %v", err2, tc.wantErr)
			}
			if err != nil && err2.Error() != err.Error() {
				t.Errorf("replay: got error text %q, want %q", err2, err)
			}
			if res2.Value != res.Value {
				t.Errorf("replay: got value %#v, want %#v", res2.Value, res.Value)
			}
			waitSameIndex(t, nodes...)
			if d := clustertest.Diff(withoutState(clustertest.Dump(t, leader)), before); d != "" {
				t.Errorf("replay changed the state: %s", d)
			}
		})
	}
	t.Run("fingerprint mismatch", func(t *testing.T) {
		if _, err := proposeID(follower, "rid-fp", "one", putPayload{Key: "fp", Value: "1"}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*cluster.Node{leader, follower} {
			_, err := proposeID(n, "rid-fp", "two", putPayload{Key: "fp", Value: "1"})
			if !errors.Is(err, cluster.ErrRequestReused) {
				t.Errorf("%s: got %v, want ErrRequestReused", n.Config().NodeID, err)
			}
		}
		if got := readKV(t, leader, "fp"); got != "1" {
			t.Errorf("fp: got %q, want 1", got)
		}
	})
	waitSameDumps(t, nodes...)
}

// TestDedupLeaderStops proposes through a follower while the leader is
// closed: every request that is answered is applied exactly once, and
// the retries inside Propose answer them all.
func TestDedupLeaderStops(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, registerKVDecoded)
	leader := clustertest.Leader(t, nodes...)
	var rest []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	const writers, each = 8, 6
	var mu sync.Mutex
	outcome := map[string]error{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := propose(rest[w%2], putPayload{Key: key, Value: "v"})
				mu.Lock()
				outcome[key] = err
				mu.Unlock()
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	if err := leader.Close(); err != nil {
		t.Logf("close leader: %v", err)
	}
	wg.Wait()
	waitSameIndex(t, rest...)
	ok := 0
	for key, err := range outcome {
		// A request refused with ErrNoLeader reached no log (a new
		// request while no leader was known): it must be absent. Any
		// other answer is final: applied once, or a domain error.
		want := 1
		switch {
		case err == nil:
			ok++
		case errors.Is(err, cluster.ErrNoLeader):
			want = 0
		default:
			t.Errorf("%s: got %v, want success or ErrNoLeader", key, err)
			continue
		}
		for _, n := range rest {
			if got := applies(t, n, key); got != want {
				t.Errorf("%s on %s: applied %d times, want %d (answer %v)", key, n.Config().NodeID, got, want, err)
			}
		}
	}
	if ok == 0 {
		t.Errorf("no request succeeded")
	}
	waitSameDumps(t, rest...)
}

// TestDedupWindowPrunes checks the retention: a record is answered for
// DedupWindow of leader time, then pruned inside apply, after which the
// same request ID is a new request.
func TestDedupWindowPrunes(t *testing.T) {
	t.Parallel()
	clk := clustertest.NewClock(time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC))
	n := clustertest.New(t, cluster.Config{Now: clk.Now}, registerKVDecoded)
	clustertest.Start(t, n)
	count := func() int {
		var c int
		if err := n.DB().QueryRow(`SELECT count(*) FROM cluster_requests WHERE rid = 'old'`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := proposeID(n, "old", "fp", putPayload{Key: "k", Value: "1"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(cluster.DedupWindow - time.Minute)
	if _, err := proposeID(n, "old", "fp", putPayload{Key: "k", Value: "2", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := readKV(t, n, "k"); got != "1" {
		t.Fatalf("replay inside the window: got k=%q, want 1 (not applied again)", got)
	}
	clk.Advance(2 * time.Minute)
	put(t, n, "other", "x") // any entry prunes
	if got := count(); got != 0 {
		t.Fatalf("records of 'old' after the window: got %d, want 0 (pruned)", got)
	}
	if _, err := proposeID(n, "old", "fp", putPayload{Key: "k", Value: "3", Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if got := readKV(t, n, "k"); got != "3" {
		t.Errorf("same ID after the window: got k=%q, want 3 (a new request)", got)
	}
	if got := count(); got != 1 {
		t.Errorf("records of 'old': got %d, want 1", got)
	}
}

// TestJoinRetrySameKey sends one join request twice, as a joiner whose
// first answer was lost: both are admitted. Another node, or the same
// node ID with another key, still finds the token used.
func TestJoinRetrySameKey(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	tok := token(t, seed, time.Hour, true)
	first := cluster.JoinRequestForTest(t, tok, "node2")
	if _, err := cluster.SendJoinForTest(seed.RaftAddr(), tok, first, false); err != nil {
		t.Fatalf("first join (answer dropped): %v", err)
	}
	voter, err := cluster.SendJoinForTest(seed.RaftAddr(), tok, first, true)
	if err != nil {
		t.Fatalf("retried join: got %v, want admitted", err)
	}
	if !voter {
		t.Errorf("retried join: got voter false, want true")
	}
	for _, tc := range []struct{ name, node string }{
		{"another node", "node3"},
		{"same node, another key", "node2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := cluster.JoinRequestForTest(t, tok, tc.node)
			if _, err := cluster.SendJoinForTest(seed.RaftAddr(), tok, req, true); !errors.Is(err, cluster.ErrTokenUsed) {
				t.Errorf("got %v, want ErrTokenUsed", err)
			}
		})
	}
}
