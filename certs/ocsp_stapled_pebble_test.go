package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// ocspResponder is a real OCSP responder for pebble's certificates: it
// signs its answers with pebble's intermediate key (read from pebble's
// management interface), "good" for every serial but those revoked.
type ocspResponder struct {
	mu       sync.Mutex
	issuer   *x509.Certificate
	key      crypto.Signer
	revoked  map[string]bool // serial, hex
	validity time.Duration   // NextUpdate - ThisUpdate of the answers
	asked    atomic.Int64
}

func (o *ocspResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.asked.Add(1)
	var raw []byte
	var err error
	if r.Method == http.MethodPost {
		raw, err = io.ReadAll(r.Body)
	} else {
		var p string
		if p, err = url.PathUnescape(strings.TrimPrefix(r.URL.Path, "/")); err == nil {
			raw, err = base64.StdEncoding.DecodeString(p)
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := ocsp.ParseRequest(raw)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	issuer, key, revoked, validity := o.issuer, o.key, o.revoked[req.SerialNumber.Text(16)], o.validity
	o.mu.Unlock()
	if issuer == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	now := time.Now().Truncate(time.Second)
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(validity)}
	if revoked {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, now.Add(-time.Minute), ocsp.KeyCompromise
	}
	b, err := ocsp.CreateResponse(issuer, issuer, tmpl, key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(b)
}

// TestPebbleOCSPStapled runs the Manager against pebble with a real OCSP
// responder for pebble's intermediate: the first handshake for a Comune's
// own domain on node A carries a "good" staple for the certificate served;
// node B serves the same certificate with the staple node A stored, without
// asking the responder; when the responder starts answering "revoked", the
// next handshake after the staple's refresh time finds out and node A
// replaces the certificate with a new one (one new order), stapled "good".
func TestPebbleOCSPStapled(t *testing.T) {
	pebbletest.Need(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[1]
	const domain = "servizi.comune.bari.it"
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006", Domains: []string{domain},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}

	// Staples valid 20 s: certmagic refreshes one after half of that, so
	// a revocation shows within about 10 s.
	resp := &ocspResponder{revoked: map[string]bool{}, validity: 20 * time.Second}
	ocspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ocspSrv := &http.Server{Handler: resp}
	go func() { _ = ocspSrv.Serve(ocspLn) }()
	t.Cleanup(func() { _ = ocspSrv.Close() })

	aHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aPort := aHTTP.Addr().(*net.TCPAddr).Port
	// pebble's default lifetime (five years): staples must expire before
	// the certificate, and certmagic staples only certificates of a week
	// or more.
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: aPort, OCSPURL: "http://" + ocspLn.Addr().String() + "/"})
	interPEM, err := pb.Mgmt("/intermediates/0")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pb.Mgmt("/intermediate-keys/0")
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(interPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatalf("pebble's intermediate: %q %q", interPEM, keyPEM)
	}
	inter, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var key crypto.Signer
	if k, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err == nil {
		key, _ = k.(crypto.Signer)
	} else if k, err := x509.ParsePKCS1PrivateKey(kb.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(kb.Bytes); err == nil {
		key = k
	}
	if key == nil {
		t.Fatalf("pebble's intermediate key (%s) does not parse", kb.Type)
	}
	resp.mu.Lock()
	resp.issuer, resp.key = inter, key
	resp.mu.Unlock()

	acmeCfg := ACME{DirectoryURL: pb.Directory, CARootsFile: pb.RootsFile, HTTP01: true, AltHTTPPort: aPort}
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, options{}, aHTTP, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, options{}, nil, nil)

	// stapled handshakes with tn and returns the leaf served and the
	// staple's status (-1 for no staple).
	stapled := func(tn *testNode) (*x509.Certificate, int, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 90 * time.Second}, "tcp", tn.tlsAddr,
			&tls.Config{ServerName: domain, RootCAs: pb.Issued, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return nil, 0, err
		}
		defer conn.Close()
		cs := conn.ConnectionState()
		leaf := cs.PeerCertificates[0]
		if len(cs.OCSPResponse) == 0 {
			return leaf, -1, nil
		}
		r, err := ocsp.ParseResponseForCert(cs.OCSPResponse, leaf, inter)
		if err != nil {
			return leaf, 0, err
		}
		return leaf, r.Status, nil
	}

	leaf, status, err := stapled(a)
	if err != nil {
		t.Fatalf("handshake on node A: %v", err)
	}
	if err := leaf.CheckSignatureFrom(inter); err != nil {
		t.Fatalf("the leaf is not signed by pebble's intermediate /intermediates/0: %v", err)
	}
	if status != ocsp.Good {
		t.Fatalf("node A's staple: status %d, want good (%d)", status, ocsp.Good)
	}
	if got := resp.asked.Load(); got < 1 {
		t.Errorf("the responder was asked %d times", got)
	}
	// Node B has applied node A's writes (normally within a heartbeat;
	// here waited for, so that the test does not race the log).
	waitUntil := time.Now().Add(10 * time.Second)
	for {
		keys, err := b.storage.List(ctx, "ocsp", false)
		if err == nil && len(keys) > 0 {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("node B's storage has no OCSP staple: %v %v", keys, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	asked := resp.asked.Load()
	leafB, statusB, err := stapled(b)
	if err != nil || statusB != ocsp.Good || !bytes.Equal(leafB.Raw, leaf.Raw) {
		t.Fatalf("node B: status %d (%v), same certificate %v; want node A's certificate stapled good", statusB, err, leafB != nil && bytes.Equal(leafB.Raw, leaf.Raw))
	}
	if got := resp.asked.Load() - asked; got != 0 {
		t.Errorf("node B asked the responder %d times, want 0 (the staple is in the replicated storage)", got)
	}

	// The CA revokes the certificate.
	resp.mu.Lock()
	resp.revoked[leaf.SerialNumber.Text(16)] = true
	resp.mu.Unlock()
	before := pb.Orders()
	revokedAt := time.Now()
	deadline := revokedAt.Add(60 * time.Second)
	for {
		l, st, err := stapled(a)
		if err == nil && l.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			if st != ocsp.Good {
				t.Errorf("the new certificate's staple: status %d, want good", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node A still serves the revoked certificate (%v) %v after the revocation", err, time.Since(revokedAt).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("node A replaced the revoked certificate %v after the revocation", time.Since(revokedAt).Round(100*time.Millisecond))
	if got := pb.Orders() - before; got != 1 {
		t.Errorf("orders after the revocation: %d, want 1", got)
	}

	// Node B finds out when its own copy of the staple is due for a
	// refresh, and also stops serving the revoked certificate. certmagic
	// forces that renewal without looking at storage first, so node B may
	// order a replacement of its own: measured, not asserted, and
	// described in DESIGN.md (a revocation is rare; renewals on expiry
	// are once per cluster).
	deadline = time.Now().Add(60 * time.Second)
	for {
		l, st, err := stapled(b)
		if err == nil && l.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			if st != ocsp.Good {
				t.Errorf("node B's new certificate's staple: status %d, want good", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still serves the revoked certificate (%v) %v after the revocation", err, time.Since(revokedAt).Round(time.Second))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("node B replaced the revoked certificate %v after the revocation; orders since: %d",
		time.Since(revokedAt).Round(100*time.Millisecond), pb.Orders()-before)
}
