package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// uriScheme is the scheme of the URI SAN that names a node.
const uriScheme = "sportello"

var (
	// nodeIDPattern is the rule cmd/sportello applies to node_id; the two
	// must agree, since the node ID becomes a path segment of the node URI.
	nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// clusterNamePattern is one lowercase DNS label: the cluster name is the
	// host of the node URI and the CA's URI name constraint.
	clusterNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// b32 is the encoding of fingerprints and tokens: lowercase RFC 4648 base32
// without padding. It is URL-safe, has no characters a terminal or a mail
// client would mangle, and is read aloud without case ambiguity.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ValidNodeID reports whether id can name a node: 1 to 64 ASCII letters,
// digits, '.', '_' or '-', starting with a letter or digit (the rule of the
// node_id setting).
func ValidNodeID(id string) bool { return nodeIDPattern.MatchString(id) }

// ValidClusterName reports whether name can name a cluster: one lowercase
// DNS label (a-z, 0-9, '-', 1 to 63 characters, no leading or trailing '-').
func ValidClusterName(name string) bool { return clusterNamePattern.MatchString(name) }

// NodeURI returns the URI SAN that names nodeID of clusterName in its
// certificate: sportello://<clusterName>/node/<nodeID>.
func NodeURI(clusterName, nodeID string) (*url.URL, error) {
	if !ValidClusterName(clusterName) {
		return nil, fmt.Errorf("%w: cluster name %q: want one lowercase DNS label", ErrInvalidName, clusterName)
	}
	if !ValidNodeID(nodeID) {
		return nil, fmt.Errorf("%w: node ID %q: want 1-64 letters, digits, '.', '_' or '-'", ErrInvalidName, nodeID)
	}
	return &url.URL{Scheme: uriScheme, Host: clusterName, Path: "/node/" + nodeID}, nil
}

// identityOf returns the cluster name and node ID of the single
// sportello:// URI SAN of cert.
func identityOf(cert *x509.Certificate) (clusterName, nodeID string, err error) {
	if cert == nil {
		return "", "", fmt.Errorf("%w: no certificate", ErrNoNodeID)
	}
	found := 0
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		found++
		id, ok := strings.CutPrefix(u.Path, "/node/")
		if !ok || !ValidNodeID(id) || !ValidClusterName(u.Host) || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return "", "", fmt.Errorf("%w: malformed node URI %q", ErrNoNodeID, u)
		}
		clusterName, nodeID = u.Host, id
	}
	switch found {
	case 0:
		return "", "", fmt.Errorf("%w: no %s:// URI in certificate %q", ErrNoNodeID, uriScheme, cert.Subject.CommonName)
	case 1:
		return clusterName, nodeID, nil
	default:
		return "", "", fmt.Errorf("%w: %d %s:// URIs in certificate %q, want one", ErrNoNodeID, found, uriScheme, cert.Subject.CommonName)
	}
}

// NodeIDOf returns the node ID a node certificate names in its
// sportello://<cluster>/node/<id> URI SAN. It checks only the name: call it
// on a certificate already verified against the cluster CA (as the configs
// of this package do before any caller sees the connection).
func NodeIDOf(cert *x509.Certificate) (string, error) {
	_, id, err := identityOf(cert)
	return id, err
}

// ClusterNameOf returns the cluster name a node certificate names in its
// node URI; a joining node learns the cluster's name this way.
func ClusterNameOf(cert *x509.Certificate) (string, error) {
	name, _, err := identityOf(cert)
	return name, err
}

// FingerprintOf returns the SHA-256 of cert's DER encoding in lowercase
// base32 without padding (52 characters), the form join tokens carry.
func FingerprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return b32.EncodeToString(sum[:])
}

// canonicalFingerprint checks that s is a fingerprint as FingerprintOf
// writes it (case and surrounding space aside) and returns it in that form.
func canonicalFingerprint(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	raw, err := b32.DecodeString(s)
	if err != nil || len(raw) != sha256.Size || b32.EncodeToString(raw) != s {
		return "", fmt.Errorf("%w: %q: want %d base32 characters (a-z, 2-7)", ErrInvalidFingerprint, s, b32.EncodedLen(sha256.Size))
	}
	return s, nil
}
