package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestInternalCAOnePerCluster: three nodes, three callers each, all ask
// for the internal CA at once; every node proposes a root of its own, the
// first applied wins, and everybody gets the winner, with a key that
// signs certificates the root verifies.
func TestInternalCAOnePerCluster(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	sec := testSecrets(t, 10)
	type answer struct {
		cert *x509.Certificate
		pem  []byte
		err  error
	}
	answers := make(chan answer, 9)
	var wg sync.WaitGroup
	for _, n := range nodes {
		s := certs.NewStorage(n, sec, nil)
		for range 3 {
			wg.Go(func() {
				cert, key, err := s.InternalCA(ctx)
				if err == nil && !key.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
					err = errors.New("the key is not the certificate's")
				}
				p, perr := s.InternalRootPEM(ctx)
				answers <- answer{cert, p, errors.Join(err, perr)}
			})
		}
	}
	wg.Wait()
	close(answers)
	var root *x509.Certificate
	var rootPEM []byte
	for a := range answers {
		if a.err != nil {
			t.Fatal(a.err)
		}
		if root == nil {
			root, rootPEM = a.cert, a.pem
		}
		if !a.cert.Equal(root) || !bytes.Equal(a.pem, rootPEM) {
			t.Errorf("two roots in one cluster: serials %v and %v", a.cert.SerialNumber, root.SerialNumber)
		}
	}
	if b, _ := pem.Decode(rootPEM); b == nil || b.Type != "CERTIFICATE" || !bytes.Equal(b.Bytes, root.Raw) {
		t.Errorf("InternalRootPEM is not the root in PEM")
	}
	// What browsers and the issuer will look at.
	pub, ok := root.PublicKey.(*ecdsa.PublicKey)
	switch {
	case !ok || pub.Curve != elliptic.P256():
		t.Errorf("root key %T, want ECDSA P-256", root.PublicKey)
	case root.Subject.CommonName != "Sportello test Root CA":
		t.Errorf("root CN %q", root.Subject.CommonName)
	case !root.IsCA || !root.BasicConstraintsValid || root.KeyUsage&x509.KeyUsageCertSign == 0:
		t.Errorf("root is not a CA: IsCA %v, key usage %v", root.IsCA, root.KeyUsage)
	case root.NotAfter.Sub(time.Now()) < 9*365*24*time.Hour || root.NotBefore.After(time.Now()):
		t.Errorf("root valid %v to %v, want now to 10 years", root.NotBefore, root.NotAfter)
	case root.CheckSignatureFrom(root) != nil:
		t.Errorf("root is not self-signed")
	}
	var sealed bool
	if err := nodes[2].DB().QueryRow(`SELECT sealed FROM certs_kv WHERE key = 'sportello/internal-ca/root.key'`).Scan(&sealed); err != nil || !sealed {
		t.Errorf("root key row sealed=%v (%v)", sealed, err)
	}

	// The CA signs a server certificate that verifies under the root, on
	// another node than the one whose root won.
	_, key, err := certs.NewStorage(nodes[1], sec, nil).InternalCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "servizi.comune.esempio.it"},
		DNSNames:  []string{"servizi.comune.esempio.it"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, root, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "servizi.comune.esempio.it"}); err != nil {
		t.Errorf("a certificate the internal CA signed does not verify: %v", err)
	}

	// Without the secrets key: the root can be exported (it is public),
	// its key cannot be used.
	none := certs.NewStorage(nodes[0], nil, nil)
	if p, err := none.InternalRootPEM(ctx); err != nil || !bytes.Equal(p, rootPEM) {
		t.Errorf("InternalRootPEM without secrets = %v", err)
	}
	if _, _, err := none.InternalCA(ctx); !errors.Is(err, certs.ErrNoSecretsKey) {
		t.Errorf("InternalCA without secrets: %v, want ErrNoSecretsKey", err)
	}
	sameDumps(t, ctx, nodes)
}

// TestInternalCANeedsTheSecretsKey: a cluster without a root and a node
// without the secrets key: no root is made, and the error says why.
func TestInternalCANeedsTheSecretsKey(t *testing.T) {
	nodes := clustertest.Cluster(t, 3, certs.Register)
	ctx := testCtx(t)
	none := certs.NewStorage(nodes[1], nil, nil)
	if _, err := none.InternalRootPEM(ctx); !errors.Is(err, certs.ErrNoSecretsKey) {
		t.Errorf("InternalRootPEM without secrets and without a root: %v", err)
	}
	if none.Exists(ctx, "sportello") {
		t.Error("a root was stored without a key to seal it")
	}
}
