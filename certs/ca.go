package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// The internal CA's keys, under the prefix reserved to the package: the
// key's name ends in ".key", so it is sealed like certmagic's keys, and
// it is bound to its name by the sealing's additional data.
const (
	caCertKey = reservedPrefix + "/internal-ca/root.crt"
	caKeyKey  = reservedPrefix + "/internal-ca/root.key"
)

// caValidity is the root's lifetime: browsers of a closed network import
// it once, by hand, so it must outlive the installation's hardware.
const caValidity = 10 * 365 * 24 * time.Hour

// internalCA is the loaded root.
type internalCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// InternalCA returns the cluster's internal root CA, for issuing
// certificates in closed networks where no ACME CA is reachable. The
// first call anywhere in the cluster creates it: this node makes an ECDSA
// P-256 root valid 10 years and proposes it with its key sealed; if
// another node's root was applied first, that one is kept, and returned
// here too. It needs the secrets key (ErrNoSecretsKey otherwise).
func (s *Storage) InternalCA(ctx context.Context) (*x509.Certificate, crypto.Signer, error) {
	ca, err := s.internalCA(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ca.cert, ca.key, nil
}

// InternalRootPEM returns the internal root certificate in PEM, creating
// the CA if needed, for `sportello tls export-root`: the file the
// Comune's administrators install in their browsers.
func (s *Storage) InternalRootPEM(ctx context.Context) ([]byte, error) {
	// The certificate is public and stored in clear: exporting it needs
	// no secrets key, and works on a node whose key is wrong, which is
	// exactly when an operator may be checking things by hand.
	b, err := s.load(ctx, caCertKey)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("certs: internal CA: %w", err)
	}
	ca, err := s.internalCA(ctx)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), ca.certPEM...), nil
}

// internalCA returns the cached root, or loads it, or proposes a new one
// and loads whichever the cluster kept. caMu makes one node propose once.
func (s *Storage) internalCA(ctx context.Context) (*internalCA, error) {
	s.caMu.Lock()
	defer s.caMu.Unlock()
	if s.ca != nil {
		return s.ca, nil
	}
	if s.sealKey == nil {
		return nil, fmt.Errorf("certs: internal CA: %w", ErrNoSecretsKey)
	}
	ca, err := s.loadCA(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.proposeCA(ctx); err == nil {
			ca, err = s.loadCA(ctx)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("certs: internal CA: %w", err)
	}
	s.ca = ca
	return ca, nil
}

// loadCA reads and opens the stored root, checking that the key is the
// certificate's.
func (s *Storage) loadCA(ctx context.Context) (*internalCA, error) {
	certPEM, err := s.load(ctx, caCertKey)
	if err != nil {
		return nil, err
	}
	keyPEM, err := s.load(ctx, caKeyKey)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("stored root is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("stored root key does not match its certificate")
	}
	return &internalCA{cert: cert, key: key, certPEM: certPEM}, nil
}

// proposeCA makes a root and proposes it; apply keeps the first one.
func (s *Storage) proposeCA(ctx context.Context) error {
	certPEM, keyPEM, err := newRoot(s.rootName(), s.now())
	if err != nil {
		return err
	}
	sealed, err := s.seal(caKeyKey, keyPEM)
	if err != nil {
		return err
	}
	return s.propose(ctx, CmdCAEnsure, caPayload{CertPEM: certPEM, SealedKey: sealed})
}

// rootName is the root's common name: with the cluster's name, so that
// an administrator who trusts the roots of two installations tells them
// apart in the browser's list.
func (s *Storage) rootName() string {
	if id := s.node.Identity(); id != nil && id.Certificate.Leaf != nil {
		if name, err := pki.ClusterNameOf(id.Certificate.Leaf); err == nil && name != "" {
			return "Sportello " + name + " Root CA"
		}
	}
	return "Sportello Root CA"
}

// newRoot makes a self-signed ECDSA P-256 root valid from an hour before
// now (clock skew) for caValidity, allowed to sign end-entity
// certificates only (MaxPathLen 0). No name constraints: the names it
// will sign (base domain, the Comuni's own domains) change over its ten
// years.
func newRoot(cn string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Sportello"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), nil
}
