package clustertest_test

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// TestRotateCA rotates the CA of a three-node cluster while it takes
// writes: afterwards every node presents a certificate of the new CA and
// trusts only it, a certificate of the old CA opens no connection, writes
// through every node still commit over new connections, and a second run
// has nothing to do but makes a new rotation.
func TestRotateCA(t *testing.T) {
	t.Parallel()
	nodes, oldCA := stagedCluster(t, 3)
	leader := clustertest.Leader(t, nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := leader.InitCluster(ctx, oldCA); err != nil {
		t.Fatal(err)
	}
	// Writes through every node while the rotation runs.
	stop := make(chan struct{})
	wrote := make(chan int)
	go func() {
		i := 0
		for {
			select {
			case <-stop:
				wrote <- i
				return
			default:
			}
			if _, err := book(ctx, nodes[i%3], "rot"+string(rune('a'+i%26))+time.Now().Format("150405.000000"), "ada"); err == nil {
				i++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var steps []string
	// Through a follower: any node can drive it.
	var driver *cluster.Node
	for _, n := range nodes {
		if n != leader {
			driver = n
		}
	}
	if err := driver.RotateCA(ctx, func(s string) { steps = append(steps, s) }); err != nil {
		t.Fatalf("rotate: %v (steps %q)", err, steps)
	}
	close(stop)
	t.Logf("%d writes during the rotation; steps: %q", <-wrote, steps)
	oldFP := oldCA.Fingerprint()
	var newFP string
	for _, n := range nodes {
		st := n.Status()
		if st.CAFingerprint == oldFP || len(st.TrustedCAs) != 1 || st.TrustedCAs[0] != st.CAFingerprint {
			t.Errorf("%s: presents CA %s, trusts %v; want only the new CA", st.NodeID, st.CAFingerprint, st.TrustedCAs)
		}
		if newFP == "" {
			newFP = st.CAFingerprint
		} else if st.CAFingerprint != newFP {
			t.Errorf("%s presents CA %s, another node %s", st.NodeID, st.CAFingerprint, newFP)
		}
	}
	// A node certificate of the old CA is refused now.
	stale := clustertest.Identity(t, oldCA, "node9")
	if c, err := tls.Dial("tcp", nodes[0].RaftAddr(), pki.ClientConfig(stale.Pool, stale.Certificate, "")); err == nil {
		// TLS 1.3: the client's certificate is refused after the client
		// finished; the first read reports it.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == nil {
			t.Errorf("a certificate of the old CA was accepted")
		}
	}
	// New connections everywhere, then a write through every node.
	for _, n := range nodes {
		if err := n.Partition(others(nodes, n)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := n.Partition(nil); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range nodes {
		bookThrough(t, n, clustertest.Leader(t, nodes...), "after"+string(rune('0'+i)))
	}
	// The state's signing CA is the new one: a token carries it.
	tok, err := leader.CreateToken(ctx, time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAFingerprint != newFP {
		t.Errorf("a new token pins CA %s, want the new %s", tok.CAFingerprint, newFP)
	}
}

// others returns the node IDs of nodes other than n.
func others(nodes []*cluster.Node, n *cluster.Node) []string {
	var out []string
	for _, o := range nodes {
		if o != n {
			out = append(out, o.Config().NodeID)
		}
	}
	slices.Sort(out)
	return out
}
