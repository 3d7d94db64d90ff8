package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

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
	pebbletest.Need(t)
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
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: bPort})
	acmeCfg := ACME{
		DirectoryURL: pb.Directory,
		Email:        "tls@example.org",
		CARootsFile:  pb.RootsFile,
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
		before := pb.Orders()
		start := time.Now()
		serial, err = a.handshake(domain, pb.Issued, 90*time.Second)
		if err != nil {
			t.Fatalf("handshake with %s on node A: %v", domain, err)
		}
		t.Logf("first handshake with on-demand issuance took %v", time.Since(start).Round(time.Millisecond))
		if got := pb.Orders() - before; got != 1 {
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
		before := pb.Orders()
		for _, name := range []string{"scanner.example", "random-4f3a.scanner.example"} {
			if _, err := a.handshake(name, pb.Issued, 30*time.Second); err == nil {
				t.Errorf("handshake with %s succeeded, want it refused", name)
			}
		}
		// An IP address instead of a name: no SNI at all.
		if _, err := a.handshake("", pb.Issued, 30*time.Second); err == nil {
			t.Errorf("handshake without SNI succeeded, want it refused")
		}
		if got := pb.Orders() - before; got != 0 {
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
		before := pb.Orders()
		got, err := b.handshake(domain, pb.Issued, 30*time.Second)
		if err != nil {
			t.Fatalf("handshake with %s on node B: %v", domain, err)
		}
		if got != serial {
			t.Errorf("node B serves serial %s, want %s (node A's)", got, serial)
		}
		if n := pb.Orders() - before; n != 0 {
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
	pebbletest.Need(t)
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
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: bPort, Validity: lifetime})
	const host = "bari.sportello.test"
	managed := func(context.Context) ([]string, error) { return []string{host}, nil }
	acmeCfg := ACME{DirectoryURL: pb.Directory, CARootsFile: pb.RootsFile, HTTP01: true, AltHTTPPort: bPort}
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
			sa, errA := a.handshake(host, pb.Issued, 10*time.Second)
			sb, errB := b.handshake(host, pb.Issued, 10*time.Second)
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
	if got := pb.Orders(); got != 1 {
		t.Fatalf("orders after both nodes managed %s: got %d, want 1", host, got)
	}
	// Due after two thirds of the lifetime; both must have switched well
	// before the new certificate is due in turn.
	waitSerial(first, lifetime)
	t.Logf("renewed after %v", time.Since(issuedAt).Round(time.Millisecond))
	if got := pb.Orders(); got != 2 {
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
	pebbletest.Need(t)
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
	pb := pebbletest.Start(t, pebbletest.Options{TLSPort: bPort})
	acmeCfg := ACME{DirectoryURL: pb.Directory, CARootsFile: pb.RootsFile, TLSALPN01: true, AltTLSALPNPort: bPort}
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, options{}, nil, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, options{}, nil, bTLS)

	const domain = "servizi.comune.altamura.ba.it"
	serial, err := a.handshake(domain, pb.Issued, 90*time.Second)
	if err != nil {
		t.Fatalf("handshake with %s on node A: %v", domain, err)
	}
	if got := pb.Orders(); got != 1 {
		t.Errorf("orders: got %d, want 1", got)
	}
	if got := b.challenges.Load(); got != 0 {
		t.Errorf("node B's :80 got %d challenges, want none (TLS-ALPN-01 only)", got)
	}
	if got, err := b.handshake(domain, pb.Issued, 30*time.Second); err != nil || got != serial {
		t.Errorf("node B serves %s (%v), want %s", got, err, serial)
	}
}
