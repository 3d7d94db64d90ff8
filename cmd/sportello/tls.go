package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// TLSConfig is the [tls] section: Sportello terminates TLS itself for
// every Comune it hosts (issue 7). Mode off (the built-in default) serves
// plain HTTP on `listen` only, for the demo and for a proxy in front.
type TLSConfig struct {
	// Mode is where certificates come from: "acme" (Let's Encrypt or the
	// Comune's ACME CA), "files" (one certificate and key), "internal"
	// (the cluster's own CA, for closed networks; `sportello tls
	// export-root` prints its root for the browsers) or "off".
	Mode string `toml:"mode"`
	// HTTPSAddr and HTTPAddr are the listeners of the TLS modes: HTTPS
	// with every page, and plain HTTP that only answers ACME HTTP-01
	// challenges and redirects to HTTPS.
	HTTPSAddr string `toml:"https_addr"`
	HTTPAddr  string `toml:"http_addr"`
	// DirectoryURL is the ACME CA's directory; empty means Let's
	// Encrypt's. Setting mode acme accepts that CA's terms of service.
	DirectoryURL string `toml:"directory_url"`
	// Email is the ACME account's contact (expiry warnings).
	Email string `toml:"email"`
	// EABKeyID and EABMACKey: External Account Binding, when the CA wants
	// it (both or neither).
	EABKeyID  string `toml:"eab_key_id"`
	EABMACKey string `toml:"eab_mac_key"`
	// CARootsFile is a PEM bundle to trust for a private ACME CA's HTTPS
	// (step-ca); empty means the system roots.
	CARootsFile string `toml:"ca_roots_file"`
	// HTTP01 and TLSALPN01 enable the two challenges.
	HTTP01    bool `toml:"http01"`
	TLSALPN01 bool `toml:"tlsalpn01"`
	// CertFile and KeyFile are mode files' certificate chain and key,
	// re-read when they change.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// NegativeTTL is how long a name no Comune owns is refused without
	// asking again (scanners' random names in the TLS handshake).
	NegativeTTL time.Duration `toml:"negative_ttl"`
	// RenewCheck is how often certificates are checked for renewal; 0
	// (the default) is certmagic's 10 minutes, right for the 90-day
	// certificates of public CAs. A CA issuing certificates that live
	// less than about an hour (a private CA for short-lived
	// certificates, the tests' pebble) needs a shorter check: certmagic
	// treats a certificate with less than five checks left as due.
	RenewCheck time.Duration `toml:"renew_check"`
	// Wildcard manages one certificate for *.<base_domain> (and the base
	// domain) over DNS-01, instead of one per Comune: new Comuni are
	// covered at once. Needs mode acme and [tls.dns]. Own domains are
	// still obtained on demand.
	Wildcard bool `toml:"wildcard"`
	// DNS is the DNS server that accepts the ACME challenges' TXT records
	// (RFC 2136 dynamic updates signed with TSIG).
	DNS TLSDNSConfig `toml:"dns"`
}

// TLSDNSConfig is [tls.dns]: where DNS-01 challenges are written.
type TLSDNSConfig struct {
	// Server is the primary server accepting updates, host:port.
	Server string `toml:"server"`
	// Zone is the zone to update; empty: found by asking the server.
	Zone string `toml:"zone"`
	// TSIGKeyFile is the key `tsig-keygen` wrote (name, algorithm and
	// secret in one file).
	TSIGKeyFile string `toml:"tsig_key_file"`
	// Net is "udp" (default) or "tcp".
	Net string `toml:"net"`
	// Timeout bounds one update.
	Timeout time.Duration `toml:"timeout"`
	// Resolvers (host:port) check the record's propagation; empty: the
	// system's and the zone's own servers.
	Resolvers []string `toml:"resolvers"`
}

func defaultTLSConfig() TLSConfig {
	return TLSConfig{Mode: string(certs.ModeOff), HTTPSAddr: ":443", HTTPAddr: ":80",
		HTTP01: true, TLSALPN01: true, NegativeTTL: time.Minute}
}

// on reports whether the node terminates TLS.
func (c TLSConfig) on() bool { return c.Mode != string(certs.ModeOff) }

// validate adds the [tls] section's errors.
func (c TLSConfig) validate(bad func(string, ...any)) {
	switch certs.Mode(c.Mode) {
	case certs.ModeOff:
		return
	case certs.ModeACME:
		if !c.HTTP01 && !c.TLSALPN01 && c.DNS.Server == "" {
			bad("tls: mode acme needs http01, tlsalpn01 or [tls.dns]")
		}
		if (c.EABKeyID == "") != (c.EABMACKey == "") {
			bad("tls.eab_key_id and tls.eab_mac_key: set both or neither")
		}
	case certs.ModeFiles:
		if c.CertFile == "" || c.KeyFile == "" {
			bad("tls: mode files needs cert_file and key_file")
		}
	case certs.ModeInternal:
	default:
		bad("tls.mode %q: want acme, files, internal or off", c.Mode)
	}
	if _, _, err := net.SplitHostPort(c.HTTPSAddr); err != nil {
		bad("tls.https_addr %q: %v", c.HTTPSAddr, err)
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("tls.http_addr %q: %v", c.HTTPAddr, err)
		}
	}
	if c.NegativeTTL <= 0 {
		bad("tls.negative_ttl must be positive")
	}
	if c.RenewCheck < 0 {
		bad("tls.renew_check must not be negative (0: every 10 minutes)")
	}
	if c.Wildcard && (certs.Mode(c.Mode) != certs.ModeACME || c.DNS.Server == "") {
		bad("tls.wildcard needs mode acme and [tls.dns] (the wildcard is obtained over DNS-01)")
	}
	if c.DNS.Server != "" {
		if _, _, err := net.SplitHostPort(c.DNS.Server); err != nil {
			bad("tls.dns.server %q: want host:port (%v)", c.DNS.Server, err)
		}
		if c.DNS.TSIGKeyFile == "" {
			bad("tls.dns.tsig_key_file: the server accepts updates signed with a TSIG key (tsig-keygen)")
		}
		if c.DNS.Net != "" && c.DNS.Net != "udp" && c.DNS.Net != "tcp" {
			bad("tls.dns.net %q: want udp or tcp", c.DNS.Net)
		}
	}
}

// dnsProvider is the RFC 2136 writer of [tls.dns], nil without one.
func (c TLSDNSConfig) provider() (*certs.RFC2136, error) {
	if c.Server == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.TSIGKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.dns.tsig_key_file: %w", err)
	}
	name, alg, secret, err := certs.ParseTSIGKeyFile(b)
	if err != nil {
		return nil, fmt.Errorf("tls.dns.tsig_key_file %s: %w", c.TSIGKeyFile, err)
	}
	return &certs.RFC2136{Server: c.Server, Zone: c.Zone, TSIGName: name, TSIGSecret: secret, TSIGAlgorithm: alg,
		Timeout: c.Timeout, Net: c.Net}, nil
}

// tlsFront is a node's TLS side: the certificate manager and the HTTPS
// and port-80 servers.
type tlsFront struct {
	manager          *certs.Manager
	httpsLn, httpLn  net.Listener
	https, redirect  *http.Server
	serveErr         chan error
	log              *slog.Logger
	storage          *certs.Storage
	site             *site.Site // set by newHandler
	httpsPort        int
	started, stopped bool
}

// listenTLS opens the TLS listeners early, like `listen`, so that a port
// in use stops the start before the node opens its files.
func listenTLS(cfg TLSConfig) (*tlsFront, error) {
	if !cfg.on() {
		return nil, nil
	}
	f := &tlsFront{serveErr: make(chan error, 2)}
	var err error
	if f.httpsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
		return nil, fmt.Errorf("listen on tls.https_addr %s: %w", cfg.HTTPSAddr, err)
	}
	f.httpsPort = f.httpsLn.Addr().(*net.TCPAddr).Port
	if cfg.HTTPAddr != "" {
		if f.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			f.httpsLn.Close()
			return nil, fmt.Errorf("listen on tls.http_addr %s: %w", cfg.HTTPAddr, err)
		}
	}
	return f, nil
}

// close releases listeners that were never served.
func (f *tlsFront) close() {
	if f == nil {
		return
	}
	f.httpsLn.Close()
	if f.httpLn != nil {
		f.httpLn.Close()
	}
	if f.manager != nil {
		f.manager.Close()
	}
}

// newManager makes the certificate manager on the replicated state.
func (f *tlsFront) newManager(cfg Config, node *cluster.Node, tenants *tenant.Registry, secrets *auth.Secrets, log *slog.Logger) error {
	f.log = log.With("component", "tls")
	f.storage = certs.NewStorage(node, secrets, time.Now)
	f.storage.Logger = f.log
	dec := certs.NewDecider(tenants.Resolve, cfg.TLS.NegativeTTL)
	acme := certs.ACME{
		DirectoryURL: cfg.TLS.DirectoryURL, Email: cfg.TLS.Email,
		EABKeyID: cfg.TLS.EABKeyID, EABMACKey: cfg.TLS.EABMACKey, CARootsFile: cfg.TLS.CARootsFile,
		HTTP01: cfg.TLS.HTTP01, TLSALPN01: cfg.TLS.TLSALPN01,
		// The challenges are answered where the node listens, which may
		// be other ports than 80 and 443 behind port forwarding.
		AltTLSALPNPort: f.httpsPort,
	}
	if f.httpLn != nil {
		acme.AltHTTPPort = f.httpLn.Addr().(*net.TCPAddr).Port
	} else {
		acme.HTTP01 = false
	}
	dns, err := cfg.TLS.DNS.provider()
	if err != nil {
		return err
	}
	if dns != nil {
		// A nil *RFC2136 in the interface would not be nil: set it only
		// when there is one.
		acme.DNS, acme.DNSResolvers = dns, cfg.TLS.DNS.Resolvers
	}
	managed := certs.PrimaryHosts(tenants)
	if cfg.TLS.Wildcard {
		managed = certs.WildcardHosts(tenants.BaseDomain())
	}
	m, err := certs.NewManager(certs.Config{
		Mode: certs.Mode(cfg.TLS.Mode), ACME: acme, CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
		Storage: f.storage, Decide: dec.Decide, Managed: managed, Logger: f.log,
		RenewCheckInterval: cfg.TLS.RenewCheck,
	})
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	f.manager = m
	return nil
}

// status is certs/web's StatusFunc, nil without TLS.
func (f *tlsFront) status() func(ctx context.Context, name string) (certs.CertStatus, error) {
	if f == nil || f.manager == nil {
		return nil
	}
	return f.manager.Status
}

// serve starts the HTTPS server with the node's handler, the port-80
// server (healthz, ACME challenges, redirect to HTTPS), and the manager's
// certificate maintenance.
func (f *tlsFront) serve(ctx context.Context, cfg Config, handler http.Handler, health http.HandlerFunc) {
	f.https = &http.Server{
		Handler:           handler,
		TLSConfig:         f.manager.TLSConfig(),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		// Failed handshakes are mostly scanners: debug, not warnings.
		ErrorLog: certs.ServerErrorLog(f.log),
	}
	go func() { f.serveErr <- f.https.ServeTLS(f.httpsLn, "", "") }()
	if f.httpLn != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", health)
		mux.Handle("/", f.site.RedirectHTTPS(f.httpsPort, f.manager.HTTPHandler(nil)))
		f.redirect = &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
			ReadTimeout: cfg.HTTP.ReadTimeout, WriteTimeout: cfg.HTTP.WriteTimeout, IdleTimeout: cfg.HTTP.IdleTimeout,
			MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes, ErrorLog: certs.ServerErrorLog(f.log)}
		go func() { f.serveErr <- f.redirect.Serve(f.httpLn) }()
	}
	f.started = true
	go func() {
		// Start obtains the Comuni's certificates in the background and
		// keeps them renewed until ctx ends; a failure is logged per name
		// and shown on /gestione/domini, never fatal for the node.
		if err := f.manager.Start(ctx); err != nil && ctx.Err() == nil {
			f.log.Error("certificate maintenance stopped", "err", err)
		}
	}()
	f.log.Info("serving HTTPS", "https", f.httpsLn.Addr().String(), "http", addrOf(f.httpLn), "mode", cfg.TLS.Mode)
}

// errc reports a server that stopped on its own (nil channel without TLS).
func (f *tlsFront) errc() <-chan error {
	if f == nil || !f.started {
		return nil
	}
	return f.serveErr
}

// shutdown stops both servers, letting requests in flight finish.
func (f *tlsFront) shutdown(ctx context.Context) {
	if f == nil || !f.started || f.stopped {
		return
	}
	f.stopped = true
	for _, srv := range []*http.Server{f.https, f.redirect} {
		if srv == nil {
			continue
		}
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	f.manager.Close()
}

// httpsAddr is the HTTPS listener's address ("" without TLS).
func (f *tlsFront) httpsAddr() string {
	if f == nil {
		return ""
	}
	return f.httpsLn.Addr().String()
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
