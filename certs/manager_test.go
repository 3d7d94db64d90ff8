package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestHTTPHandlerFromStorage checks that a node answers an HTTP-01
// challenge it did not start, from the challenge another node put in the
// replicated storage. (In TestPebble both managers share one process,
// where certmagic also keeps the challenge in memory; this test takes the
// storage path alone.)
func TestHTTPHandlerFromStorage(t *testing.T) {
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[1]
	cfg := Config{
		Mode:   ModeACME,
		ACME:   ACME{DirectoryURL: "https://acme.invalid/directory", HTTP01: true},
		Decide: func(context.Context, string) error { return nil },
	}
	b.serve(t, cfg, options{}, nil, nil)

	const name = "servizi.comune.stored.it"
	chal := acme.Challenge{
		Type:             acme.ChallengeTypeHTTP01,
		Token:            "tok3n-only-in-storage",
		KeyAuthorization: "tok3n-only-in-storage.thumbprint",
		Identifier:       acme.Identifier{Type: "dns", Value: name},
	}
	raw, err := json.Marshal(chal)
	if err != nil {
		t.Fatal(err)
	}
	// Where certmagic's distributed solver keeps it, stored by node A.
	key := "acme/" + certmagic.StorageKeys.Safe(b.mgr.issuer) + "/challenge_tokens/" + name + ".json"
	if err := a.storage.Store(ctx, key, raw); err != nil {
		t.Fatalf("store challenge on node A: %v", err)
	}
	h := b.mgr.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "next", http.StatusTeapot)
	}))
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://"+name+"/.well-known/acme-challenge/"+chal.Token, nil)
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK && rec.Body.String() == chal.KeyAuthorization {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B answered %d %q, want 200 %q", rec.Code, rec.Body, chal.KeyAuthorization)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Not a challenge, or a challenge for another host: passed to next.
	for _, target := range []string{"http://" + name + "/gestione", "http://other.example.it/.well-known/acme-challenge/" + chal.Token} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusTeapot {
			t.Errorf("GET %s: got %d, want it passed to next", target, rec.Code)
		}
	}
}

// TestInternalMode issues certificates from the cluster's internal CA: a
// Comune's host gets one on its first handshake, 90 days, ECDSA, signed by
// the root every node exports; another node serves the same certificate;
// unknown names get none.
func TestInternalMode(t *testing.T) {
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[2]
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "monopoli", Name: "Comune di Monopoli", ISTAT: "072030",
		Domains: []string{"servizi.comune.monopoli.ba.it"},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	for _, n := range []*testNode{a, b} {
		n.serve(t, Config{Mode: ModeInternal, Decide: NewDecider(n.reg.Resolve, time.Minute).Decide,
			Managed: func(context.Context) ([]string, error) { return []string{"monopoli.sportello.test"}, nil }}, options{}, nil, nil)
	}
	rootPEM, err := b.storage.InternalRootPEM(ctx)
	if err != nil {
		t.Fatalf("internal root: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("root is not PEM: %q", rootPEM)
	}

	for _, name := range []string{"servizi.comune.monopoli.ba.it", "monopoli.sportello.test"} {
		var serial string
		deadline := time.Now().Add(20 * time.Second)
		for {
			// The eager name may still be in the making on both nodes.
			serial, err = a.handshake(name, roots, 10*time.Second)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("handshake with %s on node A: %v", name, err)
		}
		got, err := b.handshake(name, roots, 10*time.Second)
		if err != nil || got != serial {
			t.Errorf("node C serves %s for %s (%v), want node A's %s", got, name, err, serial)
		}
		st, err := b.mgr.Status(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		life := st.NotAfter.Sub(st.NotBefore)
		if st.State != StateValid || life < 89*24*time.Hour || life > 91*24*time.Hour || !strings.Contains(st.Issuer, "Root CA") {
			t.Errorf("status of %s: got %+v (lifetime %v), want valid for 90 days from the internal root", name, st, life)
		}
	}
	conn, err := tls.Dial("tcp", a.tlsAddr, &tls.Config{ServerName: "servizi.comune.monopoli.ba.it", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("leaf key is %T, want ECDSA", leaf.PublicKey)
	}
	if _, err := a.handshake("scanner.example", roots, 10*time.Second); err == nil {
		t.Errorf("handshake with an unknown name succeeded, want it refused")
	}
	if a.mgr.HTTPHandler(http.NotFoundHandler()) == nil {
		t.Errorf("HTTPHandler is nil in mode internal")
	}
}

// TestEagerWithoutHandshake checks that Managed names get certificates
// with no handshake at all, including the host of a Comune created after
// Start.
func TestEagerWithoutHandshake(t *testing.T) {
	ctx := context.Background()
	nodes := certCluster(t)
	a := nodes[0]
	if _, err := a.reg.Create(ctx, tenant.Tenant{ID: "polignano", Name: "Comune di Polignano a Mare", ISTAT: "072035"}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	a.serve(t, Config{Mode: ModeInternal, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide, Managed: PrimaryHosts(a.reg)},
		options{managedRefresh: 200 * time.Millisecond}, nil, nil)
	waitStatus(t, a.mgr, "polignano.sportello.test", StateValid)
	if _, err := a.reg.Create(ctx, tenant.Tenant{ID: "conversano", Name: "Comune di Conversano", ISTAT: "072019"}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	waitStatus(t, a.mgr, "conversano.sportello.test", StateValid)
}

// TestInternalIssuer checks the leaf the internal CA signs.
func TestInternalIssuer(t *testing.T) {
	ctx := context.Background()
	nodes := certCluster(t)
	iss := &internalIssuer{storage: nodes[0].storage}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"bari.sportello.test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	ic, err := iss.Issue(ctx, csr)
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	blk, _ := pem.Decode(ic.Certificate)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ca, _, err := nodes[1].storage.InternalCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf not signed by the internal CA: %v", err)
	}
	if leaf.IsCA || len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("leaf usage: IsCA %v, ExtKeyUsage %v; want a server certificate", leaf.IsCA, leaf.ExtKeyUsage)
	}
	// A request with an IP address is refused.
	csrDER, _ = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		DNSNames: []string{"bari.sportello.test"}, IPAddresses: []net.IP{{192, 0, 2, 1}},
	}, key)
	csr, _ = x509.ParseCertificateRequest(csrDER)
	if _, err := iss.Issue(ctx, csr); err == nil {
		t.Errorf("issue with an IP address: got nil error")
	}
}

// selfSigned writes a certificate for names and its key to dir.
func selfSigned(t *testing.T, dir string, serial int64, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "Comune di Bari test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		DNSNames:     names,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestFilesMode serves one certificate for every name and reloads it when
// its files change.
func TestFilesMode(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir, 1, "servizi.comune.bari.it")
	m, err := newManager(Config{Mode: ModeFiles, CertFile: certFile, KeyFile: keyFile}, options{filesPoll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = m.TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	serialOf := func(name string) string {
		t.Helper()
		conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("handshake with %s: %v", name, err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	for _, name := range []string{"servizi.comune.bari.it", "anything.example"} {
		if got := serialOf(name); got != "1" {
			t.Errorf("serial for %s: got %s, want 1", name, got)
		}
	}
	// Unchanged files are not read again; replaced files are.
	m.reloadFiles()
	time.Sleep(10 * time.Millisecond) // a distinct modification time
	selfSigned(t, dir, 2, "servizi.comune.bari.it")
	m.reloadFiles()
	if got := serialOf("servizi.comune.bari.it"); got != "2" {
		t.Errorf("serial after the files changed: got %s, want 2", got)
	}
	// A key that does not load keeps the old certificate.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.reloadFiles()
	if got := serialOf("servizi.comune.bari.it"); got != "2" {
		t.Errorf("serial after a broken key: got %s, want 2", got)
	}
	st, err := m.Status(context.Background(), "servizi.comune.bari.it")
	if err != nil || st.State != StateValid || st.Issuer != "Comune di Bari test" {
		t.Errorf("status: got %+v, %v; want valid", st, err)
	}
	if st, err := m.Status(context.Background(), "other.example.it"); err != nil || st.State != StateFailed || st.LastError == "" {
		t.Errorf("status of a name the file does not cover: got %+v, %v; want failed", st, err)
	}
	// Files that do not load stop the node at start.
	if _, err := NewManager(Config{Mode: ModeFiles, CertFile: certFile, KeyFile: keyFile}); err == nil {
		t.Errorf("NewManager with a broken key: got nil error")
	}
}

// TestConfigErrors checks that a wrong configuration stops the node at
// start with a clear error, and that mode off gives nothing to serve.
func TestConfigErrors(t *testing.T) {
	st := &Storage{}
	decide := func(context.Context, string) error { return nil }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown mode", Config{Mode: "letsencrypt"}, "unknown mode"},
		{"files without files", Config{Mode: ModeFiles}, "cert_file"},
		{"acme without storage", Config{Mode: ModeACME, Decide: decide, ACME: ACME{HTTP01: true}}, "storage"},
		{"acme without decision", Config{Mode: ModeACME, Storage: st, ACME: ACME{HTTP01: true}}, "decision"},
		{"acme without challenge", Config{Mode: ModeACME, Storage: st, Decide: decide}, "challenge"},
		{"half an EAB", Config{Mode: ModeACME, Storage: st, Decide: decide, ACME: ACME{HTTP01: true, EABKeyID: "kid"}}, "external account"},
		{"missing roots file", Config{Mode: ModeACME, Storage: st, Decide: decide, ACME: ACME{HTTP01: true, CARootsFile: "/nonexistent.pem"}}, "roots"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewManager(tc.cfg)
			if err == nil {
				m.Close()
				t.Fatalf("got nil error, want one about %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to mention %q", err, tc.want)
			}
		})
	}
	m, err := NewManager(Config{Mode: ModeOff})
	if err != nil {
		t.Fatal(err)
	}
	if m.TLSConfig() != nil {
		t.Errorf("mode off: TLSConfig is not nil")
	}
	next := http.NotFoundHandler()
	if h := m.HTTPHandler(next); h == nil {
		t.Errorf("mode off: HTTPHandler is nil")
	}
	if err := m.Start(context.Background()); err != nil {
		t.Errorf("mode off: Start: %v", err)
	}
}

// TestStatusFailed checks that a failed attempt is logged in one clear
// line and shown by every node's Status.
func TestStatusFailed(t *testing.T) {
	ctx := context.Background()
	nodes := certCluster(t)
	var logBuf pebbletest.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := Config{
		Mode:   ModeACME,
		ACME:   ACME{DirectoryURL: "https://acme.example.it/directory", HTTP01: true},
		Decide: func(context.Context, string) error { return nil },
		Logger: logger,
	}
	nodes[0].serve(t, cfg, options{}, nil, nil)
	cfg.Logger = nil
	nodes[1].serve(t, cfg, options{}, nil, nil)

	const name = "servizi.comune.bari.it"
	if st, err := nodes[1].mgr.Status(ctx, name); err != nil || st.State != StateNone {
		t.Fatalf("status before any attempt: got %+v, %v; want none", st, err)
	}
	m := nodes[0].mgr
	_ = m.onEvent(ctx, "cert_obtaining", map[string]any{"identifier": name})
	if st := waitStatus(t, nodes[1].mgr, name, StatePending); st.LastAttempt.IsZero() {
		t.Errorf("pending status without an attempt time: %+v", st)
	}
	cause := errors.New(`HTTP 403 urn:ietf:params:acme:error:unauthorized - Invalid response from http://servizi.comune.bari.it/.well-known/acme-challenge/x: 404`)
	_ = m.onEvent(ctx, "cert_failed", map[string]any{"identifier": name, "renewal": false, "error": cause})
	st := waitStatus(t, nodes[1].mgr, name, StateFailed)
	if st.LastError != cause.Error() || st.Issuer != "acme.example.it-directory" || st.LastAttempt.IsZero() {
		t.Errorf("failed status: got %+v", st)
	}
	line := logBuf.String()
	for _, want := range []string{"level=ERROR", `msg="certificate not obtained"`, "name=" + name, "issuer=acme.example.it-directory", "unauthorized", "next_attempt="} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
	// Status refuses names no certificate can be issued for.
	if _, err := m.Status(ctx, "192.0.2.1"); !errors.Is(err, ErrRefused) {
		t.Errorf("status of an IP address: got %v, want ErrRefused", err)
	}
}

func waitStatus(t *testing.T, m *Manager, name, state string) CertStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := m.Status(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: got %+v, want %s", name, st, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestZapBridge checks that certmagic's log lines reach slog readable:
// warnings and errors at their level with their fields, info lines as
// debug.
func TestZapBridge(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	zl := zapLogger(h).Named("obtain").With(zap.String("identifier", "bari.sportello.test"))
	zl.Info("acquiring lock")
	zl.Error("could not get certificate from issuer", zap.Error(errors.New("boom")))
	out := buf.String()
	if strings.Contains(out, "acquiring lock") {
		t.Errorf("info line reached an info-level log: %q", out)
	}
	for _, want := range []string{"level=ERROR", `msg="could not get certificate from issuer"`, "certmagic=obtain", "identifier=bari.sportello.test", "error=boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
}

func TestServerErrorLog(t *testing.T) {
	var buf bytes.Buffer
	l := ServerErrorLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("http: TLS handshake error from 192.0.2.7:51000: certificate is not allowed for server name scanner.example")
	l.Printf("http: Accept error: too many open files; retrying in 5ms")
	out := buf.String()
	if strings.Contains(out, "scanner.example") {
		t.Errorf("handshake error reached an info-level log: %q", out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "too many open files") {
		t.Errorf("accept error missing from the log: %q", out)
	}
}
