package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestRenewCertificate renews a node's certificate from the CA in the
// replicated state: same key and node ID, new serial, later expiry.
func TestRenewCertificate(t *testing.T) {
	t.Parallel()
	seed := seedNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old := seed.Config().Identity
	renewed, err := seed.RenewCertificate(ctx)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	o, n := old.Certificate.Leaf, renewed.Certificate.Leaf
	if renewed.NodeID != "node1" || string(renewed.KeyPEM) != string(old.KeyPEM) {
		t.Errorf("renewed identity: node %q, same key %v; want node1, same key", renewed.NodeID, string(renewed.KeyPEM) == string(old.KeyPEM))
	}
	if o.SerialNumber.Cmp(n.SerialNumber) == 0 || n.NotAfter.Before(o.NotAfter) {
		t.Errorf("renewed certificate: serial %v → %v, not after %v → %v; want a new serial and a later expiry", o.SerialNumber, n.SerialNumber, o.NotAfter, n.NotAfter)
	}
	if got, want := n.NotAfter.Sub(n.NotBefore).Round(24*time.Hour), 365*24*time.Hour; got < want-48*time.Hour || got > want+48*time.Hour {
		t.Errorf("renewed certificate lives %v, want about %v", got, want)
	}
	if len(n.IPAddresses) != len(o.IPAddresses) {
		t.Errorf("renewed certificate IPs %v, want %v", n.IPAddresses, o.IPAddresses)
	}
}

// TestRenewCertificateWithoutIdentity refuses on plain TCP.
func TestRenewCertificateWithoutIdentity(t *testing.T) {
	t.Parallel()
	n := clustertest.Node(t, registerKV) // started
	if _, err := n.RenewCertificate(context.Background()); err == nil {
		t.Fatal("renew without an identity: got nil error")
	}
}

// TestNotSupportedErrorNamesEveryNode checks the refusal's text.
func TestNotSupportedErrorNamesEveryNode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  *cluster.NotSupportedError
		want []string
	}{
		{&cluster.NotSupportedError{Type: "x.y", Version: 2, NodeID: "n1", NodeMaxVersion: 1, NodeBinary: "1.0", Nodes: []string{"n1"}},
			[]string{"x.y v2", "node n1", "binary 1.0", "knows up to v1"}},
		{&cluster.NotSupportedError{Type: "x.y", Version: 1, NodeID: "n1", NodeBinary: "1.0", Nodes: []string{"n1", "n3"}},
			[]string{"nodes n1, n3", "does not know the type", "upgrade or remove them"}},
	} {
		msg := tc.err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
		if !errors.Is(tc.err, cluster.ErrNotSupportedByCluster) {
			t.Errorf("%v is not ErrNotSupportedByCluster", tc.err)
		}
	}
}
