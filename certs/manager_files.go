package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// fileCert is the certificate of ModeFiles with the state of the files it
// was read from.
type fileCert struct {
	cert      *tls.Certificate
	certStamp fileStamp
	keyStamp  fileStamp
}

// fileStamp identifies a version of a file well enough to notice that an
// operator (or certbot, or a deployment) replaced it.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// loadFileCert reads and checks a certificate and its key.
func loadFileCert(certFile, keyFile string) (*fileCert, error) {
	cs, err := stamp(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate file: %w", err)
	}
	ks, err := stamp(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: key file: %w", err)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: load %s and %s: %w", certFile, keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: parse %s: %w", certFile, err)
		}
	}
	return &fileCert{cert: &c, certStamp: cs, keyStamp: ks}, nil
}

// fileCertificate serves the certificate of ModeFiles for every server
// name: the operator chose it, and a client that asked for a name it does
// not cover sees the mismatch in its browser.
func (m *Manager) fileCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	fc := m.file.Load()
	if fc == nil {
		return nil, errors.New("certs: no certificate loaded")
	}
	return fc.cert, nil
}

// watchFiles reloads the certificate when its files change, until ctx
// ends. A change that does not load (the certificate written before its
// key) is logged and retried at the next check; the old certificate is
// served meanwhile.
func (m *Manager) watchFiles(ctx context.Context) {
	t := time.NewTicker(m.opts.filesPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.reloadFiles()
		}
	}
}

// reloadFiles loads the files again if they changed since the last load.
func (m *Manager) reloadFiles() {
	old := m.file.Load()
	cs, err1 := stamp(m.cfg.CertFile)
	ks, err2 := stamp(m.cfg.KeyFile)
	if err := errors.Join(err1, err2); err != nil {
		m.log.Error("certificate files unreadable; serving the loaded certificate", "err", err)
		return
	}
	if old != nil && cs == old.certStamp && ks == old.keyStamp {
		return
	}
	fc, err := loadFileCert(m.cfg.CertFile, m.cfg.KeyFile)
	if err != nil {
		m.log.Error("certificate files changed but do not load; serving the loaded certificate", "err", err)
		return
	}
	m.file.Store(fc)
	m.log.Info("certificate reloaded from files", "file", m.cfg.CertFile,
		"names", fc.cert.Leaf.DNSNames, "not_after", fc.cert.Leaf.NotAfter)
}
