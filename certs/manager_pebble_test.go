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
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// pebble is a real ACME server (letsencrypt/pebble, the Debian package)
// started for one test, with pebble-challtestsrv as its DNS server so that
// every name resolves to 127.0.0.1.
type pebble struct {
	directory string         // ACME directory URL
	rootsFile string         // PEM that the ACME client trusts for the directory's HTTPS
	issued    *x509.CertPool // pebble's root, which signs the issued certificates
	out       *lockedBuffer  // pebble's log
	// mgmt reads a path of pebble's management interface ("/roots/0",
	// "/intermediates/0", "/intermediate-keys/0").
	mgmt func(path string) ([]byte, error)
}

// lockedBuffer collects a process's output for the test to read.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// orders counts the orders pebble created: it logs each one.
func (p *pebble) orders() int { return strings.Count(p.out.String(), "Added order") }

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// needPebble skips the test when pebble is not installed, unless
// SPORTELLO_REQUIRE_PEBBLE=1 (CI), where it fails.
func needPebble(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("SPORTELLO_REQUIRE_PEBBLE") == "1" {
				t.Fatalf("%s not found and SPORTELLO_REQUIRE_PEBBLE=1: %v", bin, err)
			}
			t.Skipf("%s not installed: %v", bin, err)
		}
	}
}

// startProcess runs a command until the test ends.
func startProcess(t *testing.T, out io.Writer, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

// startPebble starts pebble validating HTTP-01 challenges on httpPort and
// TLS-ALPN-01 challenges on tlsPort of 127.0.0.1 (0: a port nobody
// serves). validity, when not zero, is the lifetime of the certificates
// it issues.
func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration) *pebble {
	t.Helper()
	return startPebbleDNS(t, httpPort, tlsPort, validity, "")
}

// startPebbleDNS is startPebble with dnsAddr ("host:port") as pebble's DNS
// server; empty: a pebble-challtestsrv answering 127.0.0.1 for every name.
func startPebbleDNS(t *testing.T, httpPort, tlsPort int, validity time.Duration, dnsAddr string) *pebble {
	t.Helper()
	return startPebbleWith(t, httpPort, tlsPort, validity, dnsAddr, pebbleOptions{})
}

// pebbleOptions are the settings of pebble only some tests change
// (eab_pebble_test.go; added by K5 as one more parameter, so the callers
// above stay as they were).
type pebbleOptions struct {
	// eabKeys, when not empty, makes External Account Binding required:
	// pebble refuses to create an account whose binding is not signed by
	// one of these keys (key ID to base64url HMAC key).
	eabKeys map[string]string
	// ocspURL is the OCSP responder pebble writes into the certificates it
	// issues (pebble runs none itself); empty: none.
	ocspURL string
}

// startPebbleWith is startPebbleDNS with the settings of opts.
func startPebbleWith(t *testing.T, httpPort, tlsPort int, validity time.Duration, dnsAddr string, opts pebbleOptions) *pebble {
	t.Helper()
	needPebble(t)
	eabKeys := opts.eabKeys
	dir := t.TempDir()

	// pebble's own HTTPS certificate, self-signed for 127.0.0.1.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pebble test directory"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	dirRoots := x509.NewCertPool()
	dirRoots.AppendCertsFromPEM(certPEM)

	// DNS, unless the test brings its own server: every name is 127.0.0.1;
	// no AAAA answers, no challenge servers.
	chall := &lockedBuffer{}
	if dnsAddr == "" {
		dnsAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		startProcess(t, chall, nil, "pebble-challtestsrv",
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
			"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}

	acmeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mgmtAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  acmeAddr,
		"managementListenAddress":        mgmtAddr,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               opts.ocspURL,
		"externalAccountBindingRequired": len(eabKeys) > 0,
		"certificateValidityPeriod":      int(validity / time.Second),
	}}
	if len(eabKeys) > 0 {
		conf["pebble"].(map[string]any)["externalAccountMACKeys"] = eabKeys
	}
	if tlsPort == 0 {
		conf["pebble"].(map[string]any)["tlsPort"] = freePort(t)
	}
	if httpPort == 0 {
		conf["pebble"].(map[string]any)["httpPort"] = freePort(t)
	}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebble{
		directory: "https://" + acmeAddr + "/dir",
		rootsFile: certFile,
		out:       &lockedBuffer{},
	}
	startProcess(t, p.out, []string{
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0",
		"PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=100",
	}, "pebble", "-config", confFile, "-dnsserver", dnsAddr)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s\nchalltestsrv log:\n%s", p.out, chall)
		}
	})

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: dirRoots}}}
	t.Cleanup(client.CloseIdleConnections)
	deadline := time.Now().Add(30 * time.Second)
	var root []byte
	for {
		root, err = get(client, "https://"+mgmtAddr+"/roots/0")
		if err == nil {
			_, err = get(client, p.directory)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v\n%s", err, p.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.mgmt = func(path string) ([]byte, error) { return get(client, "https://"+mgmtAddr+path) }
	p.issued = x509.NewCertPool()
	if !p.issued.AppendCertsFromPEM(root) {
		t.Fatalf("pebble root is not PEM: %q", root)
	}
	return p
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// testNode is one node of the test cluster with its certificate manager,
// serving TLS and HTTP as :443 and :80 would.
type testNode struct {
	node    *cluster.Node
	reg     *tenant.Registry
	storage *Storage
	mgr     *Manager
	tlsAddr string
	// challenges counts the ACME HTTP-01 requests the node's :80 got.
	challenges atomic.Int64
}

// certCluster starts a three-node cluster with the certs and tenant
// components; the nodes share one secrets key, as a real cluster does.
func certCluster(t *testing.T) []*testNode {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, Register, tenant.Register)
	sec, err := auth.NewSecrets(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*testNode, len(nodes))
	for i, n := range nodes {
		out[i] = &testNode{
			node:    n,
			reg:     tenant.NewRegistry(n, n.DB(), "sportello.test"),
			storage: NewStorage(n, sec, nil),
		}
	}
	return out
}

// testLogger writes the manager's lines at level and above to the test
// output.
func testLogger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// serve starts tn's manager and its TLS and HTTP servers; httpLn and
// tlsLn are the listeners of its :80 and :443 (nil: fresh ports).
func (tn *testNode) serve(t *testing.T, cfg Config, opts options, httpLn, tlsLn net.Listener) {
	t.Helper()
	cfg.Storage = tn.storage
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t, slog.LevelWarn).With("node", tn.node.Config().NodeID)
	}
	m, err := newManager(cfg, opts)
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	t.Cleanup(m.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := m.Start(ctx); err != nil {
		t.Fatalf("start manager: %v", err)
	}
	tn.mgr = m

	if httpLn == nil {
		if httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	notFound := http.NotFoundHandler()
	acme := m.HTTPHandler(notFound)
	httpSrv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			tn.challenges.Add(1)
		}
		acme.ServeHTTP(w, r)
	})}
	go func() { _ = httpSrv.Serve(httpLn) }()
	t.Cleanup(func() { _ = httpSrv.Close() })

	if tlsLn == nil {
		if tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	tn.tlsAddr = tlsLn.Addr().String()
	tlsLn = tls.NewListener(tlsLn, m.TLSConfig())
	tlsSrv := &http.Server{ErrorLog: log.New(t.Output(), tn.node.Config().NodeID+" :443 ", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = tlsSrv.Serve(tlsLn) }()
	t.Cleanup(func() { _ = tlsSrv.Close() })
}

// handshake connects to tn's TLS port asking for name, verifies the chain
// against roots and returns the serial of the certificate served.
func (tn *testNode) handshake(name string, roots *x509.CertPool, timeout time.Duration) (string, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", tn.tlsAddr, &tls.Config{
		ServerName: name,
		RootCAs:    roots,
		NextProtos: []string{"http/1.1"},
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// TestPebble runs the manager against a real ACME server: a Comune's own
// domain gets a certificate on its first handshake, with the HTTP-01
// challenge started by node A answered by node B; an unknown name gets
// nothing and costs no order; node B serves the certificate node A
// obtained, without a new order.
func TestPebble(t *testing.T) {
	needPebble(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[1]
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006",
		Domains: []string{"servizi.comune.bari.it"},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}

	// pebble validates HTTP-01 on node B's :80 only.
	bHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bPort := bHTTP.Addr().(*net.TCPAddr).Port
	pb := startPebble(t, bPort, 0, 0)
	acmeCfg := ACME{
		DirectoryURL: pb.directory,
		Email:        "tls@example.org",
		CARootsFile:  pb.rootsFile,
		HTTP01:       true,
		// certmagic's own solver would listen here; B's server has the
		// port, so the challenge is answered by B's HTTPHandler.
		AltHTTPPort: bPort,
	}
	opts := options{}
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, opts, nil, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, opts, bHTTP, nil)

	const domain = "servizi.comune.bari.it"
	var serial string
	t.Run("custom domain on first handshake", func(t *testing.T) {
		before := pb.orders()
		start := time.Now()
		serial, err = a.handshake(domain, pb.issued, 90*time.Second)
		if err != nil {
			t.Fatalf("handshake with %s on node A: %v", domain, err)
		}
		t.Logf("first handshake with on-demand issuance took %v", time.Since(start).Round(time.Millisecond))
		if got := pb.orders() - before; got != 1 {
			t.Errorf("orders: got %d, want 1", got)
		}
		if got := b.challenges.Load(); got < 1 {
			t.Errorf("node B answered %d challenges, want at least 1", got)
		}
		st, err := a.mgr.Status(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateValid || st.LastError != "" || st.NotAfter.IsZero() || !strings.Contains(st.Issuer, "Pebble") {
			t.Errorf("status on node A: got %+v, want valid from Pebble", st)
		}
	})
	if serial == "" {
		t.FailNow()
	}

	t.Run("unknown name gets nothing", func(t *testing.T) {
		before := pb.orders()
		for _, name := range []string{"scanner.example", "random-4f3a.scanner.example"} {
			if _, err := a.handshake(name, pb.issued, 30*time.Second); err == nil {
				t.Errorf("handshake with %s succeeded, want it refused", name)
			}
		}
		// An IP address instead of a name: no SNI at all.
		if _, err := a.handshake("", pb.issued, 30*time.Second); err == nil {
			t.Errorf("handshake without SNI succeeded, want it refused")
		}
		if got := pb.orders() - before; got != 0 {
			t.Errorf("orders for unknown names: got %d, want 0", got)
		}
		st, err := a.mgr.Status(ctx, "scanner.example")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateNone {
			t.Errorf("status of an unknown name: got %+v, want none", st)
		}
	})

	t.Run("node B serves the same certificate", func(t *testing.T) {
		before := pb.orders()
		got, err := b.handshake(domain, pb.issued, 30*time.Second)
		if err != nil {
			t.Fatalf("handshake with %s on node B: %v", domain, err)
		}
		if got != serial {
			t.Errorf("node B serves serial %s, want %s (node A's)", got, serial)
		}
		if n := pb.orders() - before; n != 0 {
			t.Errorf("orders: got %d, want 0", n)
		}
		st, err := nodes[2].storageStatus(ctx, t, domain)
		if err != nil {
			t.Fatal(err)
		}
		if st.Done != true || st.LastError != "" {
			t.Errorf("status record seen on node C: got %+v, want done without error", st)
		}
	})
}

// storageStatus reads the status record of name from tn's storage.
func (tn *testNode) storageStatus(ctx context.Context, t *testing.T, name string) (statusRecord, error) {
	t.Helper()
	var rec statusRecord
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b []byte
		b, err = tn.storage.Load(ctx, statusKey(name))
		if err == nil {
			err = json.Unmarshal(b, &rec)
			if err == nil && rec.Done {
				return rec, nil
			}
		}
		if time.Now().After(deadline) {
			return rec, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPebbleRenewal checks that a renewal happens once per cluster: two
// nodes manage the same base-domain host eagerly, the certificate (30 s
// lifetime, due at a third left) comes due on both at the same moment, and
// exactly one new order is made; both nodes then serve the new
// certificate.
func TestPebbleRenewal(t *testing.T) {
	needPebble(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[1]
	if _, err := a.reg.Create(ctx, tenant.Tenant{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	bHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bPort := bHTTP.Addr().(*net.TCPAddr).Port
	const lifetime = 30 * time.Second
	pb := startPebble(t, bPort, 0, lifetime)
	const host = "bari.sportello.test"
	managed := func(context.Context) ([]string, error) { return []string{host}, nil }
	acmeCfg := ACME{DirectoryURL: pb.directory, CARootsFile: pb.rootsFile, HTTP01: true, AltHTTPPort: bPort}
	opts := options{renewCheck: 500 * time.Millisecond}
	// Both nodes start managing at once: the certificate is obtained once.
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Managed: managed, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, opts, nil, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Managed: managed, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, opts, bHTTP, nil)

	// waitSerial polls both nodes until they serve the same certificate
	// other than old, and returns it.
	waitSerial := func(old string, within time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			sa, errA := a.handshake(host, pb.issued, 10*time.Second)
			sb, errB := b.handshake(host, pb.issued, 10*time.Second)
			if errA == nil && errB == nil && sa == sb && sa != old {
				return sa
			}
			if time.Now().After(deadline) {
				t.Fatalf("nodes serve %q (%v) and %q (%v), want the same certificate other than %q", sa, errA, sb, errB, old)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	first := waitSerial("", 20*time.Second)
	issuedAt := time.Now()
	if got := pb.orders(); got != 1 {
		t.Fatalf("orders after both nodes managed %s: got %d, want 1", host, got)
	}
	// Due after two thirds of the lifetime; both must have switched well
	// before the new certificate is due in turn.
	waitSerial(first, lifetime)
	t.Logf("renewed after %v", time.Since(issuedAt).Round(time.Millisecond))
	if got := pb.orders(); got != 2 {
		t.Errorf("orders after the renewal: got %d, want 2 (one renewal for the cluster)", got)
	}
	st, err := b.mgr.Status(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateValid || st.LastError != "" {
		t.Errorf("status on node B: got %+v, want valid", st)
	}
}

// TestPebbleTLSALPN obtains a certificate over the TLS-ALPN-01 challenge
// alone: pebble connects to node B's :443, which answers the challenge
// node A started.
func TestPebbleTLSALPN(t *testing.T) {
	needPebble(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a, b := nodes[0], nodes[1]
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "altamura", Name: "Comune di Altamura", ISTAT: "072004",
		Domains: []string{"servizi.comune.altamura.ba.it"},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	bTLS, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bPort := bTLS.Addr().(*net.TCPAddr).Port
	pb := startPebble(t, 0, bPort, 0)
	acmeCfg := ACME{DirectoryURL: pb.directory, CARootsFile: pb.rootsFile, TLSALPN01: true, AltTLSALPNPort: bPort}
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, options{}, nil, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, options{}, nil, bTLS)

	const domain = "servizi.comune.altamura.ba.it"
	serial, err := a.handshake(domain, pb.issued, 90*time.Second)
	if err != nil {
		t.Fatalf("handshake with %s on node A: %v", domain, err)
	}
	if got := pb.orders(); got != 1 {
		t.Errorf("orders: got %d, want 1", got)
	}
	if got := b.challenges.Load(); got != 0 {
		t.Errorf("node B's :80 got %d challenges, want none (TLS-ALPN-01 only)", got)
	}
	if got, err := b.handshake(domain, pb.issued, 30*time.Second); err != nil || got != serial {
		t.Errorf("node B serves %s (%v), want %s", got, err, serial)
	}
}
