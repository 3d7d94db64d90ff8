package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// CertHolder holds a node's current identity and the CAs it trusts, and
// hands them to every TLS handshake, so that a renewed certificate, or a
// trust bundle changed by a CA rotation, is used from the next handshake on
// without a restart: connections already open keep what they were made
// with, which the peers verified then. It is safe for concurrent use.
type CertHolder struct {
	cur   atomic.Pointer[Identity]
	trust atomic.Pointer[trustSet]
}

// trustSet is the CAs a node accepts peers of, as a pool and by
// fingerprint.
type trustSet struct {
	pool *x509.CertPool
	fps  map[string]bool
}

func newTrustSet(cas []*x509.Certificate) *trustSet {
	t := &trustSet{pool: x509.NewCertPool(), fps: map[string]bool{}}
	for _, ca := range cas {
		t.pool.AddCert(ca)
		t.fps[FingerprintOf(ca)] = true
	}
	return t
}

// NewCertHolder returns a holder of id, which must not be nil, trusting
// id's CA only.
func NewCertHolder(id *Identity) *CertHolder {
	h := &CertHolder{}
	h.cur.Store(id)
	h.trust.Store(newTrustSet([]*x509.Certificate{id.CA}))
	return h
}

// Identity returns the identity handshakes use now.
func (h *CertHolder) Identity() *Identity { return h.cur.Load() }

// Pool returns the pool of the CAs trusted now.
func (h *CertHolder) Pool() *x509.CertPool { return h.trust.Load().pool }

// Trusts tells whether the CA of fingerprint fp is trusted now.
func (h *CertHolder) Trusts(fp string) bool { return h.trust.Load().fps[fp] }

// TrustedFingerprints returns the fingerprints of the CAs trusted now,
// sorted.
func (h *CertHolder) TrustedFingerprints() []string {
	fps := make([]string, 0, 2)
	for fp := range h.trust.Load().fps {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	return fps
}

// SetTrust replaces the trusted CAs (a CA rotation's bundle). The CA of
// the current identity stays trusted whatever cas says: a node must
// accept peers of its own CA.
func (h *CertHolder) SetTrust(cas []*x509.Certificate) {
	all := append([]*x509.Certificate{h.cur.Load().CA}, cas...)
	h.trust.Store(newTrustSet(all))
}

// ErrIdentityMismatch is returned by Swap for an identity of another node
// or of a CA that is not trusted.
var ErrIdentityMismatch = errors.New("pki: the new identity is not of the same node and a trusted CA")

// Swap makes id the identity of the next handshakes. It must name the
// same node and chain to a trusted CA (the current one, or the next one
// of a rotation that SetTrust added).
func (h *CertHolder) Swap(id *Identity) error {
	cur := h.cur.Load()
	if id == nil || id.NodeID != cur.NodeID || !h.Trusts(FingerprintOf(id.CA)) {
		return fmt.Errorf("%w: have node %s", ErrIdentityMismatch, cur.NodeID)
	}
	h.cur.Store(id)
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the server side.
func (h *CertHolder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &h.cur.Load().Certificate, nil
}

// GetClientCertificate is tls.Config.GetClientCertificate: the client
// side.
func (h *CertHolder) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &h.cur.Load().Certificate, nil
}

// WithCertHolder returns a copy of cfg (ServerConfig, JoinServerConfig or
// ClientConfig) that takes its certificate from h at each handshake
// instead of the fixed one it was built with; a server configuration also
// takes the CAs it verifies clients with from h. (A client configuration
// verifies the server in VerifyConnection against the pool it was built
// with: build it per dial with h.Pool.)
func WithCertHolder(cfg *tls.Config, h *CertHolder) *tls.Config {
	c := cfg.Clone()
	c.Certificates = nil
	c.GetCertificate = h.GetCertificate
	c.GetClientCertificate = h.GetClientCertificate
	if c.ClientCAs != nil {
		base := c.Clone()
		c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			per := base.Clone()
			per.ClientCAs = h.Pool()
			return per, nil
		}
	}
	return c
}

// Lifetime returns the validity a node certificate was issued for: from
// its NotBefore, less the clock skew SignNode backdates it by, to its
// NotAfter. Renewal is scheduled on it (a third of it before expiry).
func Lifetime(leaf *x509.Certificate) time.Duration {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if life > clockSkew {
		life -= clockSkew
	}
	return life
}
