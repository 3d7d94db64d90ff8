package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	// caValidityYears is the lifetime of a cluster CA. Rotating a CA means
	// reissuing every node certificate, so it is long; the CA key never
	// leaves the cluster's replicated state.
	caValidityYears = 10
	// clockSkew is how far NotBefore is set into the past, so that a peer
	// whose clock is a little behind the signer's accepts a fresh
	// certificate.
	clockSkew = 5 * time.Minute
)

// CA is a cluster certificate authority: a self-signed ECDSA P-256
// certificate and its key. It is immutable and safe for concurrent use.
type CA struct {
	clusterName string
	cert        *x509.Certificate
	key         crypto.Signer
	certPEM     []byte
	keyPEM      []byte
}

// NewCA creates the CA of a new cluster named clusterName (see
// ValidClusterName), valid from now (less a few minutes for clock skew) for
// ten years. The certificate may sign only certificates (and CRLs), with a
// path length of zero, and a critical name constraint permits only URI SANs
// whose host is clusterName.
func NewCA(clusterName string, now time.Time) (*CA, error) {
	if !ValidClusterName(clusterName) {
		return nil, fmt.Errorf("%w: cluster name %q: want one lowercase DNS label (a-z, 0-9, '-')", ErrInvalidName, clusterName)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		// SerialNumber nil: CreateCertificate draws a random RFC 5280 serial.
		Subject: pkix.Name{
			CommonName:         "Sportello cluster CA " + clusterName,
			Organization:       []string{"Sportello"},
			OrganizationalUnit: []string{clusterName},
		},
		NotBefore:                   now.Add(-clockSkew),
		NotAfter:                    now.AddDate(caValidityYears, 0, 0),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLen:                  0,
		MaxPathLenZero:              true,
		PermittedURIDomains:         []string{clusterName},
		PermittedDNSDomainsCritical: true, // marks the whole name-constraints extension critical
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode CA key: %w", err)
	}
	return LoadCA(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	)
}

// LoadCA rebuilds a CA from the PEM forms CertPEM and KeyPEM returned. The
// key may be PKCS #8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"). It
// refuses, with an error matching ErrNotCA, a certificate that is not a CA
// with exactly one permitted URI domain (the cluster name) or a key that is
// not the certificate's.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%w: certificate %q is not a CA", ErrNotCA, cert.Subject.CommonName)
	}
	if len(cert.PermittedURIDomains) != 1 || !ValidClusterName(cert.PermittedURIDomains[0]) {
		return nil, fmt.Errorf("%w: certificate %q does not constrain URIs to one cluster name", ErrNotCA, cert.Subject.CommonName)
	}
	if err := cert.CheckSignatureFrom(cert); err != nil {
		return nil, fmt.Errorf("%w: certificate is not self-signed: %w", ErrNotCA, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA key: %w", err)
	}
	if !samePublicKey(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: key does not match certificate %q", ErrNotCA, cert.Subject.CommonName)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode CA key: %w", err)
	}
	return &CA{
		clusterName: cert.PermittedURIDomains[0],
		cert:        cert,
		key:         key,
		certPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		keyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// ClusterName returns the name of the cluster the CA serves.
func (ca *CA) ClusterName() string { return ca.clusterName }

// Certificate returns the CA certificate. The caller must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate in PEM form (ca.crt on every node).
func (ca *CA) CertPEM() []byte { return slices.Clone(ca.certPEM) }

// KeyPEM returns the CA private key in PKCS #8 PEM form. Whoever holds it
// can admit nodes to the cluster: see cluster/DESIGN.md for where it lives.
func (ca *CA) KeyPEM() []byte { return slices.Clone(ca.keyPEM) }

// Fingerprint returns FingerprintOf the CA certificate: the value a join
// token carries to pin the CA before the joining node has it.
func (ca *CA) Fingerprint() string { return FingerprintOf(ca.cert) }

// Pool returns a new pool holding only the CA certificate, for ServerConfig
// and ClientConfig.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// SignNode issues the certificate of node nodeID for the public key of the
// DER-encoded request csrDER (as CSR builds it), valid from now (less a few
// minutes for clock skew) for validity, cut at the CA's own expiry. It
// checks the request's signature and that its subject common name is nodeID;
// names the request asks for are otherwise ignored: the certificate carries
// the node URI sportello://<cluster>/node/<nodeID>, CommonName nodeID, and
// hosts (IP addresses or DNS names, informational: peers check the node
// URI, not host names) as SANs, with both the server and client
// authentication extended key usages.
//
// certPEM holds the node certificate followed by the CA certificate, so a
// node that loads it with tls.X509KeyPair sends the CA in its chain, which
// PinnedConfig needs. SignNode is random (serial, signature): it runs in
// the admitting node, never in an FSM apply function.
func (ca *CA) SignNode(csrDER []byte, nodeID string, hosts []string, now time.Time, validity time.Duration) (certPEM []byte, err error) {
	uri, err := NodeURI(ca.clusterName, nodeID)
	if err != nil {
		return nil, err
	}
	if validity <= 0 {
		return nil, fmt.Errorf("pki: sign node %s: validity %v: want > 0", nodeID, validity)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("%w: node %s: %w", ErrBadCSR, nodeID, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: node %s: signature: %w", ErrBadCSR, nodeID, err)
	}
	if err := acceptedNodeKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: node %s: %w", ErrBadCSR, nodeID, err)
	}
	if csr.Subject.CommonName != nodeID {
		return nil, fmt.Errorf("%w: request is for %q, admitting %q", ErrNodeIDMismatch, csr.Subject.CommonName, nodeID)
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !validDNSName(h) {
			return nil, fmt.Errorf("%w: node %s: host %q is neither an IP address nor a DNS name", ErrInvalidName, nodeID, h)
		}
		if !slices.Contains(dnsNames, h) {
			dnsNames = append(dnsNames, h)
		}
	}
	if !now.Before(ca.cert.NotAfter) {
		return nil, fmt.Errorf("pki: sign node %s: the cluster CA expired at %s", nodeID, ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{
			CommonName:         nodeID,
			Organization:       []string{"Sportello"},
			OrganizationalUnit: []string{ca.clusterName},
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign node %s: %w", nodeID, err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, ca.certPEM...), nil
}

// parseCertPEM returns the first certificate of a PEM text.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no CERTIFICATE PEM block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// parseKeyPEM returns the first private key of a PEM text.
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PRIVATE KEY or EC PRIVATE KEY PEM block")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("key type %T cannot sign", k)
			}
			return s, nil
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		}
	}
}

// samePublicKey reports whether a and b are the same public key.
func samePublicKey(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// validDNSName reports whether h is a host name usable as a DNS SAN:
// dot-separated labels of letters, digits and '-', no wildcard.
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
