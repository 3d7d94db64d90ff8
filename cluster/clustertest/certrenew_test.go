package clustertest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// renewPair starts node1 (a voter with a day-long certificate, fault
// injection on) and node2, a non-voter (so that cutting it off never
// costs node1 its quorum) whose certificate lives validity and whose
// renewed certificates too; node2 saves them in dataDir.
func renewPair(t *testing.T, validity time.Duration, dataDir string, saved *atomic.Int32) (n1, n2 *cluster.Node) {
	t.Helper()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n1 = clustertest.New(t, cluster.Config{
		NodeID: "node1", Identity: clustertest.Identity(t, ca, "node1"),
		HeartbeatTimeout: 300 * time.Millisecond, FaultInjection: true,
	}, registerSlots)
	clustertest.Start(t, n1)
	// Renewal signs with the CA of the replicated state.
	ictx, icancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer icancel()
	if err := n1.InitCluster(ictx, ca); err != nil {
		t.Fatal(err)
	}
	n2 = clustertest.New(t, cluster.Config{
		NodeID: "node2", Identity: clustertest.IdentityValid(t, ca, "node2", validity), Join: true,
		HeartbeatTimeout: 300 * time.Millisecond, CertValidity: validity,
		SaveIdentity: func(id *pki.Identity) error {
			saved.Add(1)
			return pki.SaveIdentity(dataDir, id)
		},
	}, registerSlots)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- n2.Start(ctx) }()
	for n2.RaftAddr() == "" {
		time.Sleep(5 * time.Millisecond)
	}
	if err := n1.AddNonvoter(ctx, "node2", n2.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	return n1, n2
}

// presented dials addr as the node of identity as and returns the
// certificate the server presented. The handshake verifies it against the
// CA at the current time: it fails for an expired certificate.
func presented(t *testing.T, addr string, as *pki.Identity) (*x509.Certificate, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, pki.ClientConfig(as.Pool, as.Certificate, ""))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// reconnect cuts node2 off from node1 and heals, so that the next
// exchanges need new handshakes in both directions.
func reconnect(t *testing.T, n1 *cluster.Node) {
	t.Helper()
	if err := n1.Partition([]string{"node2"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := n1.Partition(nil); err != nil {
		t.Fatal(err)
	}
}

// bookThrough books through n (forwarded to the leader) and waits until
// the leader has applied it, retrying while the connection is remade.
func bookThrough(t *testing.T, n, leader *cluster.Node, slot string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var err error
	for ctx.Err() == nil {
		var res cluster.Result
		if res, err = book(ctx, n, slot, "ada"); err == nil {
			if err = leader.WaitApplied(ctx, res.Index); err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("book %s through %s: %v", slot, n.Config().NodeID, err)
}

// TestCertificateRenewsBeforeExpiry gives node2 a certificate of a few
// seconds: it renews it by itself (saved on disk, swapped in without a
// restart) and keeps talking to node1, over new connections, well past
// the expiry of the certificate it started with.
func TestCertificateRenewsBeforeExpiry(t *testing.T) {
	t.Parallel()
	const validity = 6 * time.Second
	dataDir := t.TempDir()
	var saved atomic.Int32
	n1, n2 := renewPair(t, validity, dataDir, &saved)
	first := n2.Identity().Certificate.Leaf
	// Past the first certificate's expiry, reconnecting and writing
	// through node2 every second.
	i := 0
	for time.Now().Before(first.NotAfter.Add(2 * time.Second)) {
		reconnect(t, n1)
		bookThrough(t, n2, n1, fmt.Sprintf("r%d", i))
		i++
		time.Sleep(time.Second)
	}
	if time.Now().Before(first.NotAfter) {
		t.Fatal("the loop ended before the first certificate expired")
	}
	cur := n2.Identity().Certificate.Leaf
	if !cur.NotAfter.After(first.NotAfter) || cur.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("node2 presents serial %v until %v, started with %v until %v: not renewed", cur.SerialNumber, cur.NotAfter, first.SerialNumber, first.NotAfter)
	}
	// A fresh handshake with node2 (as node1) verifies at the current
	// time: the first certificate has expired, so it must be a renewed one.
	got, err := presented(t, n2.RaftAddr(), n1.Identity())
	if err != nil {
		t.Fatalf("handshake with node2 after its first certificate expired: %v", err)
	}
	if got.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("node2 still presents its first certificate")
	}
	// And node2 as a client: a write through it after a reconnect.
	reconnect(t, n1)
	bookThrough(t, n2, n1, "final")
	onDisk, err := pki.LoadIdentity(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Load() < 1 || onDisk.Certificate.Leaf.NotAfter.Before(first.NotAfter) {
		t.Errorf("saved %d times, on disk until %v: want the renewed certificate saved", saved.Load(), onDisk.Certificate.Leaf.NotAfter)
	}
	t.Logf("%d renewals in %d rounds; node2's certificate now valid until %s", saved.Load(), i, cur.NotAfter.Format(time.TimeOnly))
}

// TestManualRenewalTakesEffectAtOnce renews node2's certificate on request
// and requires the next handshake to present it, without a restart.
func TestManualRenewalTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	var saved atomic.Int32
	n1, n2 := renewPair(t, time.Hour, dataDir, &saved)
	before, err := presented(t, n2.RaftAddr(), n1.Identity())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	renewed, err := n2.RenewCertificate(ctx)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	after, err := presented(t, n2.RaftAddr(), n1.Identity())
	if err != nil {
		t.Fatal(err)
	}
	if after.SerialNumber.Cmp(before.SerialNumber) == 0 || after.SerialNumber.Cmp(renewed.Certificate.Leaf.SerialNumber) != 0 {
		t.Errorf("after renewal node2 presents serial %v; before %v, renewed %v", after.SerialNumber, before.SerialNumber, renewed.Certificate.Leaf.SerialNumber)
	}
	if saved.Load() != 1 {
		t.Errorf("saved %d times, want 1", saved.Load())
	}
	reconnect(t, n1)
	bookThrough(t, n2, n1, "m1")
}
