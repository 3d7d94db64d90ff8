package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTLSInternalE2E runs the binary as a closed network's Comune would:
// [tls] mode "internal", certificates signed by the cluster's own CA. The
// root comes from `sportello tls export-root`; with only that root
// trusted, a browser-like client reaches bari.localhost over HTTPS (its
// certificate made by the node on first use, HSTS on the answer), a
// handshake for a name no Comune owns gets no certificate, and port 80
// only redirects known hosts to HTTPS.
func TestTLSInternalE2E(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dir := shortTempDir(t)
	httpsAddr, httpAddr := freeAddr(t), freeAddr(t)
	conf := clusterNodeConfig(t, dir, "node1", freeAddr(t), fmt.Sprintf(
		"\n[tls]\nmode = \"internal\"\nhttps_addr = %q\nhttp_addr = %q\n", httpsAddr, httpAddr))
	p := startProc(t, dir, "serve", "--config", conf)
	if out, errOut, code := runCLI(t, "tenant", "create", "--data", dir, "--id", "bari", "--name", "Comune di Bari",
		"--istat", "072006", "--sender", "Comune di Bari <noreply@bari.localhost>"); code != exitOK {
		t.Fatalf("tenant create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_ = p

	rootPEM, errOut, code := runCLI(t, "tls", "export-root", "--data", dir)
	if code != exitOK || !strings.Contains(rootPEM, "BEGIN CERTIFICATE") {
		t.Fatalf("tls export-root: exit %d, stdout %q, stderr %q", code, rootPEM, errOut)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(rootPEM)) {
		t.Fatalf("export-root printed no certificate: %q", rootPEM)
	}
	again, _, _ := runCLI(t, "tls", "export-root", "--data", dir)
	if again != rootPEM {
		t.Fatal("a second export-root printed another root: the CA must be made once")
	}

	// Every name resolves to the node's listeners, as DNS would.
	dialTo := func(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
		return func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	_, httpsPort, _ := net.SplitHostPort(httpsAddr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	client := &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{DialContext: dialTo(httpsAddr),
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	// The first handshake may wait for the certificate to be made.
	var res *http.Response
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err = client.Get("https://bari.localhost:" + httpsPort + "/prenota")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("HTTPS GET /prenota with the exported root: %v\n%s", err, tail(p.stderr.String(), 30))
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Comune di Bari") {
		t.Fatalf("HTTPS /prenota: %d %.200q", res.StatusCode, body)
	}
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=31536000") || !strings.Contains(hsts, "includeSubDomains") {
		t.Errorf("HSTS on a base-domain host over TLS: %q", hsts)
	}
	leaf := res.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("bari.localhost"); err != nil || leaf.Issuer.CommonName == "" {
		t.Errorf("certificate for bari.localhost: %v (issuer %q)", err, leaf.Issuer.CommonName)
	}

	// A scanner's name gets no certificate.
	conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "scanner.example", InsecureSkipVerify: true})
	if err == nil {
		name := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
		conn.Close()
		t.Fatalf("handshake for scanner.example got a certificate (%q)", name)
	}

	// Port 80: a known host is sent to HTTPS, an unknown one is not.
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialTo(httpAddr)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer plain.CloseIdleConnections()
	r80, err := plain.Get("http://bari.localhost:" + httpPort + "/coda/urp?x=1")
	if err != nil {
		t.Fatal(err)
	}
	r80.Body.Close()
	if want := "https://bari.localhost:" + httpsPort + "/coda/urp?x=1"; r80.StatusCode != http.StatusPermanentRedirect || r80.Header.Get("Location") != want {
		t.Errorf("port 80 for bari.localhost: %d %q, want 308 %q", r80.StatusCode, r80.Header.Get("Location"), want)
	}
	r80, err = plain.Get("http://evil.example:" + httpPort + "/")
	if err != nil {
		t.Fatal(err)
	}
	r80.Body.Close()
	if r80.StatusCode != http.StatusNotFound || r80.Header.Get("Location") != "" {
		t.Errorf("port 80 for an unknown host: %d %q, want 404 without a redirect", r80.StatusCode, r80.Header.Get("Location"))
	}
	if hsts := r80.Header.Get("Strict-Transport-Security"); hsts != "" {
		t.Errorf("HSTS over plain HTTP: %q", hsts)
	}
	// Health on port 80, for load balancers.
	rh, err := plain.Get("http://127.0.0.1:" + httpPort + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	rh.Body.Close()
	if rh.StatusCode != http.StatusOK {
		t.Errorf("/healthz on port 80: %d", rh.StatusCode)
	}
}
