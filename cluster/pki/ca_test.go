package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

func TestNewCA(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("comune-bari", t0)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	if !c.IsCA || !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("IsCA %v, MaxPathLen %d (zero %v); want a CA with path length 0", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
		t.Errorf("KeyUsage %v, want %v", c.KeyUsage, want)
	}
	if len(c.ExtKeyUsage) != 0 {
		t.Errorf("ExtKeyUsage %v, want none", c.ExtKeyUsage)
	}
	if got := c.PermittedURIDomains; len(got) != 1 || got[0] != "comune-bari" || !c.PermittedDNSDomainsCritical {
		t.Errorf("PermittedURIDomains %v (critical %v), want [comune-bari] critical", got, c.PermittedDNSDomainsCritical)
	}
	if want := t0.AddDate(10, 0, 0); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", c.NotAfter, want)
	}
	if !c.NotBefore.Before(t0) {
		t.Errorf("NotBefore %v, want before %v", c.NotBefore, t0)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if ca.ClusterName() != "comune-bari" {
		t.Errorf("ClusterName %q, want comune-bari", ca.ClusterName())
	}
	fp := ca.Fingerprint()
	if len(fp) != 52 || strings.Trim(fp, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		t.Errorf("Fingerprint %q: want 52 characters a-z, 2-7", fp)
	}
	if fp != pki.FingerprintOf(c) {
		t.Errorf("Fingerprint %q, FingerprintOf %q: want equal", fp, pki.FingerprintOf(c))
	}
	if other := newCA(t, "comune-bari"); other.Fingerprint() == fp {
		t.Errorf("two CAs share fingerprint %q", fp)
	}
}

func TestNewCAInvalidNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "Bari", "-bari", "bari-", "bari.it", "bari_1", "bàri", strings.Repeat("a", 64)} {
		if _, err := pki.NewCA(name, t0); !errors.Is(err, pki.ErrInvalidName) {
			t.Errorf("NewCA(%q): got %v, want %v", name, err, pki.ErrInvalidName)
		}
	}
}

func TestLoadCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	other := newCA(t, "bari")
	n1 := issue(t, ca, "node1", time.Now(), time.Hour)

	loaded, err := pki.LoadCA(ca.CertPEM(), ca.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Fingerprint() != ca.Fingerprint() || loaded.ClusterName() != "bari" {
		t.Errorf("loaded CA: fingerprint %s cluster %q, want %s bari", loaded.Fingerprint(), loaded.ClusterName(), ca.Fingerprint())
	}
	// The loaded CA signs certificates the original pool trusts.
	n2 := issue(t, loaded, "node2", time.Now(), time.Hour)
	if _, err := n2.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate from the loaded CA: %v", err)
	}

	// A SEC 1 ("EC PRIVATE KEY") key is accepted too.
	block, _ := pem.Decode(ca.KeyPEM())
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadCA(ca.CertPEM(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Errorf("LoadCA with a SEC 1 key: %v", err)
	}

	nodeCertOnly := n1.CertPEM[:strings.Index(string(n1.CertPEM), "-----END CERTIFICATE-----")+len("-----END CERTIFICATE-----\n")]
	tests := []struct {
		name     string
		cert     []byte
		key      []byte
		wantNoCA bool
	}{
		{"key of another CA", ca.CertPEM(), other.KeyPEM(), true},
		{"node certificate", nodeCertOnly, n1.KeyPEM, true},
		{"no certificate", []byte("garbage"), ca.KeyPEM(), false},
		{"no key", ca.CertPEM(), []byte("garbage"), false},
		{"key and certificate swapped", ca.KeyPEM(), ca.CertPEM(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := pki.LoadCA(tt.cert, tt.key)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if tt.wantNoCA && !errors.Is(err, pki.ErrNotCA) {
				t.Errorf("got %v, want %v", err, pki.ErrNotCA)
			}
		})
	}
}

func TestSignNode(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("bari", t0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "node-1.a_b")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNode(csr, "node-1.a_b", []string{"10.0.0.1", "node1.comune.bari.it", "::1", "10.0.0.1"}, t0, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	var chain []*x509.Certificate
	for rest := certPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	if len(chain) != 2 || !chain[1].Equal(ca.Certificate()) {
		t.Fatalf("got a chain of %d certificates, want the node's then the CA's", len(chain))
	}
	c := chain[0]
	if id, err := pki.NodeIDOf(c); err != nil || id != "node-1.a_b" {
		t.Errorf("NodeIDOf: got %q, %v; want node-1.a_b", id, err)
	}
	if name, err := pki.ClusterNameOf(c); err != nil || name != "bari" {
		t.Errorf("ClusterNameOf: got %q, %v; want bari", name, err)
	}
	if len(c.URIs) != 1 || c.URIs[0].String() != "sportello://bari/node/node-1.a_b" {
		t.Errorf("URIs %v, want [sportello://bari/node/node-1.a_b]", c.URIs)
	}
	if c.Subject.CommonName != "node-1.a_b" {
		t.Errorf("CommonName %q, want node-1.a_b", c.Subject.CommonName)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "node1.comune.bari.it" {
		t.Errorf("DNSNames %v, want [node1.comune.bari.it]", c.DNSNames)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IPAddresses %v, want [10.0.0.1 ::1]", c.IPAddresses)
	}
	if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("IsCA %v, KeyUsage %v; want a leaf for digital signatures", c.IsCA, c.KeyUsage)
	}
	if want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}; len(c.ExtKeyUsage) != 2 || c.ExtKeyUsage[0] != want[0] || c.ExtKeyUsage[1] != want[1] {
		t.Errorf("ExtKeyUsage %v, want %v", c.ExtKeyUsage, want)
	}
	if want := t0.Add(365 * 24 * time.Hour); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", c.NotAfter, want)
	}
	if !samePub(c.PublicKey, &key.PublicKey) {
		t.Error("certificate key is not the CSR's")
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if _, err := c.Verify(opts); err != nil {
		t.Errorf("Verify against the CA: %v", err)
	}

	// A validity past the CA's expiry is cut at it.
	long, err := ca.SignNode(csr, "node-1.a_b", nil, t0, 20*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(long)
	lc, _ := x509.ParseCertificate(block.Bytes)
	if !lc.NotAfter.Equal(ca.Certificate().NotAfter) {
		t.Errorf("long validity: NotAfter %v, want the CA's %v", lc.NotAfter, ca.Certificate().NotAfter)
	}
}

func TestSignNodeRefuses(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("bari", t0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "node1")
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), csr...)
	tampered[len(tampered)-5] ^= 0x01 // inside the signature
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	weakCSR, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject("node1")}, p521)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		csr      []byte
		nodeID   string
		hosts    []string
		now      time.Time
		validity time.Duration
		want     error // nil: any error
	}{
		{"request for another node", csr, "node2", nil, t0, time.Hour, pki.ErrNodeIDMismatch},
		{"not a CSR", []byte("garbage"), "node1", nil, t0, time.Hour, pki.ErrBadCSR},
		{"signature altered", tampered, "node1", nil, t0, time.Hour, pki.ErrBadCSR},
		{"key type not accepted", weakCSR, "node1", nil, t0, time.Hour, pki.ErrBadCSR},
		{"invalid node ID", csr, "node/1", nil, t0, time.Hour, pki.ErrInvalidName},
		{"host with a space", csr, "node1", []string{"node 1"}, t0, time.Hour, pki.ErrInvalidName},
		{"host with a port", csr, "node1", []string{"10.0.0.1:7000"}, t0, time.Hour, pki.ErrInvalidName},
		{"wildcard host", csr, "node1", []string{"*.bari.it"}, t0, time.Hour, pki.ErrInvalidName},
		{"zero validity", csr, "node1", nil, t0, 0, nil},
		{"CA expired", csr, "node1", nil, t0.AddDate(11, 0, 0), time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ca.SignNode(tt.csr, tt.nodeID, tt.hosts, tt.now, tt.validity)
			if err == nil {
				t.Fatalf("got a certificate (%d bytes), want an error", len(got))
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCSR(t *testing.T) {
	t.Parallel()
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := pki.CSR(key, "node1")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "node1" || len(csr.URIs)+len(csr.DNSNames)+len(csr.IPAddresses) != 0 {
		t.Errorf("CSR subject %q with SANs %v %v %v; want node1 and no SANs", csr.Subject.CommonName, csr.URIs, csr.DNSNames, csr.IPAddresses)
	}
	for _, bad := range []string{"", ".node", "node 1", "nodo/1", strings.Repeat("n", 65)} {
		if _, err := pki.CSR(key, bad); !errors.Is(err, pki.ErrInvalidName) {
			t.Errorf("CSR(%q): got %v, want %v", bad, err, pki.ErrInvalidName)
		}
	}
}
