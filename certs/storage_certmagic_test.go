package certs_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// caIssuer is a certmagic.Issuer that signs with the cluster's internal
// CA and counts what it issued, so the test sees how many certificates
// the whole cluster asked for.
type caIssuer struct {
	storage *certs.Storage
	issued  *atomic.Int32
}

func (i caIssuer) IssuerKey() string { return "sportello-test-internal" }

func (i caIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	root, key, err := i.storage.InternalCA(ctx)
	if err != nil {
		return nil, err
	}
	i.issued.Add(1)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: csr.DNSNames[0]}, DNSNames: csr.DNSNames,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, root, csr.PublicKey, crypto.Signer(key))
	if err != nil {
		return nil, err
	}
	return &certmagic.IssuedCertificate{Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// magic builds a certmagic configuration on s, as a node would.
func magic(t *testing.T, s *certs.Storage, issued *atomic.Int32) *certmagic.Config {
	t.Helper()
	var cfg *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return cfg, nil },
		Logger:           zap.NewNop(),
	})
	t.Cleanup(cache.Stop)
	cfg = certmagic.New(cache, certmagic.Config{
		Storage: s,
		Issuers: []certmagic.Issuer{caIssuer{storage: s, issued: issued}},
		Logger:  zap.NewNop(),
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
	})
	return cfg
}

// TestCertmagicOnTheReplicatedStorage drives certmagic itself: two nodes
// obtain the same name at once, and certmagic's lock and storage check
// make the cluster issue once; both nodes then serve the same
// certificate, loaded from storage; the site key is sealed in the state.
func TestCertmagicOnTheReplicatedStorage(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 11)
	var issued atomic.Int32
	sa, sb := certs.NewStorage(nodes[1], sec, nil), certs.NewStorage(nodes[2], sec, nil)
	a, b := magic(t, sa, &issued), magic(t, sb, &issued)
	const name = "servizi.comune.esempio.it"

	var wg sync.WaitGroup
	for _, cfg := range []*certmagic.Config{a, b} {
		wg.Go(func() {
			if err := cfg.ObtainCertSync(ctx, name); err != nil {
				t.Errorf("ObtainCertSync: %v", err)
			}
		})
	}
	wg.Wait()
	if n := issued.Load(); n != 1 {
		t.Errorf("the cluster issued %d certificates for one name, want 1", n)
	}
	fresh(t, ctx, nodes[1])
	ca, err := a.CacheManagedCertificate(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.CacheManagedCertificate(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Leaf.Equal(cb.Leaf) || ca.Leaf.Subject.CommonName != name {
		t.Errorf("the nodes serve different certificates: %v and %v", ca.Leaf.SerialNumber, cb.Leaf.SerialNumber)
	}
	// A third node that never obtained anything serves it too, through
	// the TLS configuration certmagic builds.
	fresh(t, ctx, nodes[0])
	c := magic(t, certs.NewStorage(nodes[0], sec, nil), &issued)
	if err := c.ManageSync(ctx, []string{name}); err != nil {
		t.Fatal(err)
	}
	rootPEM, err := sa.InternalRootPEM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if peer := handshake(t, c.TLSConfig(), name, rootPEM); !peer.Equal(ca.Leaf) {
		t.Errorf("node1 presents serial %v, want %v", peer.SerialNumber, ca.Leaf.SerialNumber)
	}
	if n := issued.Load(); n != 1 {
		t.Errorf("managing a stored name issued again: %d certificates", n)
	}

	keyKey := certmagic.StorageKeys.SitePrivateKey("sportello-test-internal", name)
	var sealed bool
	var raw []byte
	if err := nodes[0].DB().QueryRow(`SELECT sealed, value FROM certs_kv WHERE key = ?`, keyKey).Scan(&sealed, &raw); err != nil {
		t.Fatal(err)
	}
	if !sealed || bytes.Contains(raw, []byte("PRIVATE KEY")) {
		t.Errorf("the site key is stored in clear (sealed=%v)", sealed)
	}
	// certmagic leaves nothing behind: no lock, no storage-check value.
	var locks, tests int
	nodes[0].DB().QueryRow(`SELECT count(*) FROM certs_locks`).Scan(&locks)
	nodes[0].DB().QueryRow(`SELECT count(*) FROM certs_kv WHERE key LIKE 'rw_test_%'`).Scan(&tests)
	if locks != 0 || tests != 0 {
		t.Errorf("%d locks and %d storage checks left", locks, tests)
	}
}

// TestACMEAccountKeyRoundTrips stores an ACME account the way certmagic
// lays it out (registration JSON and private key under acme/<CA>/users/
// <email>/) through one node, and has certmagic's ACME issuer on another
// node find it by its key: List, Stat and Load of a sealed key in the
// shape certmagic reads them.
func TestACMEAccountKeyRoundTrips(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 12)
	var issued atomic.Int32
	writer := certs.NewStorage(nodes[2], sec, nil)
	reader := magic(t, certs.NewStorage(nodes[0], sec, nil), &issued)
	iss := certmagic.NewACMEIssuer(reader, certmagic.ACMEIssuer{CA: "https://acme.comune.example/directory", Logger: zap.NewNop()})

	key := keyPEM(t)
	const email = "tls@comune.esempio.it"
	users := "acme/" + certmagic.StorageKeys.Safe(iss.IssuerKey()) + "/users/" + email
	reg, _ := json.Marshal(map[string]any{"status": "valid", "contact": []string{"mailto:" + email}, "location": "https://acme.comune.example/acct/1"})
	if err := writer.Store(ctx, users+"/tls.json", reg); err != nil {
		t.Fatal(err)
	}
	if err := writer.Store(ctx, users+"/tls.key", key); err != nil {
		t.Fatal(err)
	}
	fresh(t, ctx, nodes[0])
	acct, err := iss.GetAccount(ctx, key)
	if err != nil {
		t.Fatalf("certmagic did not find the account by its key: %v", err)
	}
	if acct.Location != "https://acme.comune.example/acct/1" || len(acct.Contact) != 1 || acct.Contact[0] != "mailto:"+email {
		t.Errorf("account read back: %+v", acct)
	}
	b, _ := pem.Decode(key)
	want, _ := x509.ParseECPrivateKey(b.Bytes)
	if !want.Equal(acct.PrivateKey) {
		t.Error("the account's private key did not round-trip")
	}
}

// handshake serves one TLS connection with cfg and connects to it as a
// browser that trusts rootPEM would, returning the certificate it saw.
func handshake(t *testing.T, cfg *tls.Config, name string, rootPEM []byte) *x509.Certificate {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.(*tls.Conn).Handshake()
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		t.Fatalf("handshake for %s: %v", name, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}
