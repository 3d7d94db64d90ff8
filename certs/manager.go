package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/sportello-virtuale/sportello/tenant"
)

// Mode is where a Manager's certificates come from.
type Mode string

// The certificate sources, as the [tls] mode key of the configuration
// names them.
const (
	// ModeACME obtains certificates from an ACME CA (Let's Encrypt, or the
	// Comune's own step-ca).
	ModeACME Mode = "acme"
	// ModeFiles serves one certificate and key from files, for every name.
	ModeFiles Mode = "files"
	// ModeInternal signs certificates with the cluster's internal CA, for
	// closed networks whose browsers trust its root.
	ModeInternal Mode = "internal"
	// ModeOff serves no TLS: a proxy in front terminates it.
	ModeOff Mode = "off"
)

// ACME configures the CA of ModeACME.
type ACME struct {
	// DirectoryURL is the CA's directory; empty means Let's Encrypt.
	DirectoryURL string
	// Email is the account's contact address (expiry warnings).
	Email string
	// EABKeyID and EABMACKey bind the account to one the CA knows
	// (External Account Binding), when the CA requires it.
	EABKeyID  string
	EABMACKey string
	// CARootsFile is a PEM file of roots to trust for the directory's
	// HTTPS, for a private ACME CA (step-ca, pebble); empty means the
	// system roots.
	CARootsFile string
	// HTTP01 and TLSALPN01 enable the two challenges; at least one must be.
	HTTP01, TLSALPN01 bool
	// AltHTTPPort and AltTLSALPNPort are where the challenges are answered
	// when not on 80 and 443 (tests, port forwarding).
	AltHTTPPort, AltTLSALPNPort int
	// DNS, when set, answers DNS-01 challenges for the Managed names, by
	// adding TXT records to the base domain's zone: the only challenge a
	// wildcard ("*.<base>", see WildcardHosts) can use. Names obtained on
	// demand (the Comuni's own domains, outside that zone) keep HTTP-01
	// and TLS-ALPN-01, unless neither is enabled. Usually an *RFC2136
	// (dns01.go); leave nil, not a nil *RFC2136, for none.
	DNS certmagic.DNSProvider
	// DNSResolvers are the servers ("host:port") asked to find the zone of
	// a challenge record and to see it published before the CA is told
	// to look. Empty: the system's resolvers, then every authoritative
	// server of the zone (what a public CA will query).
	DNSResolvers []string
}

// Config configures a Manager.
type Config struct {
	Mode     Mode
	ACME     ACME
	CertFile string // ModeFiles
	KeyFile  string // ModeFiles
	// Storage keeps certificates, keys, the ACME account, challenge tokens,
	// locks and the status records: the cluster's replicated state.
	// Required by ModeACME and ModeInternal.
	Storage *Storage
	// Decide says whether a certificate may be obtained on demand, during
	// a TLS handshake, for a name not in Managed (nil error: it may).
	// Required by ModeACME and ModeInternal: (*Decider).Decide.
	Decide func(ctx context.Context, name string) error
	// Managed lists the names whose certificates are obtained and renewed
	// eagerly, without waiting for a handshake: the base-domain host of
	// every Comune. Optional; Start calls it, and again every
	// managedRefresh.
	Managed func(ctx context.Context) ([]string, error)
	// RenewCheckInterval is how often the eager certificates are checked
	// for renewal; 0 is certmagic's default (10 minutes). certmagic also
	// treats a certificate with less than five intervals left as due at
	// once, so certificates shorter-lived than about an hour (a test CA's,
	// or a private CA issuing for hours) need a shorter interval, or they
	// would be renewed at every check and every handshake.
	RenewCheckInterval time.Duration
	Logger             *slog.Logger
}

// CertStatus is what an administrator sees of one name's certificate.
type CertStatus struct {
	Name string
	// State is "valid" (a certificate is served), "pending" (an attempt is
	// under way or due), "failed" (the last attempt failed and no valid
	// certificate is served) or "none" (nothing known).
	State string
	// Issuer is the issuing CA's name, as the certificate gives it, or the
	// issuer the last attempt used.
	Issuer              string
	NotBefore, NotAfter time.Time
	// LastError and LastAttempt are those of the last attempt any node
	// made, kept in the replicated state.
	LastError   string
	LastAttempt time.Time
}

// managedRefresh is how often Start lists the Managed names again, to
// manage the hosts of Comuni created since; a new Comune's host gets its
// certificate on its first handshake anyway, through Decide.
const managedRefresh = 10 * time.Minute

// PrimaryHosts returns a Config.Managed function that lists the
// base-domain host ("<id>.<base-domain>") of every Comune in reg. The
// Comuni's own domains are left to on-demand issuance: their DNS may not
// point at the cluster yet, and eager attempts would fail and retry until
// it does.
func PrimaryHosts(reg *tenant.Registry) func(ctx context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		ts, err := reg.List(ctx)
		if err != nil {
			return nil, err
		}
		hosts := make([]string, 0, len(ts))
		for _, t := range ts {
			hosts = append(hosts, reg.PrimaryHost(t))
		}
		return hosts, nil
	}
}

// options are knobs only tests turn.
type options struct {
	renewCheck     time.Duration // certmagic's renewal check interval
	filesPoll      time.Duration // ModeFiles reload check interval
	managedRefresh time.Duration // how often Start lists Managed again
}

// Manager obtains, renews and serves the node's certificates. In ModeACME
// and ModeInternal it is a certmagic cache with two configurations over
// the shared Storage: one manages the Managed names eagerly (renewed by
// the cache's maintenance goroutine), the other obtains certificates for
// any other name during the handshake, when Decide allows it (renewed on
// later handshakes). In ModeFiles it serves one certificate, reloaded when
// its files change. Safe for concurrent use.
type Manager struct {
	cfg  Config
	opts options
	log  *slog.Logger

	cache    *certmagic.Cache
	eager    *certmagic.Config // OnDemand nil
	onDemand *certmagic.Config // OnDemand with cfg.Decide
	acme     *certmagic.ACMEIssuer
	issuer   string // issuer key of the certificates in Storage

	managedMu sync.Mutex
	managed   map[string]bool // names handed to eager, never removed

	file     atomic.Pointer[fileCert] // ModeFiles
	closeOne sync.Once
}

// NewManager returns a Manager for cfg. It checks the configuration and,
// in ModeFiles, loads the certificate, so that a mistake stops the node
// at start rather than at the first handshake. Call Start, then serve
// TLSConfig on :443 and HTTPHandler on :80; Close releases it.
func NewManager(cfg Config) (*Manager, error) {
	return newManager(cfg, options{})
}

func newManager(cfg Config, opts options) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.filesPoll == 0 {
		opts.filesPoll = 30 * time.Second
	}
	if opts.managedRefresh == 0 {
		opts.managedRefresh = managedRefresh
	}
	if opts.renewCheck == 0 {
		opts.renewCheck = cfg.RenewCheckInterval
	}
	m := &Manager{cfg: cfg, opts: opts, log: cfg.Logger.With("component", "certs"), managed: map[string]bool{}}
	switch cfg.Mode {
	case ModeOff:
		return m, nil
	case ModeFiles:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("certs: mode files needs cert_file and key_file")
		}
		fc, err := loadFileCert(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		m.file.Store(fc)
		return m, nil
	case ModeACME, ModeInternal:
	default:
		return nil, fmt.Errorf("certs: unknown mode %q (want acme, files, internal or off)", cfg.Mode)
	}
	if cfg.Storage == nil {
		return nil, fmt.Errorf("certs: mode %s needs the replicated storage", cfg.Mode)
	}
	if cfg.Decide == nil {
		return nil, fmt.Errorf("certs: mode %s needs a decision function", cfg.Mode)
	}
	var roots *x509.CertPool
	if cfg.Mode == ModeACME {
		if !cfg.ACME.HTTP01 && !cfg.ACME.TLSALPN01 && cfg.ACME.DNS == nil {
			return nil, errors.New("certs: mode acme needs the http-01, the tls-alpn-01 or the dns-01 challenge")
		}
		// DNS-01 (dns01.go): a provider that can check its configuration
		// does so now, not at the first challenge.
		if c, ok := cfg.ACME.DNS.(interface{ Check() error }); ok {
			if err := c.Check(); err != nil {
				return nil, fmt.Errorf("certs: dns-01: %w", err)
			}
		}
		if cfg.ACME.EABKeyID != "" && cfg.ACME.EABMACKey == "" || cfg.ACME.EABKeyID == "" && cfg.ACME.EABMACKey != "" {
			return nil, errors.New("certs: external account binding needs both the key ID and the MAC key")
		}
		if cfg.ACME.EABMACKey != "" {
			// A MAC key acmez cannot decode would fail only at the first
			// account registration, after the node started (eab.go).
			k, err := eabMACKey(cfg.ACME.EABMACKey)
			if err != nil {
				return nil, err
			}
			cfg.ACME.EABMACKey, m.cfg.ACME.EABMACKey = k, k
		}
		if f := cfg.ACME.CARootsFile; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("certs: ACME CA roots: %w", err)
			}
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("certs: ACME CA roots: no certificate in %s", f)
			}
		}
	}

	zl := zapLogger(m.log.Handler())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: opts.renewCheck,
		Logger:             zl,
	})
	// Both configurations share the cache and the storage; each needs its
	// own issuer, since certmagic binds an issuer to one configuration.
	mk := func(onDemand *certmagic.OnDemandConfig) *certmagic.Config {
		c := certmagic.New(m.cache, certmagic.Config{
			OnEvent:   m.onEvent,
			OnDemand:  onDemand,
			Storage:   cfg.Storage,
			KeySource: certmagic.StandardKeyGenerator{KeyType: certmagic.P256},
			Logger:    zl,
		})
		if cfg.Mode == ModeInternal {
			c.Issuers = []certmagic.Issuer{&internalIssuer{storage: cfg.Storage}}
			// The internal CA runs no OCSP responder.
			c.OCSP.DisableStapling = true
			return c
		}
		// OCSP stapling stays on (certmagic's default) for CAs that still
		// run a responder. Setting the proxy function is what gives
		// certmagic's OCSP requests a client with a timeout (30 s): without
		// it they use http.DefaultClient, which has none, and a responder
		// that accepts and never answers would hold the handshake loading
		// a certificate, or the maintenance goroutine, forever
		// (TestPebbleOCSPResponderHangs). The proxy is the environment's,
		// as for the ACME requests.
		c.OCSP.HTTPProxy = http.ProxyFromEnvironment
		iss := certmagic.NewACMEIssuer(c, certmagic.ACMEIssuer{
			CA:                      cfg.ACME.DirectoryURL,
			Email:                   cfg.ACME.Email,
			Agreed:                  true,
			DisableHTTPChallenge:    !cfg.ACME.HTTP01,
			DisableTLSALPNChallenge: !cfg.ACME.TLSALPN01,
			AltHTTPPort:             cfg.ACME.AltHTTPPort,
			AltTLSALPNPort:          cfg.ACME.AltTLSALPNPort,
			TrustedRoots:            roots,
			Logger:                  zl,
		})
		// DNS-01 (dns01.go) for the eager configuration, which holds the
		// base domain's names and its wildcard; certmagic then uses it
		// alone. On demand only when it is the only challenge enabled.
		if cfg.ACME.DNS != nil && (onDemand == nil || !cfg.ACME.HTTP01 && !cfg.ACME.TLSALPN01) {
			iss.DNS01Solver = m.dns01Solver(zl)
		}
		if cfg.ACME.EABKeyID != "" {
			iss.ExternalAccount = &acme.EAB{KeyID: cfg.ACME.EABKeyID, MACKey: cfg.ACME.EABMACKey}
		}
		c.Issuers = []certmagic.Issuer{iss}
		return c
	}
	m.eager = mk(nil)
	m.onDemand = mk(&certmagic.OnDemandConfig{DecisionFunc: cfg.Decide})
	m.issuer = m.onDemand.Issuers[0].IssuerKey()
	if iss, ok := m.onDemand.Issuers[0].(*certmagic.ACMEIssuer); ok {
		m.acme = iss
	}
	return m, nil
}

// configForCert tells the cache's maintenance which configuration a cached
// certificate belongs to: the eager one renews in the background, the
// on-demand one on handshakes.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	m.managedMu.Lock()
	defer m.managedMu.Unlock()
	for _, n := range c.Names {
		if m.managed[n] {
			return m.eager, nil
		}
	}
	return m.onDemand, nil
}

// Start manages the Managed names (loading their certificates from the
// storage, obtaining missing ones in the background) and keeps doing so
// for names added later, until ctx ends; in ModeFiles it watches the
// files. It returns the error of the first listing of Managed, if any;
// failures to obtain are logged and retried, not returned.
func (m *Manager) Start(ctx context.Context) error {
	switch m.cfg.Mode {
	case ModeOff:
		return nil
	case ModeFiles:
		go m.watchFiles(ctx)
		return nil
	}
	go func() {
		<-ctx.Done()
		m.Close()
	}()
	if m.cfg.Managed == nil {
		return nil
	}
	if err := m.manage(ctx); err != nil {
		return err
	}
	// This goroutine ends with ctx.
	go func() {
		t := time.NewTicker(m.opts.managedRefresh)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := m.manage(ctx); err != nil && ctx.Err() == nil {
					m.log.Error("list the names to manage", "err", err)
				}
			}
		}
	}()
	return nil
}

// manage hands the Managed names not yet managed to the eager
// configuration.
func (m *Manager) manage(ctx context.Context) error {
	names, err := m.cfg.Managed(ctx)
	if err != nil {
		return fmt.Errorf("certs: list the names to manage: %w", err)
	}
	var add []string
	m.managedMu.Lock()
	for _, n := range names {
		h, err := normalizeManaged(n) // NormalizeName, and wildcards (dns01.go)
		if err != nil {
			m.log.Warn("not managing a name no certificate can be issued for", "name", n, "err", err)
			continue
		}
		if !m.managed[h] {
			m.managed[h] = true
			add = append(add, h)
		}
	}
	m.managedMu.Unlock()
	if len(add) == 0 {
		return nil
	}
	slices.Sort(add)
	m.log.Info("managing certificates", "names", add, "issuer", m.issuer)
	return m.eager.ManageAsync(ctx, add)
}

// Close stops the certificate maintenance. It is safe to call more than
// once; Start calls it when its context ends.
func (m *Manager) Close() {
	m.closeOne.Do(func() {
		if m.cache != nil {
			m.cache.Stop()
		}
	})
}

// TLSConfig returns the configuration of the :443 listener: HTTP/2 and
// HTTP/1.1, and acme-tls/1 for the TLS-ALPN challenge. It is nil in
// ModeOff.
func (m *Manager) TLSConfig() *tls.Config {
	protos := []string{"h2", "http/1.1"}
	switch m.cfg.Mode {
	case ModeOff:
		return nil
	case ModeFiles:
		return &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     protos,
			GetCertificate: m.fileCertificate,
		}
	}
	tc := m.onDemand.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	tc.NextProtos = append(protos, tc.NextProtos...)
	tc.GetCertificate = m.getCertificate
	return tc
}

// getCertificate serves a handshake. A Managed name is served by the eager
// configuration, so that its certificate is renewed by the maintenance
// goroutine only, not also by handshakes; when that has no certificate
// yet (the first obtain is still running) the on-demand configuration
// waits for it, or obtains it, as for any other name Decide allows. The
// TLS-ALPN challenge is answered by either.
func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	m.managedMu.Lock()
	// Or covered by a managed wildcard (dns01.go).
	managed := m.managed[name] || m.managed[wildcardOf(name)]
	m.managedMu.Unlock()
	if managed {
		if c, err := m.eager.GetCertificate(hello); err == nil {
			return c, nil
		}
	}
	return m.onDemand.GetCertificate(hello)
}

// HTTPHandler answers ACME HTTP-01 challenges, whichever node started
// them (the challenge is in Storage), and passes every other request to
// next. Outside ModeACME it is next.
func (m *Manager) HTTPHandler(next http.Handler) http.Handler {
	if m.acme == nil {
		return next
	}
	return m.acme.HTTPChallengeHandler(next)
}
