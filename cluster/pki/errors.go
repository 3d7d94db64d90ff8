package pki

import "errors"

var (
	// ErrInvalidName is returned for a cluster name or node ID that does not
	// follow the rules of ValidClusterName and ValidNodeID.
	ErrInvalidName = errors.New("pki: invalid name")
	// ErrNotCA is returned by LoadCA for a certificate that is not a
	// Sportello cluster CA, or a key that does not belong to it.
	ErrNotCA = errors.New("pki: not a Sportello cluster CA")
	// ErrBadCSR is returned by SignNode for a request that does not parse,
	// whose signature does not verify, or whose key type is not accepted.
	ErrBadCSR = errors.New("pki: invalid certificate signing request")
	// ErrNodeIDMismatch is returned by SignNode when the request names a
	// node other than the one being admitted.
	ErrNodeIDMismatch = errors.New("pki: certificate request names another node")
	// ErrNoNodeID is returned by NodeIDOf for a certificate without exactly
	// one valid sportello:// node URI.
	ErrNoNodeID = errors.New("pki: certificate names no Sportello node")
	// ErrNoPeerCertificate is returned when the peer of a TLS connection
	// presented no certificate.
	ErrNoPeerCertificate = errors.New("pki: peer presented no certificate")
	// ErrUntrustedPeer is returned when the peer's certificate does not
	// chain to the cluster CA (another CA, expired, wrong key usage).
	ErrUntrustedPeer = errors.New("pki: untrusted peer certificate")
	// ErrWrongNode is returned when the peer is a node of the cluster but
	// not the one the caller expected.
	ErrWrongNode = errors.New("pki: peer is not the expected node")
	// ErrFingerprintMismatch is returned by a PinnedConfig connection when
	// the server did not present a CA with the pinned fingerprint.
	ErrFingerprintMismatch = errors.New("pki: cluster CA fingerprint does not match the join token")
	// ErrInvalidFingerprint is returned for a string that is not a
	// fingerprint as Fingerprint formats it.
	ErrInvalidFingerprint = errors.New("pki: invalid CA fingerprint")
	// ErrInvalidToken is matched by every error of ParseToken and NewToken.
	ErrInvalidToken = errors.New("pki: invalid join token")
)
