package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	other := newCA(t, "bari") // same cluster name, another CA: an impostor cluster
	now := time.Now()
	n1 := issue(t, ca, "node1", now, 24*time.Hour)
	n2 := issue(t, ca, "node2", now, 24*time.Hour)
	foreign := issue(t, other, "node2", now, 24*time.Hour)
	expired := issue(t, ca, "node2", now.Add(-48*time.Hour), time.Hour)

	noCert := pki.ClientConfig(ca.Pool(), n2.Certificate, "")
	noCert.Certificates = nil
	revoke := func(id string, _ *x509.Certificate) error {
		if id == "node2" {
			return fmt.Errorf("node %s was removed", id)
		}
		return nil
	}

	tests := []struct {
		name          string
		server        *tls.Config
		client        *tls.Config
		wantOK        bool
		wantClientErr error // matched with errors.Is when set
	}{
		{name: "node to node", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, ""), wantOK: true},
		{name: "client expects the server's node ID", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, "node1"), wantOK: true},
		{name: "client expects another node ID", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, "node3"), wantClientErr: pki.ErrWrongNode},
		{name: "client without certificate", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: noCert},
		{name: "client certificate from another CA", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), foreign.Certificate, "")},
		{name: "expired client certificate", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), expired.Certificate, "")},
		{name: "server certificate from another CA", server: pki.ServerConfig(ca.Pool(), foreign.Certificate),
			client: pki.ClientConfig(ca.Pool(), n1.Certificate, ""), wantClientErr: pki.ErrUntrustedPeer},
		{name: "expired server certificate", server: pki.ServerConfig(ca.Pool(), expired.Certificate),
			client: pki.ClientConfig(ca.Pool(), n1.Certificate, ""), wantClientErr: pki.ErrUntrustedPeer},
		{name: "client with nil CA pool trusts nobody", server: pki.ServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(nil, n2.Certificate, ""), wantClientErr: pki.ErrUntrustedPeer},
		{name: "server with nil CA pool trusts nobody", server: pki.ServerConfig(nil, n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, "")},
		{name: "server refuses a removed node", server: pki.WithPeerCheck(pki.ServerConfig(ca.Pool(), n1.Certificate), revoke),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, "")},
		{name: "client refuses a removed node", server: pki.ServerConfig(ca.Pool(), n2.Certificate),
			client: pki.WithPeerCheck(pki.ClientConfig(ca.Pool(), n1.Certificate, ""), revoke)},
		{name: "peer check lets other nodes through", server: pki.WithPeerCheck(pki.ServerConfig(ca.Pool(), n2.Certificate), revoke),
			client: pki.ClientConfig(ca.Pool(), n1.Certificate, ""), wantOK: true},
		{name: "join listener serves a node", server: pki.JoinServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), n2.Certificate, "node1"), wantOK: true},
		{name: "join listener refuses a foreign certificate", server: pki.JoinServerConfig(ca.Pool(), n1.Certificate),
			client: pki.ClientConfig(ca.Pool(), foreign.Certificate, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := handshake(t, tt.server, tt.client)
			if !tt.wantOK {
				t.Logf("refused: server error %v; client error %v", o.serverErr, o.clientErr)
				if o.clientErr == nil {
					t.Fatalf("client: got no error, want the connection refused (server: %v)", o.serverErr)
				}
				if tt.wantClientErr != nil && !errors.Is(o.clientErr, tt.wantClientErr) {
					t.Errorf("client error: got %v, want %v", o.clientErr, tt.wantClientErr)
				}
				if tt.wantClientErr == nil && o.serverErr == nil {
					t.Errorf("server: got no error, want the client refused")
				}
				return
			}
			if o.serverErr != nil || o.clientErr != nil {
				t.Fatalf("got server error %v, client error %v; want none", o.serverErr, o.clientErr)
			}
			serverCert, _ := pki.NodeIDOf(tt.server.Certificates[0].Leaf)
			clientCert, _ := pki.NodeIDOf(tt.client.Certificates[0].Leaf)
			if o.serverSaw != clientCert {
				t.Errorf("server saw node %q, want %q", o.serverSaw, clientCert)
			}
			if o.clientSaw != serverCert {
				t.Errorf("client saw node %q, want %q", o.clientSaw, serverCert)
			}
		})
	}
}

func TestPinnedConfig(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	other := newCA(t, "bari")
	now := time.Now()
	n1 := issue(t, ca, "node1", now, 24*time.Hour)
	foreign := issue(t, other, "node1", now, 24*time.Hour)

	leafOnly := n1.Certificate
	leafOnly.Certificate = leafOnly.Certificate[:1]
	// An impostor sends the genuine CA certificate (it is public) after a
	// certificate its own CA signed.
	impostor := foreign.Certificate
	impostor.Certificate = [][]byte{foreign.Certificate.Certificate[0], ca.Certificate().Raw}

	tests := []struct {
		name    string
		cert    tls.Certificate
		pin     string
		wantErr error
	}{
		{name: "right fingerprint", cert: n1.Certificate, pin: ca.Fingerprint()},
		{name: "fingerprint in upper case", cert: n1.Certificate, pin: " " + upper(ca.Fingerprint()) + "\n"},
		{name: "wrong fingerprint", cert: n1.Certificate, pin: other.Fingerprint(), wantErr: pki.ErrFingerprintMismatch},
		{name: "server sends no CA", cert: leafOnly, pin: ca.Fingerprint(), wantErr: pki.ErrFingerprintMismatch},
		{name: "impostor with the genuine CA attached", cert: impostor, pin: ca.Fingerprint(), wantErr: pki.ErrUntrustedPeer},
		{name: "malformed fingerprint", cert: n1.Certificate, pin: "abc", wantErr: pki.ErrInvalidFingerprint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := handshake(t, pki.JoinServerConfig(ca.Pool(), tt.cert), pki.PinnedConfig(tt.pin))
			if tt.wantErr != nil {
				t.Logf("refused: client error %v", o.clientErr)
				if !errors.Is(o.clientErr, tt.wantErr) {
					t.Fatalf("client error: got %v, want %v", o.clientErr, tt.wantErr)
				}
				return
			}
			if o.serverErr != nil || o.clientErr != nil {
				t.Fatalf("got server error %v, client error %v; want none", o.serverErr, o.clientErr)
			}
			if o.clientSaw != "node1" || o.serverSaw != "" {
				t.Errorf("client saw %q, server saw %q; want node1 and no node", o.clientSaw, o.serverSaw)
			}
		})
	}
}

func TestPinnedCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	n1 := issue(t, ca, "node1", t0, time.Hour)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{n1.Certificate.Leaf, ca.Certificate()}}
	got, err := pki.PinnedCA(cs, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(ca.Certificate()) {
		t.Errorf("got CA %q, want %q", got.Subject.CommonName, ca.Certificate().Subject.CommonName)
	}
	// The leaf itself never counts as the pinned CA.
	if _, err := pki.PinnedCA(cs, pki.FingerprintOf(n1.Certificate.Leaf)); !errors.Is(err, pki.ErrFingerprintMismatch) {
		t.Errorf("pinning the leaf: got %v, want %v", err, pki.ErrFingerprintMismatch)
	}
	if _, err := pki.PinnedCA(tls.ConnectionState{}, ca.Fingerprint()); !errors.Is(err, pki.ErrNoPeerCertificate) {
		t.Errorf("no certificates: got %v, want %v", err, pki.ErrNoPeerCertificate)
	}
}

func TestConfigsAreTLS13Only(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "bari")
	n1 := issue(t, ca, "node1", time.Now(), time.Hour)
	for name, cfg := range map[string]*tls.Config{
		"server": pki.ServerConfig(ca.Pool(), n1.Certificate),
		"join":   pki.JoinServerConfig(ca.Pool(), n1.Certificate),
		"client": pki.ClientConfig(ca.Pool(), n1.Certificate, ""),
		"pinned": pki.PinnedConfig(ca.Fingerprint()),
	} {
		if cfg.MinVersion != tls.VersionTLS13 {
			t.Errorf("%s: MinVersion %#x, want TLS 1.3", name, cfg.MinVersion)
		}
	}
	// A client that offers at most TLS 1.2 is refused.
	old := pki.ClientConfig(ca.Pool(), n1.Certificate, "")
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	if o := handshake(t, pki.ServerConfig(ca.Pool(), n1.Certificate), old); o.clientErr == nil || o.serverErr == nil {
		t.Errorf("TLS 1.2 client: got server error %v, client error %v; want both refused", o.serverErr, o.clientErr)
	}
}
