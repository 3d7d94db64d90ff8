package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
)

// NewNodeKey generates a node's private key: ECDSA on P-256. The key never
// leaves the node; only the CSR built from it travels.
func NewNodeKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new node key: %w", err)
	}
	return key, nil
}

// MarshalKeyPEM returns key in PKCS #8 PEM form ("PRIVATE KEY"), as
// node.key stores it.
func MarshalKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// CSR returns the DER-encoded certificate signing request of node nodeID
// for key: its subject common name is nodeID and it asks for no other name
// (the CA decides the SANs). The joining node sends it to the admitting
// node, whose CA.SignNode checks it.
func CSR(key crypto.Signer, nodeID string) ([]byte, error) {
	if !ValidNodeID(nodeID) {
		return nil, fmt.Errorf("%w: node ID %q: want 1-64 letters, digits, '.', '_' or '-'", ErrInvalidName, nodeID)
	}
	if err := acceptedNodeKey(key.Public()); err != nil {
		return nil, fmt.Errorf("pki: CSR for node %s: %w", nodeID, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: nodeID},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("pki: CSR for node %s: %w", nodeID, err)
	}
	return der, nil
}

// acceptedNodeKey accepts the public key types TLS 1.3 signs with that a
// node may hold: ECDSA on P-256 or P-384, and Ed25519. NewNodeKey makes
// P-256; the others are accepted so that a later version may switch
// without older CAs refusing its nodes.
func acceptedNodeKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("ECDSA curve %s not accepted, want P-256 or P-384", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("key type %T not accepted, want ECDSA (P-256, P-384) or Ed25519", pub)
	}
}
