package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// The files of a node's identity, in TLSDir(dataDir).
const (
	NodeCertFile = "node.crt" // node certificate then CA certificate, PEM, 0644
	NodeKeyFile  = "node.key" // node private key, PKCS #8 PEM, 0600
	CACertFile   = "ca.crt"   // cluster CA certificate, PEM, 0644
)

// TLSDir returns the folder of a node's TLS files: <dataDir>/tls.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// Identity is a node's TLS identity, ready for ServerConfig and
// ClientConfig. It is immutable once built; the caller must not modify its
// fields.
type Identity struct {
	// NodeID is the node ID named in the certificate.
	NodeID string
	// Certificate is the key pair for tls.Config: Certificate.Certificate
	// holds the node certificate then the CA certificate (so peers joining
	// by fingerprint see the CA), and Certificate.Leaf is set.
	Certificate tls.Certificate
	// CA is the cluster CA certificate, and Pool a pool holding only it.
	CA   *x509.Certificate
	Pool *x509.CertPool
	// CertPEM, KeyPEM and CAPEM are the texts the identity was parsed from.
	CertPEM, KeyPEM, CAPEM []byte
}

// ParseIdentity builds an Identity from the node certificate (with or
// without the CA after it), the node key and the CA certificate, all PEM.
// It checks that the key is the certificate's, that the CA signed the
// certificate and that the certificate names a node of the CA's cluster with
// both authentication usages. It does not check the validity period: the
// caller compares Certificate.Leaf.NotAfter with its clock, to renew (or
// report an expired certificate) rather than fail to start.
func ParseIdentity(certPEM, keyPEM, caPEM []byte) (*Identity, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: node certificate and key: %w", err)
	}
	ca, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	if !ca.IsCA || len(ca.PermittedURIDomains) != 1 {
		return nil, fmt.Errorf("%w: %q", ErrNotCA, ca.Subject.CommonName)
	}
	leaf := pair.Leaf
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("pki: node certificate %q not signed by CA %q: %w", leaf.Subject.CommonName, ca.Subject.CommonName, err)
	}
	cluster, id, err := identityOf(leaf)
	if err != nil {
		return nil, err
	}
	if cluster != ca.PermittedURIDomains[0] {
		return nil, fmt.Errorf("pki: node certificate is for cluster %q, CA for %q", cluster, ca.PermittedURIDomains[0])
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if !slices.Contains(leaf.ExtKeyUsage, u) {
			return nil, fmt.Errorf("pki: node certificate %q lacks extended key usage %v", id, u)
		}
	}
	if !slices.ContainsFunc(pair.Certificate[1:], func(der []byte) bool { return slices.Equal(der, ca.Raw) }) {
		pair.Certificate = append(pair.Certificate, ca.Raw)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Identity{
		NodeID:      id,
		Certificate: pair,
		CA:          ca,
		Pool:        pool,
		CertPEM:     slices.Clone(certPEM),
		KeyPEM:      slices.Clone(keyPEM),
		CAPEM:       slices.Clone(caPEM),
	}, nil
}

// SaveIdentity writes id into TLSDir(dataDir), creating it (0700) if
// needed: the CA certificate, the key (0600), then the certificate, each
// atomically. A crash between files leaves a set that LoadIdentity refuses
// (key and certificate do not match), never a half-written file.
func SaveIdentity(dataDir string, id *Identity) error {
	dir := TLSDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: save identity: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{CACertFile, id.CAPEM, 0o644},
		{NodeKeyFile, id.KeyPEM, 0o600},
		{NodeCertFile, id.CertPEM, 0o644},
	} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("pki: save identity: %w", err)
		}
	}
	return nil
}

// LoadIdentity reads and parses the identity SaveIdentity wrote. A node that
// has none yet gets an error matching fs.ErrNotExist.
func LoadIdentity(dataDir string) (*Identity, error) {
	dir := TLSDir(dataDir)
	var data [3][]byte
	for i, name := range []string{NodeCertFile, NodeKeyFile, CACertFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("pki: load identity: %w", err)
		}
		data[i] = b
	}
	id, err := ParseIdentity(data[0], data[1], data[2])
	if err != nil {
		return nil, fmt.Errorf("pki: load identity from %s: %w", dir, err)
	}
	return id, nil
}

// WriteFileAtomic replaces path with data so that after a crash path holds
// either its old content or data, never a mix: it writes a temporary file in
// the same folder, sets its mode to exactly perm (no umask), fsyncs it,
// renames it over path and fsyncs the folder.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("pki: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a folder so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
