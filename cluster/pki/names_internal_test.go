package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"
	"time"
)

// craft signs a certificate of the given URIs for a fresh key with the
// CA's key, bypassing SignNode's checks: what a bug, or a CA key used by
// hand, could produce.
func craft(t *testing.T, ca *CA, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "crafted"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNameConstraint checks that the CA's name constraint holds in
// verification: a certificate it signed for another cluster's URI does not
// verify, though the signature is good.
func TestNameConstraint(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("bari", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uri    string
		wantOK bool
	}{
		{"sportello://bari/node/n1", true},
		{"sportello://lecce/node/n1", false},
		// crypto/x509 lets a constraint match subdomains too; NodeIDOf
		// refuses a host that is not one label.
		{"sportello://x.bari/node/n1", true},
		{"https://bari/node/n1", true}, // the constraint is on the host only; NodeIDOf then refuses it
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			t.Parallel()
			c := craft(t, ca, tt.uri)
			_, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("Verify: got error %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

// TestVerifyNeedsNodeURI checks that a certificate of the cluster CA
// without a single valid node URI is refused by both sides.
func TestVerifyNeedsNodeURI(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("bari", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*x509.Certificate{
		"no URI":        craft(t, ca),
		"two node URIs": craft(t, ca, "sportello://bari/node/n1", "sportello://bari/node/n2"),
		"not a node":    craft(t, ca, "sportello://bari/admin/n1"),
	} {
		cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{c, ca.cert}}
		if err := verifyServer(cs, ca.Pool(), ""); !errors.Is(err, ErrNoNodeID) {
			t.Errorf("%s: client side: got %v, want %v", name, err, ErrNoNodeID)
		}
		if err := ServerConfig(ca.Pool(), tls.Certificate{}).VerifyConnection(cs); !errors.Is(err, ErrNoNodeID) {
			t.Errorf("%s: server side: got %v, want %v", name, err, ErrNoNodeID)
		}
	}
}

func TestNodeIDOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uris        []string
		wantCluster string
		wantID      string // "" wants ErrNoNodeID
	}{
		{[]string{"sportello://bari/node/node1"}, "bari", "node1"},
		{[]string{"spiffe://bari/x", "sportello://bari/node/n.1_a-b", "https://x"}, "bari", "n.1_a-b"},
		{nil, "", ""},
		{[]string{"https://bari/node/node1"}, "", ""},
		{[]string{"sportello://bari/node/node1", "sportello://bari/node/node2"}, "", ""},
		{[]string{"sportello://bari/node/"}, "", ""},
		{[]string{"sportello://bari/node/a/b"}, "", ""},
		{[]string{"sportello://Bari/node/node1"}, "", ""},
		{[]string{"sportello://x.bari/node/node1"}, "", ""},
		{[]string{"sportello://bari/node/node1?x=1"}, "", ""},
		{[]string{"sportello://u@bari/node/node1"}, "", ""},
		{[]string{"sportello:bari/node/node1"}, "", ""},
	}
	for _, tt := range tests {
		c := &x509.Certificate{}
		for _, s := range tt.uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			c.URIs = append(c.URIs, u)
		}
		cluster, id, err := identityOf(c)
		if tt.wantID == "" {
			if !errors.Is(err, ErrNoNodeID) {
				t.Errorf("%v: got %q %q %v, want %v", tt.uris, cluster, id, err, ErrNoNodeID)
			}
			continue
		}
		if err != nil || cluster != tt.wantCluster || id != tt.wantID {
			t.Errorf("%v: got %q %q %v, want %q %q", tt.uris, cluster, id, err, tt.wantCluster, tt.wantID)
		}
	}
	if _, err := NodeIDOf(nil); !errors.Is(err, ErrNoNodeID) {
		t.Errorf("NodeIDOf(nil): got %v, want %v", err, ErrNoNodeID)
	}
}
