package site

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.215.14": true, "2a00:1450:4002:80b::200e": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "::1": false, "fe80::1": false, "fd00::1": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestLogoFetcher(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxLogoBytes+1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stemma.png":
			w.Write([]byte("PNGDATA"))
		case "/grande.png":
			w.Write([]byte(big))
		case "/a-http":
			http.Redirect(w, r, "http://"+r.Host+"/stemma.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	cfg := &tls.Config{RootCAs: pool}
	ctx := context.Background()

	// The public fetcher refuses the loopback server, after resolving.
	if _, err := newLogoFetcher(false, cfg)(ctx, srv.URL+"/stemma.png"); err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("fetch from 127.0.0.1: %v, want refused", err)
	}
	if _, err := PublicLogoFetcher()(ctx, "https://localhost:1/x.png"); err == nil {
		t.Errorf("fetch from localhost: no error")
	}
	f := newLogoFetcher(true, cfg)
	if b, err := f(ctx, srv.URL+"/stemma.png"); err != nil || string(b) != "PNGDATA" {
		t.Errorf("fetch: %q, %v", b, err)
	}
	for _, path := range []string{"/grande.png", "/a-http", "/manca.png"} {
		if _, err := f(ctx, srv.URL+path); err == nil {
			t.Errorf("fetch %s: no error", path)
		}
	}
	if _, err := f(ctx, strings.Replace(srv.URL, "https:", "http:", 1)+"/stemma.png"); err == nil {
		t.Errorf("fetch over http: no error")
	}
}
