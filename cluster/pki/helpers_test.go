package pki_test

import (
	"crypto"
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

// t0 is the fixed "now" of tests that do not depend on the real clock.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newCA(t *testing.T, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, time.Now())
	if err != nil {
		t.Fatalf("NewCA(%q): %v", name, err)
	}
	return ca
}

// issue makes a node key, a CSR and a certificate signed by ca at now for
// validity, and returns the parsed identity.
func issue(t *testing.T, ca *pki.CA, nodeID string, now time.Time, validity time.Duration) *pki.Identity {
	t.Helper()
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.SignNode(csr, nodeID, []string{"127.0.0.1"}, now, validity)
	if err != nil {
		t.Fatalf("SignNode(%s): %v", nodeID, err)
	}
	keyPEM, err := pki.MarshalKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.ParseIdentity(certPEM, keyPEM, ca.CertPEM())
	if err != nil {
		t.Fatalf("ParseIdentity(%s): %v", nodeID, err)
	}
	return id
}

// outcome is what each side of a handshake saw.
type outcome struct {
	serverErr error  // handshake error on the server
	clientErr error  // handshake or first-read error on the client
	serverSaw string // PeerNodeID on the server ("" if none)
	clientSaw string // PeerNodeID on the client
}

// handshake runs one TLS connection over a 127.0.0.1:0 listener. The server
// writes "ok" after its handshake and the client reads it, because in TLS
// 1.3 the client finishes its handshake before the server has checked the
// client certificate: a refusal shows on the client's first read.
func handshake(t *testing.T, server, client *tls.Config) outcome {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	deadline := time.Now().Add(10 * time.Second)

	var o outcome
	done := make(chan struct{})
	go func() { // ends when the client closes its connection
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			o.serverErr = err
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		tc := tls.Server(c, server)
		if err := tc.Handshake(); err != nil {
			o.serverErr = err
			return
		}
		o.serverSaw, _ = pki.PeerNodeID(tc.ConnectionState())
		if _, err := tc.Write([]byte("ok")); err != nil {
			o.serverErr = err
			return
		}
		io.Copy(io.Discard, tc)
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(deadline)
	tc := tls.Client(c, client)
	err = tc.Handshake()
	if err == nil {
		o.clientSaw, _ = pki.PeerNodeID(tc.ConnectionState())
		var buf [2]byte
		_, err = io.ReadFull(tc, buf[:])
	}
	o.clientErr = err
	c.Close()
	<-done
	return o
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func samePub(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func subject(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
