package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// ServerConfig returns the TLS configuration of a node's cluster listener
// (Raft transport, forwarding): TLS 1.3 only, cert as the node's
// certificate (its chain should include the CA, as SignNode's output does),
// and every client must present a certificate that chains to ca (and to no
// system root) with the client authentication usage and a node URI. After
// the handshake, PeerNodeID names the client. A nil ca refuses every
// client.
func ServerConfig(ca *x509.CertPool, cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    poolOrEmpty(ca),
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := PeerNodeID(cs)
			return err
		},
	}
}

// JoinServerConfig is ServerConfig for a listener that also serves nodes
// that are joining and have no certificate yet: a client certificate is
// verified as ServerConfig does when one is presented, and a client without
// one is let through. The server must then allow such a connection nothing
// but the join request (PeerNodeID returns ErrNoPeerCertificate for it).
func JoinServerConfig(ca *x509.CertPool, cert tls.Certificate) *tls.Config {
	c := ServerConfig(ca, cert)
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		_, err := PeerNodeID(cs)
		return err
	}
	return c
}

// ClientConfig returns the TLS configuration a node dials another node
// with: TLS 1.3 only, cert as its client certificate, and the server must
// present a certificate that chains to ca (and to no system root) with the
// server authentication usage and a node URI. The host name or IP dialled
// is not checked; the node ID in the certificate is, and must equal
// expectNodeID unless that is "" (any node of the cluster). A nil ca
// refuses every server.
func ClientConfig(ca *x509.CertPool, cert tls.Certificate, expectNodeID string) *tls.Config {
	roots := poolOrEmpty(ca)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		// InsecureSkipVerify turns off only the standard verification,
		// which would check the host name; VerifyConnection verifies the
		// chain against roots and the node ID instead, on every handshake.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, roots, expectNodeID)
		},
	}
}

// PinnedConfig returns the TLS configuration of a joining node that has no
// CA certificate yet, only the fingerprint its join token carries: TLS 1.3
// only, no client certificate, and the server must send, after its own
// certificate, a CA certificate whose FingerprintOf is fingerprint, and its
// own certificate must chain to that CA with the server authentication
// usage and a node URI. A server that sends the right CA certificate beside
// a certificate of another CA is refused. An invalid fingerprint refuses
// every server. After the handshake, PinnedCA returns the pinned CA.
func PinnedConfig(fingerprint string) *tls.Config {
	want, fpErr := canonicalFingerprint(fingerprint)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// InsecureSkipVerify: see ClientConfig; VerifyConnection pins.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if fpErr != nil {
				return fpErr
			}
			ca, err := PinnedCA(cs, want)
			if err != nil {
				return err
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			return verifyServer(cs, roots, "")
		},
	}
}

// PinnedCA returns the certificate the server of cs sent after its own
// whose fingerprint is fingerprint, if it is a CA. It does not verify the
// server's certificate: PinnedConfig does.
func PinnedCA(cs tls.ConnectionState, fingerprint string) (*x509.Certificate, error) {
	want, err := canonicalFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	if len(cs.PeerCertificates) == 0 {
		return nil, ErrNoPeerCertificate
	}
	for _, c := range cs.PeerCertificates[1:] {
		if FingerprintOf(c) == want && c.IsCA {
			return c, nil
		}
	}
	if len(cs.PeerCertificates) == 1 {
		return nil, fmt.Errorf("%w: the server sent no CA certificate in its chain", ErrFingerprintMismatch)
	}
	return nil, fmt.Errorf("%w: the server's CA has fingerprint %s, the token %s",
		ErrFingerprintMismatch, FingerprintOf(cs.PeerCertificates[len(cs.PeerCertificates)-1]), want)
}

// PeerNodeID returns the node ID of the peer of a completed handshake made
// with one of this package's configurations, which have verified the
// certificate against the cluster CA. It returns ErrNoPeerCertificate for
// a client without a certificate on a JoinServerConfig listener.
func PeerNodeID(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", ErrNoPeerCertificate
	}
	return NodeIDOf(cs.PeerCertificates[0])
}

// WithPeerCheck returns a copy of cfg (any configuration of this package)
// that, after cfg's own verification, also calls check with the peer's
// node ID and certificate and refuses the connection if check returns an
// error. The cluster uses it to refuse removed nodes (by node ID or
// certificate serial) until their certificates expire. check is not called
// for a client without a certificate on a JoinServerConfig listener, and it
// runs on the handshake goroutine: it must be fast and safe for concurrent
// use.
func WithPeerCheck(cfg *tls.Config, check func(nodeID string, cert *x509.Certificate) error) *tls.Config {
	c := cfg.Clone()
	prev := c.VerifyConnection
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if prev != nil {
			if err := prev(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return nil
		}
		id, err := NodeIDOf(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		return check(id, cs.PeerCertificates[0])
	}
	return c
}

// verifyServer checks that the server certificate of cs chains directly to
// roots with the server authentication usage, at the current time, and
// names expectNodeID (any node if "").
func verifyServer(cs tls.ConnectionState, roots *x509.CertPool, expectNodeID string) error {
	if len(cs.PeerCertificates) == 0 {
		return ErrNoPeerCertificate
	}
	leaf := cs.PeerCertificates[0]
	// No Intermediates: the cluster CA signs node certificates directly
	// and may not sign CA certificates (path length zero).
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:     roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrustedPeer, err)
	}
	id, err := NodeIDOf(leaf)
	if err != nil {
		return err
	}
	if expectNodeID != "" && id != expectNodeID {
		return fmt.Errorf("%w: got node %q, want %q", ErrWrongNode, id, expectNodeID)
	}
	return nil
}

// poolOrEmpty returns p, or an empty pool if p is nil: a nil pool would
// make crypto/x509 fall back to the system roots.
func poolOrEmpty(p *x509.CertPool) *x509.CertPool {
	if p == nil {
		return x509.NewCertPool()
	}
	return p
}
