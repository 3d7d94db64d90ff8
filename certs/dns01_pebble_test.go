package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// peerCert connects to tn's TLS port asking for name and returns the
// certificate served, verified against roots.
func (tn *testNode) peerCert(name string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", tn.tlsAddr, &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// TestWildcardDNS01Pebble obtains the base domain's wildcard over DNS-01
// from a real ACME server (pebble), whose validation queries a real BIND
// that our RFC2136 provider updated with TSIG. Two nodes manage
// "*.comuni.test" and "comuni.test" at once: each certificate is obtained
// once, and every Comune's host, known or not yet, is served the wildcard
// with no further order. A Comune's own domain is still obtained on demand
// over HTTP-01 (its zone allows no updates), pebble resolving it through
// the same BIND.
func TestWildcardDNS01Pebble(t *testing.T) {
	pebbletest.Need(t)
	bnd := startBind(t)
	ctx := context.Background()
	nodes := certCluster(t)
	for _, n := range nodes {
		n.reg = tenant.NewRegistry(n.node, n.node.DB(), testZone)
	}
	a, b := nodes[0], nodes[1]
	const own = "servizi." + ownZone
	if _, err := a.reg.Create(ctx, tenant.Tenant{
		ID: "bari", Name: "Comune di Bari", ISTAT: "072006", Domains: []string{own},
	}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}

	bHTTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bPort := bHTTP.Addr().(*net.TCPAddr).Port
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: bPort, DNSAddr: bnd.addr})
	acmeCfg := ACME{
		DirectoryURL: pb.Directory,
		CARootsFile:  pb.RootsFile,
		HTTP01:       true,
		AltHTTPPort:  bPort,
		DNS:          bnd.provider(),
		// The zone lookup and the propagation check ask the test's BIND,
		// which is also what pebble asks.
		DNSResolvers: []string{bnd.addr},
	}
	managed := WildcardHosts(testZone)
	start := time.Now()
	a.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Managed: managed, Decide: NewDecider(a.reg.Resolve, time.Minute).Decide}, options{}, nil, nil)
	b.serve(t, Config{Mode: ModeACME, ACME: acmeCfg, Managed: managed, Decide: NewDecider(b.reg.Resolve, time.Minute).Decide}, options{}, bHTTP, nil)

	// Wait until both nodes hold both certificates (managed in the
	// background), so that no handshake below falls back to on-demand.
	deadline := time.Now().Add(90 * time.Second)
	for _, n := range []*testNode{a, b} {
		for _, name := range []string{"*." + testZone, testZone} {
			for len(n.mgr.cache.AllMatchingCertificates(name)) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("node %s has no certificate for %s after 90 s", n.node.Config().NodeID, name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	t.Logf("wildcard and apex obtained over DNS-01 in %v", time.Since(start).Round(time.Millisecond))
	// certmagic keeps one name per certificate: two orders, not four.
	if got := pb.Orders(); got != 2 {
		t.Errorf("orders for *.%s and %s on two nodes: got %d, want 2", testZone, testZone, got)
	}

	wild, err := a.peerCert("bari.comuni.test", pb.Issued)
	if err != nil {
		t.Fatalf("handshake with bari.comuni.test: %v", err)
	}
	if !slices.Equal(wild.DNSNames, []string{"*." + testZone}) {
		t.Errorf("bari.comuni.test served a certificate for %q, want the wildcard", wild.DNSNames)
	}
	t.Run("every host of the base domain", func(t *testing.T) {
		before := pb.Orders()
		// A Comune not created yet is covered too; what it is served over
		// HTTP is the site's business (the neutral 404).
		for _, n := range []*testNode{a, b} {
			for _, host := range []string{"bari.comuni.test", "BARI.comuni.test.", "altamura.comuni.test"} {
				c, err := n.peerCert(host, pb.Issued)
				if err != nil {
					t.Errorf("handshake with %s on %s: %v", host, n.node.Config().NodeID, err)
					continue
				}
				if c.SerialNumber.Cmp(wild.SerialNumber) != 0 {
					t.Errorf("%s on %s: serial %x, want the wildcard's %x", host, n.node.Config().NodeID, c.SerialNumber, wild.SerialNumber)
				}
			}
		}
		apex, err := b.peerCert(testZone, pb.Issued)
		if err != nil || !slices.Equal(apex.DNSNames, []string{testZone}) {
			t.Errorf("handshake with %s: %v, %v; want its own certificate", testZone, apex, err)
		}
		// Two labels below the base: no wildcard covers it, and the
		// registry knows no such name.
		if _, err := a.peerCert("x.bari.comuni.test", pb.Issued); err == nil {
			t.Errorf("handshake with x.bari.comuni.test succeeded, want refused")
		}
		if got := pb.Orders() - before; got != 0 {
			t.Errorf("orders: got %d, want 0", got)
		}
		st, err := a.mgr.Status(ctx, "bari.comuni.test")
		if err != nil || st.State != StateValid || !st.NotAfter.Equal(wild.NotAfter) {
			t.Errorf("status of bari.comuni.test: %+v, %v; want valid with the wildcard's dates", st, err)
		}
	})

	t.Run("challenge records removed", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := bnd.txt(t, "_acme-challenge."+testZone)
			if len(got) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("TXT _acme-challenge.%s still holds %q", testZone, got)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("own domain on demand over HTTP-01", func(t *testing.T) {
		before := pb.Orders()
		challenges := b.challenges.Load()
		c, err := a.peerCert(own, pb.Issued)
		if err != nil {
			t.Fatalf("handshake with %s: %v", own, err)
		}
		if !slices.Equal(c.DNSNames, []string{own}) {
			t.Errorf("%s served a certificate for %q", own, c.DNSNames)
		}
		if got := pb.Orders() - before; got != 1 {
			t.Errorf("orders: got %d, want 1", got)
		}
		if b.challenges.Load() == challenges {
			t.Errorf("node B's :80 answered no HTTP-01 challenge for %s", own)
		}
	})
}
