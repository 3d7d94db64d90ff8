// Package pebbletest runs Let's Encrypt's test ACME server, pebble (the
// Debian package `pebble`), as a process for one test. The certs
// package's own tests use it, and so do the end-to-end tests of the
// binary, whose nodes are separate processes; it does not import certs,
// so that the internal tests of certs can import it.
package pebbletest

import (
	"bytes"
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
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options are the settings of one pebble.
type Options struct {
	// HTTPPort and TLSPort are the ports of 127.0.0.1 where pebble
	// validates HTTP-01 and TLS-ALPN-01 challenges; 0: a port nobody
	// serves, so that challenge always fails.
	HTTPPort, TLSPort int
	// Validity, when not zero, is the lifetime of the certificates pebble
	// issues (renewal tests).
	Validity time.Duration
	// DNSAddr ("host:port") is pebble's DNS server; empty: a
	// pebble-challtestsrv answering 127.0.0.1 for every name.
	DNSAddr string
	// EABKeys, when not empty, makes External Account Binding required:
	// pebble refuses to create an account whose binding is not signed by
	// one of these keys (key ID to base64url HMAC key).
	EABKeys map[string]string
	// OCSPURL is the OCSP responder pebble writes into the certificates
	// it issues (pebble runs none itself); empty: none.
	OCSPURL string
}

// Server is a running pebble.
type Server struct {
	// Directory is the ACME directory URL.
	Directory string
	// RootsFile is a PEM file the ACME client must trust for the
	// directory's HTTPS (the node's tls.ca_roots_file).
	RootsFile string
	// Issued is pebble's root, which signs the certificates it issues.
	Issued *x509.CertPool
	out    *Buffer
	// mgmt reads a path of pebble's management interface.
	mgmt func(path string) ([]byte, error)
}

// Mgmt reads a path of pebble's management interface ("/roots/0",
// "/intermediates/0", "/intermediate-keys/0").
func (s *Server) Mgmt(path string) ([]byte, error) { return s.mgmt(path) }

// Orders is how many orders pebble has created: it logs each one, so this
// is what the CA saw, not what a client believes it sent.
func (s *Server) Orders() int { return strings.Count(s.out.String(), "Added order") }

// Log is pebble's output so far.
func (s *Server) Log() string { return s.out.String() }

// Need skips the test when pebble is not installed, or fails it when
// SPORTELLO_REQUIRE_PEBBLE=1 (CI).
func Need(t testing.TB) {
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

// Start runs pebble until the test ends, with pebble-challtestsrv as its
// DNS server answering 127.0.0.1 for every name, and waits until its
// directory answers. Challenges are really fetched (no always-valid), with
// no random validation delay and no random bad-nonce errors.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Need(t)
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
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}

	// DNS, unless the test brings its own server: every name is
	// 127.0.0.1; no AAAA answers, no challenge servers.
	chall := &Buffer{}
	dnsAddr := o.DNSAddr
	if dnsAddr == "" {
		dnsAddr = "127.0.0.1:" + fmt.Sprint(FreePort(t))
		Run(t, chall, nil, "pebble-challtestsrv",
			"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
			"-dns01", dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "",
			"-management", "127.0.0.1:"+fmt.Sprint(FreePort(t)))
	}

	if o.HTTPPort == 0 {
		o.HTTPPort = FreePort(t)
	}
	if o.TLSPort == 0 {
		o.TLSPort = FreePort(t)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	// The client stays for Mgmt until the test ends.
	t.Cleanup(client.CloseIdleConnections)

	// pebble listens on two ports picked free a moment before; another
	// process of the machine can take one in between (a CI run saw the
	// management port taken by a test's HTTP server). pebble then exits
	// saying so, and starts again on new ports, up to three times.
	var s *Server
	var mgmtAddr string
	var root []byte
	for attempt := 1; ; attempt++ {
		acmeAddr := "127.0.0.1:" + fmt.Sprint(FreePort(t))
		mgmtAddr = "127.0.0.1:" + fmt.Sprint(FreePort(t))
		pc := map[string]any{
			"listenAddress":                  acmeAddr,
			"managementListenAddress":        mgmtAddr,
			"certificate":                    certFile,
			"privateKey":                     keyFile,
			"httpPort":                       o.HTTPPort,
			"tlsPort":                        o.TLSPort,
			"ocspResponderURL":               o.OCSPURL,
			"externalAccountBindingRequired": len(o.EABKeys) > 0,
			"certificateValidityPeriod":      int(o.Validity / time.Second),
		}
		if len(o.EABKeys) > 0 {
			pc["externalAccountMACKeys"] = o.EABKeys
		}
		conf, _ := json.Marshal(map[string]any{"pebble": pc})
		confFile := filepath.Join(dir, "pebble.json")
		if err := os.WriteFile(confFile, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		s = &Server{Directory: "https://" + acmeAddr + "/dir", RootsFile: certFile, out: &Buffer{}}
		cmd := start(t, s.out, []string{
			"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0",
			"PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=100",
		}, "pebble", "-config", confFile, "-dnsserver", dnsAddr)
		deadline := time.Now().Add(30 * time.Second)
		var err error
		for {
			root, err = get(client, "https://"+mgmtAddr+"/roots/0")
			if err == nil {
				_, err = get(client, s.Directory)
			}
			if err == nil || strings.Contains(s.out.String(), "address already in use") || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(s.out.String(), "address already in use") {
			t.Fatalf("pebble did not start: %v\n%s\nchalltestsrv log:\n%s", err, s.out, chall)
		}
		t.Logf("pebble could not listen (attempt %d), starting it again on other ports", attempt)
		_ = cmd.Process.Kill()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s\nchalltestsrv log:\n%s", s.out, chall)
		}
	})
	s.mgmt = func(path string) ([]byte, error) { return get(client, "https://"+mgmtAddr+path) }
	s.Issued = x509.NewCertPool()
	if !s.Issued.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root is not PEM: %q", root)
	}
	return s
}

// Run starts a process that lives until the test ends, its output going
// to out; env is added to the test's environment. The certs tests run
// named (BIND) with it too.
func Run(t testing.TB, out io.Writer, env []string, name string, args ...string) {
	t.Helper()
	start(t, out, env, name, args...)
}

// start is Run, and returns the process.
func start(t testing.TB, out io.Writer, env []string, name string, args ...string) *exec.Cmd {
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
	return cmd
}

// FreePort returns a port of 127.0.0.1 free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func get(c *http.Client, url string) ([]byte, error) {
	res, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return b, nil
}

// Buffer collects a process's output for the test to read; it is safe
// for the process's writes and the test's reads at the same time.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
