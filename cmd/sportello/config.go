package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	mailer "github.com/sportello-virtuale/sportello/internal/mail"
)

// Config is the node's configuration: the TOML file of `sportello serve`,
// or the flags of `sportello demo` over the same defaults. Durations are
// strings such as "5s" or "1h30m".
type Config struct {
	// DataDir holds the node's state: cluster/ (raft log, snapshots,
	// SQLite), mailbox/ and the admin socket admin.sock.
	DataDir string `toml:"data_dir"`
	// NodeID is the node's stable raft ID; never change it once the node
	// has started.
	NodeID string `toml:"node_id"`
	// Listen is the HTTP address, "127.0.0.1:8080".
	Listen string `toml:"listen"`
	// RaftAddr is the raft transport's address; port 0 picks a free one.
	RaftAddr string `toml:"raft_addr"`
	// BaseDomain: each Comune answers on <id>.<base_domain>.
	BaseDomain string `toml:"base_domain"`

	Log       LogConfig       `toml:"log"`
	HTTP      HTTPConfig      `toml:"http"`
	RateLimit RateLimitConfig `toml:"rate_limit"`
	Mail      MailConfig      `toml:"mail"`
	SMTP      SMTPConfig      `toml:"smtp"`
	Outbox    OutboxConfig    `toml:"outbox"`
	Cluster   ClusterConfig   `toml:"cluster"`
	Push      PushConfig      `toml:"push"`
	TLS       TLSConfig       `toml:"tls"`
	Media     MediaConfig     `toml:"media"`     // media_config.go
	Metrics   MetricsConfig   `toml:"metrics"`   // metrics.go
	Assistant AssistantConfig `toml:"assistant"` // assistant.go
	Backup    BackupConfig    `toml:"backup"`    // config_backup.go
	Privacy   PrivacyConfig   `toml:"privacy"`   // config_privacy.go
	AppIO     AppIOConfig     `toml:"appio"`     // config_appio.go

	// FaultInjection is set by the hidden flag --fault-injection of serve
	// and demo, never by the file: tests only (admin_faults.go).
	FaultInjection bool `toml:"-"`
}

// LogConfig sets what the node logs and how.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // json or text
}

// HTTPConfig bounds the HTTP server.
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	ReadTimeout       time.Duration `toml:"read_timeout"`
	WriteTimeout      time.Duration `toml:"write_timeout"`
	IdleTimeout       time.Duration `toml:"idle_timeout"`
	ShutdownTimeout   time.Duration `toml:"shutdown_timeout"`
	MaxHeaderBytes    int           `toml:"max_header_bytes"`
	MaxBodyBytes      int64         `toml:"max_body_bytes"`
	// TrustProxyHeaders takes the client address and scheme from
	// X-Forwarded-For and X-Forwarded-Proto; only behind a proxy.
	TrustProxyHeaders bool `toml:"trust_proxy_headers"`
}

// RateLimitConfig limits booking creations per client address.
type RateLimitConfig struct {
	// BookingsPerMinute refills the bucket; -1 disables the limit.
	BookingsPerMinute float64 `toml:"bookings_per_minute"`
	Burst             int     `toml:"burst"`
	MaxClients        int     `toml:"max_clients"`
	// TicketsPerMinute and TicketsBurst are the same bucket for the
	// virtual queue's tickets (web form, kiosk, API); -1 disables it.
	// An office whose kiosk shares one address with the hall's Wi-Fi
	// needs more than the default.
	TicketsPerMinute float64 `toml:"tickets_per_minute"`
	TicketsBurst     int     `toml:"tickets_burst"`
}

// MailConfig chooses how email leaves the node.
type MailConfig struct {
	// Delivery is "smtp" (the [smtp] server) or "mailbox" (files in
	// <data_dir>/mailbox, nothing leaves the machine).
	Delivery string `toml:"delivery"`
	// DefaultFrom is the sender of Comuni that have none of their own,
	// "Sportello <noreply@sportello.example.it>"; optional.
	DefaultFrom string `toml:"default_from"`
}

// SMTPConfig is the submission server; see mail.SMTPConfig.
type SMTPConfig struct {
	Host         string        `toml:"host"`
	Port         int           `toml:"port"`
	Security     string        `toml:"security"` // starttls, tls, none
	Username     string        `toml:"username"`
	Password     string        `toml:"password"`
	PasswordFile string        `toml:"password_file"`
	HELOName     string        `toml:"helo_name"`
	DialTimeout  time.Duration `toml:"dial_timeout"`
	Timeout      time.Duration `toml:"timeout"`
	// CAFile is a PEM bundle that replaces the system roots to verify
	// the server (a private CA).
	CAFile string `toml:"ca_file"`
}

// OutboxConfig tunes the retries of email delivery.
type OutboxConfig struct {
	Backoff     time.Duration `toml:"backoff"`
	MaxBackoff  time.Duration `toml:"max_backoff"`
	MaxAttempts int           `toml:"max_attempts"`
	Timeout     time.Duration `toml:"timeout"`
	// Parallel is how many emails the leader sends at once (one
	// booking's emails still go one after the other).
	Parallel int `toml:"parallel"`
}

// Delivery modes of MailConfig.
const (
	deliverySMTP    = "smtp"
	deliveryMailbox = "mailbox"
)

// defaultConfig returns the configuration every field falls back to: a
// demo-like node on the loopback address.
func defaultConfig() Config {
	return Config{
		DataDir:    "./sportello-data",
		NodeID:     "node1",
		Listen:     "127.0.0.1:8080",
		RaftAddr:   "127.0.0.1:0",
		BaseDomain: "localhost",
		Log:        LogConfig{Level: "info", Format: "text"},
		HTTP: HTTPConfig{
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			MaxHeaderBytes:    64 << 10,
			MaxBodyBytes:      64 << 10,
		},
		RateLimit: RateLimitConfig{BookingsPerMinute: 10, Burst: 5, MaxClients: 10000, TicketsPerMinute: 6, TicketsBurst: 3},
		Mail:      MailConfig{Delivery: deliveryMailbox},
		SMTP: SMTPConfig{
			Port:        587,
			Security:    string(mailer.StartTLS),
			DialTimeout: mailer.DefaultDialTimeout,
			Timeout:     mailer.DefaultTimeout,
		},
		Push:  PushConfig{Enabled: true},
		TLS:   defaultTLSConfig(),
		Media: defaultMediaConfig(),
		// The assistant needs nothing outside the node: on by default.
		Assistant: AssistantConfig{Enabled: true},
		Backup:    defaultBackupConfig(),
		Privacy:   defaultPrivacyConfig(),
		AppIO:     defaultAppIOConfig(),
		Outbox: OutboxConfig{
			Backoff:     10 * time.Second,
			MaxBackoff:  time.Hour,
			MaxAttempts: 10,
			Timeout:     30 * time.Second,
			Parallel:    8,
		},
	}
}

// errConfig marks errors in the configuration (exit code 2).
var errConfig = errors.New("invalid configuration")

// loadConfig reads the TOML file at path over the defaults and validates
// it. Keys the file has and Config does not are an error (a typo must not
// silently fall back to a default). Relative paths in the file are
// relative to the file's folder.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %s: %v", errConfig, path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%w: %s: unknown keys: %s", errConfig, path, strings.Join(keys, ", "))
	}
	base := filepath.Dir(path)
	for _, p := range []*string{&cfg.DataDir, &cfg.SMTP.PasswordFile, &cfg.SMTP.CAFile, &cfg.Push.CAFile,
		&cfg.Media.TURN.TLSCertFile, &cfg.Media.TURN.TLSKeyFile,
		&cfg.TLS.CertFile, &cfg.TLS.KeyFile, &cfg.TLS.CARootsFile, &cfg.TLS.DNS.TSIGKeyFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.DataDir == "" {
		bad("data_dir is empty")
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		bad("node_id %q: want 1-64 letters, digits, '.', '_' or '-'", c.NodeID)
	}
	for name, addr := range map[string]string{"listen": c.Listen, "raft_addr": c.RaftAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q: want host:port (%v)", name, addr, err)
		}
	}
	if c.BaseDomain == "" || strings.ContainsAny(c.BaseDomain, ":/ ") {
		bad("base_domain %q: want a host name such as sportello.example.it", c.BaseDomain)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level: %v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format %q: want json or text", c.Log.Format)
	}
	h := c.HTTP
	for name, d := range map[string]time.Duration{
		"http.read_header_timeout": h.ReadHeaderTimeout, "http.read_timeout": h.ReadTimeout,
		"http.write_timeout": h.WriteTimeout, "http.idle_timeout": h.IdleTimeout,
		"http.shutdown_timeout": h.ShutdownTimeout,
	} {
		if d <= 0 {
			bad("%s must be positive", name)
		}
	}
	if h.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes %d: want at least 1024", h.MaxBodyBytes)
	}
	if h.MaxHeaderBytes < 4096 {
		bad("http.max_header_bytes %d: want at least 4096", h.MaxHeaderBytes)
	}
	r := c.RateLimit
	if r.BookingsPerMinute == 0 || (r.BookingsPerMinute < 0 && r.BookingsPerMinute != -1) {
		bad("rate_limit.bookings_per_minute %v: want a positive number, or -1 to disable the limit", r.BookingsPerMinute)
	}
	if r.BookingsPerMinute > 0 && r.Burst < 1 {
		bad("rate_limit.burst %d: want at least 1", r.Burst)
	}
	if r.MaxClients < 0 {
		bad("rate_limit.max_clients must not be negative")
	}
	if r.TicketsPerMinute == 0 || (r.TicketsPerMinute < 0 && r.TicketsPerMinute != -1) {
		bad("rate_limit.tickets_per_minute %v: want a positive number, or -1 to disable the limit", r.TicketsPerMinute)
	}
	if r.TicketsPerMinute > 0 && r.TicketsBurst < 1 {
		bad("rate_limit.tickets_burst %d: want at least 1", r.TicketsBurst)
	}
	if c.Mail.DefaultFrom != "" {
		if _, err := mail.ParseAddress(c.Mail.DefaultFrom); err != nil {
			bad("mail.default_from %q: %v", c.Mail.DefaultFrom, err)
		}
	}
	switch c.Mail.Delivery {
	case deliveryMailbox:
	case deliverySMTP:
		if c.SMTP.Password != "" && c.SMTP.PasswordFile != "" {
			bad("smtp.password and smtp.password_file are both set: keep one")
		}
		if err := c.SMTP.mailConfig("").Validate(); err != nil {
			bad("%v", err)
		}
	default:
		bad("mail.delivery %q: want smtp or mailbox", c.Mail.Delivery)
	}
	o := c.Outbox
	if o.Backoff <= 0 || o.MaxBackoff < o.Backoff || o.Timeout <= 0 {
		bad("outbox: backoff and timeout must be positive and max_backoff at least backoff")
	}
	if o.MaxAttempts < 1 {
		bad("outbox.max_attempts %d: want at least 1", o.MaxAttempts)
	}
	if o.Parallel < 1 || o.Parallel > 256 {
		bad("outbox.parallel %d: want 1 to 256", o.Parallel)
	}
	c.Cluster.validate(bad)
	c.Push.validate(bad)
	c.TLS.validate(bad)
	c.Media.validate(bad)
	c.Metrics.validate(bad)
	c.Assistant.validate(bad)
	c.Backup.validate(bad)
	c.Privacy.validate(bad)
	c.AppIO.validate(bad)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errConfig, errors.Join(errs...))
	}
	return nil
}

// mailConfig converts to the mail package's settings, with the password
// given (read from PasswordFile by the caller).
func (s SMTPConfig) mailConfig(password string) mailer.SMTPConfig {
	if password == "" {
		password = s.Password
	}
	return mailer.SMTPConfig{
		Host:        s.Host,
		Port:        s.Port,
		Security:    mailer.Security(s.Security),
		Username:    s.Username,
		Password:    password,
		HELOName:    s.HELOName,
		DialTimeout: s.DialTimeout,
		Timeout:     s.Timeout,
	}
}

// newSender builds the SMTP sender, reading the password and CA files.
func (s SMTPConfig) newSender() (*mailer.SMTP, error) {
	var password string
	if s.PasswordFile != "" {
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.password_file: %w", err)
		}
		password = strings.TrimSpace(string(b))
	}
	mc := s.mailConfig(password)
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp.ca_file %s: no PEM certificate found", s.CAFile)
		}
		mc.RootCAs = pool
	}
	return mailer.NewSMTP(mc)
}

var logLevels = []string{"debug", "info", "warn", "error"}

func parseLevel(s string) (slog.Level, error) {
	if !slices.Contains(logLevels, s) {
		return 0, fmt.Errorf("%q: want one of %s", s, strings.Join(logLevels, ", "))
	}
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// newLogger returns the node's logger as c.Log asks, writing to w.
func (c LogConfig) newLogger(w interface{ Write([]byte) (int, error) }) *slog.Logger {
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
