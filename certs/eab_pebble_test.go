package certs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestPebbleEAB runs the manager against an ACME CA that requires External
// Account Binding (pebble with externalAccountBindingRequired), as a
// Comune's step-ca or a commercial CA may: with the key ID and MAC key the
// CA gave, a Comune's base-domain host gets its certificate; with a wrong
// MAC key, or with no binding at all, the CA refuses the account, so no
// order is ever made and no certificate obtained, and the administrator
// sees why in Status.
func TestPebbleEAB(t *testing.T) {
	pebbletest.Need(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, tn := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"},
		{ID: "taranto", Name: "Comune di Taranto", ISTAT: "073027"},
	} {
		if _, err := a.reg.Create(ctx, tn); err != nil {
			t.Fatalf("create tenant %s: %v", tn.ID, err)
		}
	}

	// The key ID and MAC key a CA hands out for an account: the MAC key
	// is base64url without padding, as pebble and acmez expect.
	const kid = "comune-kid-1"
	macKey := randomMACKey(t)
	wrongKey := randomMACKey(t)

	// pebble validates HTTP-01 on node C's :80 (only C's order gets that
	// far).
	cHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cPort := cHTTP.Addr().(*net.TCPAddr).Port
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: cPort, EABKeys: map[string]string{kid: macKey}})

	// The managers log into a buffer shown only on failure: a refused
	// account is retried by certmagic in the background until the test's
	// context ends, and its lines must not reach a finished test's output.
	logs := &pebbletest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("managers' log:\n%s", logs)
		}
	})

	// Each case manages its own Comune's host with its own contact email,
	// hence its own ACME account in the shared storage: an account one
	// case registered must not be reused by another.
	start := func(tn *testNode, id, email, keyID, key string, httpLn net.Listener) string {
		t.Helper()
		host := id + ".sportello.test"
		acmeCfg := ACME{
			DirectoryURL: pb.Directory, Email: email, CARootsFile: pb.RootsFile,
			HTTP01: true, AltHTTPPort: cPort,
			EABKeyID: keyID, EABMACKey: key,
		}
		managed := func(context.Context) ([]string, error) { return []string{host}, nil }
		tn.serve(t, Config{
			Mode: ModeACME, ACME: acmeCfg, Managed: managed,
			Decide: NewDecider(tn.reg.Resolve, time.Minute).Decide,
			Logger: logger.With("node", tn.node.Config().NodeID),
		}, options{}, httpLn, nil)
		return host
	}

	// refused waits for the first attempt for host to fail and checks
	// what the administrator sees: failed, no certificate, an error that
	// names the account registration.
	refused := func(t *testing.T, tn *testNode, host, email string) {
		t.Helper()
		var st CertStatus
		var err error
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err = tn.mgr.Status(ctx, host)
			if err != nil {
				t.Fatalf("status of %s: %v", host, err)
			}
			if st.State == StateFailed || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st.State != StateFailed || !st.NotAfter.IsZero() || st.LastAttempt.IsZero() {
			t.Fatalf("status of %s: got %+v, want failed without a certificate", host, st)
		}
		if msg := strings.ToLower(st.LastError); !strings.Contains(msg, "account") || !strings.Contains(msg, "external") {
			t.Errorf("status of %s: error %q does not say the CA refused the account's external binding", host, st.LastError)
		}
		t.Logf("status of %s: %s", host, st.LastError)
		// Every node's status page shows it.
		if other, err := nodes[(indexOf(nodes, tn)+1)%len(nodes)].storageStatus(ctx, t, host); err != nil || other.LastError != st.LastError {
			t.Errorf("status record on another node: got %+v (%v), want error %q", other, err, st.LastError)
		}
		// No account was stored for the refused registration: fixing the
		// key in the configuration is enough for the next attempt to
		// register one.
		keys, err := tn.storage.List(ctx, "acme", true)
		if err != nil && !strings.Contains(err.Error(), "not exist") {
			t.Fatalf("list acme/: %v", err)
		}
		for _, k := range keys {
			if strings.Contains(k, email) {
				t.Errorf("storage holds %s for the refused account %s", k, email)
			}
		}
		if got := pb.Orders(); got != 0 {
			t.Errorf("pebble orders: got %d, want 0 (the account was refused first)", got)
		}
	}

	t.Run("wrong MAC key is refused", func(t *testing.T) {
		const email = "tls-lecce@example.org"
		host := start(a, "lecce", email, kid, wrongKey, nil)
		refused(t, a, host, email)
	})
	t.Run("no binding is refused", func(t *testing.T) {
		const email = "tls-taranto@example.org"
		host := start(b, "taranto", email, "", "", nil)
		refused(t, b, host, email)
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("right MAC key gets a certificate", func(t *testing.T) {
		host := start(c, "bari", "tls-bari@example.org", kid, macKey, cHTTP)
		began := time.Now()
		deadline := began.Add(60 * time.Second)
		var serial string
		var err error
		for {
			serial, err = c.handshake(host, pb.Issued, 10*time.Second)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("handshake with %s on node C: %v", host, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("certificate %s for %s after %v", serial, host, time.Since(began).Round(time.Millisecond))
		if got := pb.Orders(); got != 1 {
			t.Errorf("pebble orders: got %d, want 1", got)
		}
		st, err := c.mgr.Status(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateValid || st.LastError != "" || !strings.Contains(st.Issuer, "Pebble") {
			t.Errorf("status of %s: got %+v, want valid from Pebble", host, st)
		}
		// The account registered with the binding is in the replicated
		// storage, for every node to reuse.
		keys, err := a.storage.List(ctx, "acme", true)
		if err != nil {
			t.Fatal(err)
		}
		if !slicesContainsSub(keys, "tls-bari@example.org") {
			t.Errorf("no account for tls-bari@example.org in storage: %v", keys)
		}
	})
}

// randomMACKey returns a fresh 256-bit HMAC key in the form CAs give it:
// base64url without padding.
func randomMACKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func indexOf(nodes []*testNode, tn *testNode) int {
	for i, n := range nodes {
		if n == tn {
			return i
		}
	}
	return -1
}

func slicesContainsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestEABMACKey checks the forms of a MAC key NewManager accepts (the
// CA's base64url, and the same bytes padded, re-encoded in standard
// base64 or with a trailing newline) and that a key that is not base64
// stops NewManager instead of the first account registration.
func TestEABMACKey(t *testing.T) {
	// 0xfb 0xff 0xbf encodes to "+/+/" in standard base64 and "-_-_" in
	// base64url; 32 bytes need padding in both.
	raw := append([]byte{0xfb, 0xff, 0xbf}, make([]byte, 29)...)
	want := base64.RawURLEncoding.EncodeToString(raw)
	for _, in := range []string{
		want,
		base64.URLEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		" " + want + "\n",
	} {
		got, err := eabMACKey(in)
		if err != nil || got != want {
			t.Errorf("eabMACKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"not base64!", "====", "a"} {
		if got, err := eabMACKey(in); err == nil {
			t.Errorf("eabMACKey(%q) = %q, want an error", in, got)
		}
	}

	cfg := Config{
		Mode:    ModeACME,
		ACME:    ACME{HTTP01: true, EABKeyID: "kid-1", EABMACKey: "chiave segreta"},
		Storage: &Storage{},
		Decide:  func(context.Context, string) error { return nil },
	}
	if _, err := NewManager(cfg); err == nil || !strings.Contains(err.Error(), "MAC key") {
		t.Errorf("NewManager with a MAC key that is not base64: got %v, want an error about the MAC key", err)
	}
	cfg.ACME.EABMACKey = base64.StdEncoding.EncodeToString(raw)
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatalf("NewManager with a standard base64 MAC key: %v", err)
	}
	defer m.Close()
	if got := m.acme.ExternalAccount; got == nil || got.KeyID != "kid-1" || got.MACKey != want {
		t.Errorf("issuer's external account: got %+v, want kid-1 with %q", got, want)
	}
}
