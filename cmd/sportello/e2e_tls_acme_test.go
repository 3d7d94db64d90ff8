package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/certs/pebbletest"
)

// The [tls] mode acme of issue 7 on a cluster of two sportello processes
// against a real ACME server (pebble). The certs package's pebble tests
// run their nodes in one process, where certmagic keeps some state in
// package variables (the challenges a node started, the queue that merges
// identical renewal jobs), so a node there could answer a challenge, or
// skip a renewal, from memory. Here every node is its own process: what
// one node knows of another's work comes through the replicated storage
// alone.

// acmeNode is one process of the test cluster.
type acmeNode struct {
	p                   *proc
	dir, config         string
	httpsAddr, httpAddr string
}

// restart stops the node (SIGTERM) and starts it again with the same
// configuration and data.
func (n *acmeNode) restart(t *testing.T) {
	t.Helper()
	n.p.stop()
	n.p = startProc(t, n.dir, "serve", "--config", n.config)
}

// handshake connects to the node's HTTPS port asking for name and returns
// the serial of the certificate served, verified against roots.
func (n *acmeNode) handshake(name string, roots *x509.CertPool, timeout time.Duration) (string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", n.httpsAddr, &tls.Config{
		ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// acmeNodeConfig writes the configuration of node id: base domain
// sportello.test (pebble refuses names under localhost), [tls] mode acme
// against pebble with one challenge, and cluster lines.
func acmeNodeConfig(t *testing.T, n *acmeNode, id, raftAddr, logLevel string, pb *pebbletest.Server, challenge, clusterLines string) string {
	t.Helper()
	body := fmt.Sprintf(`data_dir = %q
node_id = %q
listen = "127.0.0.1:0"
raft_addr = %q
base_domain = "sportello.test"

[log]
level = %q
format = "json"

[rate_limit]
bookings_per_minute = -1

[mail]
delivery = "mailbox"

[tls]
mode = "acme"
https_addr = %q
http_addr = %q
directory_url = %q
ca_roots_file = %q
email = "tls@example.org"
http01 = %t
tlsalpn01 = %t
# pebble's 30-second certificates need checks every second (see
# TLSConfig.RenewCheck).
renew_check = "1s"
%s`, n.dir, id, raftAddr, logLevel, n.httpsAddr, n.httpAddr, pb.Directory, pb.RootsFile,
		challenge == "http-01", challenge == "tls-alpn-01", clusterLines)
	path := filepath.Join(t.TempDir(), id+".toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// portOf is the port of a host:port.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// acmeCluster starts pebble and a two-node cluster in mode acme with only
// challenge enabled; pebble validates that challenge on node B's port
// alone (its :80 for http-01, its :443 for tls-alpn-01). It creates the
// Comune of Bari, with its own domain servizi.comune.bari.it, through
// node A.
func acmeCluster(t *testing.T, challenge, logLevel string, validity time.Duration) (a, b *acmeNode, pb *pebbletest.Server) {
	t.Helper()
	a = &acmeNode{dir: shortTempDir(t), httpsAddr: freeAddr(t), httpAddr: freeAddr(t)}
	b = &acmeNode{dir: shortTempDir(t), httpsAddr: freeAddr(t), httpAddr: freeAddr(t)}
	opts := pebbletest.Options{Validity: validity}
	if challenge == "http-01" {
		opts.HTTPPort = portOf(t, b.httpAddr)
	} else {
		opts.TLSPort = portOf(t, b.httpsAddr)
	}
	pb = pebbletest.Start(t, opts)

	raftA, raftB := freeAddr(t), freeAddr(t)
	a.config = acmeNodeConfig(t, a, "node1", raftA, logLevel, pb, challenge, "\n[cluster]\ninit = true\nname = \"e2e-acme\"\n")
	a.p = startProc(t, a.dir, "serve", "--config", a.config)
	out, errOut, code := runCLI(t, "cluster", "token", "--data", a.dir, "--ttl", "10m")
	tok := strings.TrimSpace(out)
	if code != exitOK || !strings.HasPrefix(tok, "SPT1-") {
		t.Fatalf("cluster token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	b.config = acmeNodeConfig(t, b, "node2", raftB, logLevel, pb, challenge, fmt.Sprintf("\n[cluster]\njoin_token = %q\njoin_addr = %q\n", tok, raftA))
	b.p = startProc(t, b.dir, "serve", "--config", b.config)

	if out, errOut, code := runCLI(t, "tenant", "create", "--data", a.dir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--domain", "servizi.comune.bari.it",
		"--sender", "Comune di Bari <noreply@bari.sportello.test>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Node B must know the Comune before the test's handshakes on it:
	// its own Decide reads its own copy of the registry.
	waitIdentical(t, 30*time.Second, a.p, b.p)
	return a, b, pb
}

// TestTLSACMEClusterE2E: a Comune's own domain gets a certificate on its
// first HTTPS visit to node A, over a challenge node B answers from the
// replicated storage (HTTP-01 on its :80; TLS-ALPN-01 on its :443); node B
// then serves the same certificate with no new order; unknown names get no
// certificate and pebble sees no order for them; and, with 30-second
// certificates, visits to both nodes when the certificate comes due make
// one renewal for the cluster.
func TestTLSACMEClusterE2E(t *testing.T) {
	needBinary(t)
	pebbletest.Need(t)
	const domain = "servizi.comune.bari.it"

	t.Run("http-01", func(t *testing.T) {
		const lifetime = 30 * time.Second
		a, b, pb := acmeCluster(t, "http-01", "debug", lifetime)
		// Scanners first, while pebble has seen no order at all (and
		// before the 30-second certificate can come due).
		refuseUnknown(t, a, b, pb)
		first := obtainAndShare(t, a, b, pb, domain)
		// The challenge was fetched from node B's :80, the only port
		// pebble knows.
		if want := fmt.Sprintf("validate w/ HTTP: http://%s:%d/.well-known/acme-challenge/", domain, portOf(t, b.httpAddr)); !strings.Contains(pb.Log(), want) {
			t.Errorf("pebble's log lacks %q", want)
		}

		// Renewal once per cluster. Certificates obtained on demand are
		// renewed by the handshakes that use them once due (a third of
		// the lifetime left): both nodes are visited at once, every 200
		// ms, so both find it due at the same visit and both start a
		// renewal; the storage's lock lets one order it, and the other,
		// holding the lock next, finds the new certificate in storage.
		issued := time.Now()
		deadline := issued.Add(lifetime + 10*time.Second)
		var sa, sb string
		for {
			var errA, errB error
			var wg sync.WaitGroup
			wg.Go(func() { sa, errA = a.handshake(domain, pb.Issued, 10*time.Second) })
			wg.Go(func() { sb, errB = b.handshake(domain, pb.Issued, 10*time.Second) })
			wg.Wait()
			if errA == nil && errB == nil && sa == sb && sa != first {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v node A serves %q (%v), node B %q (%v); want both a new certificate",
					time.Since(issued).Round(time.Second), sa, errA, sb, errB)
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("both nodes serve the renewed certificate %v after the first", time.Since(issued).Round(100*time.Millisecond))
		// A second renewal started late would show within a few visits.
		for range 10 {
			for _, n := range []*acmeNode{a, b} {
				if s, err := n.handshake(domain, pb.Issued, 10*time.Second); err != nil || s != sa {
					t.Errorf("after the renewal a node serves %q (%v), want %q", s, err, sa)
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := pb.Orders(); got != 2 {
			t.Errorf("pebble saw %d orders, want 2: the first certificate and one renewal for the cluster", got)
		}
		// Both nodes set out to renew, and one did: the node that did
		// not order found the other's certificate in storage (certmagic's
		// debug lines), so the single order is not a node that never
		// tried.
		renewers, deferred := 0, 0
		for _, n := range []*acmeNode{a, b} {
			log := n.p.stderr.String()
			r := countLines(log, `"msg":"certificate obtained"`, `"renewal":true`, domain)
			renewers += r
			if r == 0 && foundRenewed(log, domain) {
				deferred++
			}
		}
		if renewers != 1 || deferred != 1 {
			t.Errorf("%d nodes logged a renewal and %d found it made by the other; want 1 and 1", renewers, deferred)
		}
	})

	// The Comuni's hosts under the base domain are managed eagerly: each
	// node lists them when it starts and its maintenance renews them,
	// with no handshake. Both nodes restart after the Comune exists, so
	// both manage bari.sportello.test: node B obtains it at its restart
	// (one order), node A loads it from storage at its own, and when it
	// comes due both maintenance loops (every second) find it due and one
	// renewal is made.
	t.Run("eager renewal", func(t *testing.T) {
		const host = "bari.sportello.test"
		const lifetime = 60 * time.Second
		a, b, pb := acmeCluster(t, "http-01", "debug", lifetime)
		b.restart(t)
		var first string
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			if first, err = b.handshake(host, pb.Issued, 10*time.Second); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node B has no certificate for %s 30 s after its restart: %v", host, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		issued := time.Now()
		a.restart(t)
		if s, err := a.handshake(host, pb.Issued, 10*time.Second); err != nil || s != first {
			t.Fatalf("node A after its restart serves %q (%v), want node B's %q", s, err, first)
		}
		if got := pb.Orders(); got != 1 {
			t.Fatalf("pebble saw %d orders before the renewal, want 1", got)
		}
		// Only the maintenance renews: the test's handshakes go to the
		// eager configuration, which renews nothing during a handshake.
		deadline = issued.Add(lifetime + 10*time.Second)
		var sa, sb string
		for {
			var errA, errB error
			sa, errA = a.handshake(host, pb.Issued, 10*time.Second)
			sb, errB = b.handshake(host, pb.Issued, 10*time.Second)
			if errA == nil && errB == nil && sa == sb && sa != first {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v node A serves %q (%v), node B %q (%v); want both a new certificate",
					time.Since(issued).Round(time.Second), sa, errA, sb, errB)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("both nodes serve the renewed certificate %v after the first", time.Since(issued).Round(100*time.Millisecond))
		time.Sleep(3 * time.Second)
		if got := pb.Orders(); got != 2 {
			t.Errorf("pebble saw %d orders, want 2: the first certificate and one renewal for the cluster", got)
		}
		renewers, deferred := 0, 0
		for _, n := range []*acmeNode{a, b} {
			log := n.p.stderr.String()
			r := countLines(log, `"msg":"certificate obtained"`, `"renewal":true`, host)
			renewers += r
			if r == 0 && foundRenewed(log, host) {
				deferred++
			}
		}
		if renewers != 1 || deferred != 1 {
			t.Errorf("%d nodes logged a renewal and %d found it made by the other; want 1 and 1", renewers, deferred)
		}
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		a, b, pb := acmeCluster(t, "tls-alpn-01", "info", 0)
		obtainAndShare(t, a, b, pb, domain)
		refuseUnknown(t, a, b, pb)
		// pebble logs every HTTP-01 fetch, and no line for a TLS-ALPN-01
		// one: the authorization became valid without any.
		if log := pb.Log(); strings.Contains(log, "validate w/ HTTP") || !strings.Contains(log, "set VALID by completed challenge") {
			t.Errorf("pebble's log should show an authorization made valid with no HTTP-01 fetch:\n%s", log)
		}
	})
}

// obtainAndShare visits domain on node A, which obtains its certificate
// (one order; the challenge can only have been answered by node B, the
// only node pebble reaches), then on node B, which serves the same
// certificate with no order, and the Comune's pages over it. It returns
// the certificate's serial.
func obtainAndShare(t *testing.T, a, b *acmeNode, pb *pebbletest.Server, domain string) string {
	t.Helper()
	start := time.Now()
	serial, err := a.handshake(domain, pb.Issued, 90*time.Second)
	if err != nil {
		t.Fatalf("first HTTPS handshake for %s on node A: %v\nnode A:\n%s\nnode B:\n%s", domain, err,
			tail(a.p.stderr.String(), 30), tail(b.p.stderr.String(), 30))
	}
	t.Logf("node A obtained the certificate for %s in %v", domain, time.Since(start).Round(10*time.Millisecond))
	if got := pb.Orders(); got != 1 {
		t.Errorf("pebble saw %d orders, want 1", got)
	}
	got, err := b.handshake(domain, pb.Issued, 30*time.Second)
	if err != nil || got != serial {
		t.Errorf("node B serves %q (%v), want node A's %q", got, err, serial)
	}
	if got := pb.Orders(); got != 1 {
		t.Errorf("pebble saw %d orders after node B's handshake, want still 1", got)
	}

	// The Comune's pages on its own domain, over node B's HTTPS.
	c := &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, b.httpsAddr)
			},
			TLSClientConfig: &tls.Config{RootCAs: pb.Issued, MinVersion: tls.VersionTLS12},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer c.CloseIdleConnections()
	res, err := c.Get("https://" + domain + ":" + strconv.Itoa(portOf(t, b.httpsAddr)) + "/prenota")
	if err != nil {
		t.Fatalf("HTTPS GET /prenota on %s through node B: %v", domain, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Comune di Bari") {
		t.Errorf("HTTPS /prenota on %s: %d %.200q", domain, res.StatusCode, body)
	}
	// HSTS on the Comune's own domain covers that name only: the names
	// below it are the Comune's IT's, not ours.
	if hsts := res.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Errorf("HSTS on the Comune's own domain over TLS: %q, want max-age=31536000", hsts)
	}
	return serial
}

// refuseUnknown makes handshakes for names no Comune owns on both nodes,
// and one without a server name: none gets a certificate, and pebble sees
// no new order.
func refuseUnknown(t *testing.T, a, b *acmeNode, pb *pebbletest.Server) {
	t.Helper()
	before := pb.Orders()
	for _, n := range []*acmeNode{a, b} {
		for _, name := range []string{"scanner.example", "r4nd0m-9f2c.example.net", "milano.sportello.test", "x.bari.sportello.test", ""} {
			// Without verification: any certificate at all would be wrong.
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", n.httpsAddr,
				&tls.Config{ServerName: name, InsecureSkipVerify: true})
			if err == nil {
				cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
				conn.Close()
				t.Errorf("handshake for %q on %s got a certificate (%q)", name, n.httpsAddr, cn)
			}
		}
	}
	// Orders are made before the handshake's answer; a moment more for
	// any that were not.
	time.Sleep(time.Second)
	if got := pb.Orders() - before; got != 0 {
		t.Errorf("pebble saw %d orders for unknown names, want 0", got)
	}
}

// foundRenewed reports whether a node's log shows that it found name due
// and then the other node's renewal in storage: certmagic's debug line
// after taking the lock ("renewed already"), or its maintenance's check of
// storage before it queues a renewal.
func foundRenewed(log, name string) bool {
	return countLines(log, "certificate appears to have been renewed already", name) > 0 ||
		countLines(log, "is already renewed in storage; reloading stored certificate", name) > 0
}

// countLines counts the lines of log that contain every one of parts.
func countLines(log string, parts ...string) int {
	n := 0
	for line := range strings.Lines(log) {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}
