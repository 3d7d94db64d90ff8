package certs

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestPebbleOCSPResponderHangs checks that an OCSP responder that accepts
// connections and never answers does not hold a handshake forever:
// certmagic staples OCSP when it loads a certificate, inside the first
// handshake for an on-demand name, and its OCSP client has a timeout only
// because the Manager sets OCSP.HTTPProxy. The certificate is served
// without a staple once that timeout (30 s) ends.
func TestPebbleOCSPResponderHangs(t *testing.T) {
	pebbletest.Need(t)
	ctx := context.Background()
	nodes := certCluster(t)
	a := nodes[0]
	const domain = "servizi.comune.bari.it"
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006", Domains: []string{domain},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}

	// The responder: takes every connection, reads nothing, answers
	// nothing, until the test ends.
	ocspLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	var held sync.WaitGroup
	done := make(chan struct{})
	held.Go(func() {
		for {
			conn, err := ocspLn.Accept()
			if err != nil {
				return
			}
			asked.Add(1)
			held.Go(func() {
				<-done
				conn.Close()
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		ocspLn.Close()
		held.Wait()
	})

	aHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aPort := aHTTP.Addr().(*net.TCPAddr).Port
	// pebble's default lifetime (five years): certmagic ignores OCSP
	// failures only for certificates shorter than a week.
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: aPort, OCSPURL: "http://" + ocspLn.Addr().String() + "/"})

	logs := &pebbletest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager's log:\n%s", logs)
		}
	})
	a.serve(t, Config{
		Mode:   ModeACME,
		ACME:   ACME{DirectoryURL: pb.Directory, CARootsFile: pb.RootsFile, HTTP01: true, AltHTTPPort: aPort},
		Decide: NewDecider(a.reg.Resolve, time.Minute).Decide,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, options{}, aHTTP, nil)

	start := time.Now()
	if _, err := a.handshake(domain, pb.Issued, 90*time.Second); err != nil {
		t.Fatalf("handshake with %s while the OCSP responder hangs: %v", domain, err)
	}
	t.Logf("first handshake took %v with a hanging OCSP responder", time.Since(start).Round(time.Millisecond))
	if asked.Load() == 0 {
		t.Errorf("the OCSP responder was never asked; the test proves nothing")
	}
	// Later handshakes use the cached certificate and do not wait again.
	start = time.Now()
	if _, err := a.handshake(domain, pb.Issued, 5*time.Second); err != nil {
		t.Fatalf("second handshake with %s: %v", domain, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second handshake took %v, want the cached certificate at once", d)
	}
}
