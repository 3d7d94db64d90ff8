package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// probe asks h for /readyz and decodes the report.
func probe(t *testing.T, h http.Handler) (int, ReadyReport, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	var rep ReadyReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("readyz body %q: %v", rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, rep, rec.Body.String()
}

func TestReadyzHealthyNode(t *testing.T) {
	node := clustertest.Node(t)
	dir := t.TempDir()
	r := newReadiness(node, dir, time.Now, clustertest.Logger(t))
	code, rep, body := probe(t, r)
	if code != http.StatusOK || !rep.Ready || len(rep.Failed) != 0 {
		t.Fatalf("healthy node: %d %s", code, body)
	}
	for _, name := range []string{"leader", "applied", "disk"} {
		if !rep.Checks[name].OK {
			t.Errorf("check %s not ok: %s", name, body)
		}
	}
	if rep.AppliedIndex == 0 {
		t.Errorf("applied index 0 on a started node: %s", body)
	}
	// The probe file is gone.
	if left, _ := filepath.Glob(filepath.Join(dir, ".readyz-*")); len(left) != 0 {
		t.Errorf("probe files left behind: %v", left)
	}
}

// TestReadyzDiskNotWritable points the disk check at a folder whose
// parent does not exist (as root, a chmod would not stop the write).
func TestReadyzDiskNotWritable(t *testing.T) {
	node := clustertest.Node(t)
	dir := filepath.Join(t.TempDir(), "sparita", "dati")
	clock := clustertest.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	r := newReadiness(node, dir, clock.Now, clustertest.Logger(t))
	code, rep, body := probe(t, r)
	if code != http.StatusServiceUnavailable || rep.Ready || !slices.Equal(rep.Failed, []string{"disk"}) {
		t.Fatalf("unwritable data folder: %d %s", code, body)
	}
	if rep.Checks["disk"].Error == "" || !rep.Checks["leader"].OK {
		t.Errorf("report: %s", body)
	}
	if strings.Contains(body, dir) || strings.Contains(body, "sparita") {
		t.Errorf("the report shows the data folder's path: %s", body)
	}
	// The folder comes back: the cached answer holds for readyDiskEvery,
	// then the next probe writes again.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	clock.Advance(readyDiskEvery - time.Second)
	if code, _, body := probe(t, r); code != http.StatusServiceUnavailable {
		t.Errorf("within the cache interval: %d %s, want the cached 503", code, body)
	}
	clock.Advance(time.Second)
	if code, _, body := probe(t, r); code != http.StatusOK {
		t.Errorf("after the cache interval: %d %s, want 200", code, body)
	}
}

// TestReadyzNoLeader stops two nodes of three: the one left has no
// quorum, loses its leader and is not ready.
func TestReadyzNoLeader(t *testing.T) {
	nodes := clustertest.Cluster(t, 3)
	leader := clustertest.Leader(t, nodes...)
	var left *cluster.Node
	for _, n := range nodes {
		if n != leader && left == nil {
			left = n
			continue
		}
	}
	r := newReadiness(left, t.TempDir(), time.Now, clustertest.Logger(t))
	if code, _, body := probe(t, r); code != http.StatusOK {
		t.Fatalf("follower of a healthy cluster: %d %s", code, body)
	}
	for _, n := range nodes {
		if n != left {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, rep, body := probe(t, r)
		if code == http.StatusServiceUnavailable {
			if !slices.Contains(rep.Failed, "leader") || rep.Checks["leader"].Error == "" || !rep.Checks["disk"].OK {
				t.Fatalf("no quorum: %s, want the leader check failed and the disk ok", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still ready 20 s after losing quorum: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// laggingNode is a readyNode whose indexes the test sets, to drive the
// apply check, which a real node passes too quickly to observe.
type laggingNode struct {
	mu              sync.Mutex
	applied, commit uint64
}

func (n *laggingNode) Status() cluster.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return cluster.Status{State: "Follower", LeaderID: "node1", AppliedIndex: n.applied, CommitIndex: n.commit}
}

func (n *laggingNode) Stale() (bool, time.Duration) { return false, time.Second }

func (n *laggingNode) set(applied, commit uint64) {
	n.mu.Lock()
	n.applied, n.commit = applied, commit
	n.mu.Unlock()
}

func TestReadyzApplyLag(t *testing.T) {
	node := &laggingNode{}
	clock := clustertest.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	r := newReadiness(node, t.TempDir(), clock.Now, clustertest.Logger(t))

	// Close to the commit index: ready.
	node.set(100, 100+readyMaxLag)
	if code, _, body := probe(t, r); code != http.StatusOK {
		t.Fatalf("lag of readyMaxLag: %d %s", code, body)
	}
	// Far behind, with no earlier commit index reached: not ready.
	node.set(100, 5000)
	code, rep, body := probe(t, r)
	if code != http.StatusServiceUnavailable || !slices.Equal(rep.Failed, []string{"applied"}) {
		t.Fatalf("far behind: %d %s", code, body)
	}
	// A long burst: still far behind the commit index, but it has applied
	// what was committed readyMarkEvery ago, so it keeps up: ready.
	clock.Advance(readyMarkEvery)
	node.set(5000, 9000)
	if code, _, body := probe(t, r); code != http.StatusOK {
		t.Errorf("keeping up with a burst: %d %s", code, body)
	}
	// Stuck: nothing applied since, the commit index moves on.
	clock.Advance(readyMarkEvery)
	node.set(5000, 20000)
	clock.Advance(readyMarkEvery)
	if code, rep, body := probe(t, r); code != http.StatusServiceUnavailable || !slices.Contains(rep.Failed, "applied") {
		t.Errorf("apply stuck: %d %s", code, body)
	}
}
