package certs

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/caddyserver/certmagic"
)

// internalLeafLifetime is the validity of a certificate of the internal
// CA: the same 90 days as Let's Encrypt, so renewals (at a third of the
// lifetime left) are exercised as often and the same way in closed
// networks as on the Internet.
const internalLeafLifetime = 90 * 24 * time.Hour

// internalBackdate covers clocks a little behind the signing node's.
const internalBackdate = 5 * time.Minute

// internalIssuerKey names the internal CA's certificates in Storage.
const internalIssuerKey = "sportello-internal"

// internalIssuer is a certmagic.Issuer that signs with the cluster's
// internal CA, so that certmagic stores, shares, locks and renews its
// certificates exactly as it does ACME ones.
type internalIssuer struct {
	storage *Storage
}

var _ certmagic.Issuer = (*internalIssuer)(nil)

// IssuerKey implements certmagic.Issuer.
func (*internalIssuer) IssuerKey() string { return internalIssuerKey }

// Issue implements certmagic.Issuer: it signs a server certificate for the
// names of csr. The decision whether a name may have one was made before
// (Decide for on-demand names, Managed for the others).
func (i *internalIssuer) Issue(ctx context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("internal CA: certificate request: %w", err)
	}
	if len(csr.DNSNames) == 0 {
		return nil, errors.New("internal CA: certificate request without DNS names")
	}
	if len(csr.IPAddresses) > 0 || len(csr.URIs) > 0 || len(csr.EmailAddresses) > 0 {
		return nil, errors.New("internal CA: only DNS names are signed")
	}
	ca, key, err := i.storage.InternalCA(ctx)
	if err != nil {
		return nil, fmt.Errorf("internal CA: %w", err)
	}
	now := time.Now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("internal CA: serial: %w", err)
	}
	notAfter := now.Add(internalLeafLifetime)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-internalBackdate),
		NotAfter:              notAfter,
		DNSNames:              csr.DNSNames,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("internal CA: sign: %w", err)
	}
	return &certmagic.IssuedCertificate{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}
