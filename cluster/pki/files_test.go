package pki_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	for _, tt := range []struct {
		data []byte
		perm os.FileMode
	}{
		{[]byte("first"), 0o600},
		{[]byte("second, longer than the first"), 0o644},
		{nil, 0o640},
	} {
		if err := pki.WriteFileAtomic(path, tt.data, tt.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tt.data) {
			t.Errorf("content %q, want %q", got, tt.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tt.perm {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tt.perm)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only f.txt (no temporary files)", len(entries))
	}

	if err := pki.WriteFileAtomic(filepath.Join(dir, "missing", "f.txt"), []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: got %v, want %v", err, fs.ErrNotExist)
	}
	// A failure (here, the target is a folder) leaves no temporary file.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, "sub"), []byte("x"), 0o600); err == nil {
		t.Error("replacing a folder: got no error, want one")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("after a failed write the folder holds %d entries, want 2", len(entries))
	}
}

func TestSaveLoadIdentity(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	id := issue(t, ca, "node1", time.Now(), time.Hour)
	dataDir := t.TempDir()

	if _, err := pki.LoadIdentity(dataDir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadIdentity before SaveIdentity: got %v, want %v", err, fs.ErrNotExist)
	}
	if err := pki.SaveIdentity(dataDir, id); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{pki.NodeCertFile: 0o644, pki.NodeKeyFile: 0o600, pki.CACertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dataDir, "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if fi, err := os.Stat(pki.TLSDir(dataDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("tls folder: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	got, err := pki.LoadIdentity(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodeID != "node1" || !got.Certificate.Leaf.Equal(id.Certificate.Leaf) || !got.CA.Equal(ca.Certificate()) {
		t.Errorf("loaded identity of %q, want node1 with the same certificate and CA", got.NodeID)
	}
	if len(got.Certificate.Certificate) != 2 || !bytes.Equal(got.Certificate.Certificate[1], ca.Certificate().Raw) {
		t.Errorf("loaded chain has %d certificates, want the node's then the CA's", len(got.Certificate.Certificate))
	}

	// A key that is not the certificate's (a crash between files, or a hand
	// edit) is refused.
	otherKey := issue(t, ca, "node1", time.Now(), time.Hour).KeyPEM
	if err := pki.WriteFileAtomic(filepath.Join(dataDir, "tls", pki.NodeKeyFile), otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadIdentity(dataDir); err == nil {
		t.Error("LoadIdentity with a mismatched key: got no error, want one")
	}
}

func TestParseIdentity(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	other := newCA(t, "bari")
	lecce := newCA(t, "lecce")
	id := issue(t, ca, "node1", time.Now(), time.Hour)

	// A certificate file without the CA after it still yields a chain that
	// sends the CA.
	leafPEM, _ := splitFirstPEM(id.CertPEM)
	got, err := pki.ParseIdentity(leafPEM, id.KeyPEM, ca.CertPEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Certificate.Certificate) != 2 || !bytes.Equal(got.Certificate.Certificate[1], ca.Certificate().Raw) {
		t.Errorf("chain has %d certificates, want the node's then the CA's", len(got.Certificate.Certificate))
	}

	for name, caPEM := range map[string][]byte{
		"another CA":              other.CertPEM(),
		"a CA of another cluster": lecce.CertPEM(),
		"no CA":                   nil,
		"node certificate as CA":  leafPEM,
	} {
		if _, err := pki.ParseIdentity(id.CertPEM, id.KeyPEM, caPEM); err == nil {
			t.Errorf("%s: got no error, want one", name)
		}
	}
}

// splitFirstPEM returns the first PEM block of data and the rest.
func splitFirstPEM(data []byte) (first, rest []byte) {
	end := []byte("-----END CERTIFICATE-----\n")
	i := bytes.Index(data, end) + len(end)
	return data[:i], data[i:]
}
