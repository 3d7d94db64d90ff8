package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"time"
)

// Security is how the connection to the SMTP server is protected.
type Security string

// The security modes of SMTPConfig.
const (
	// StartTLS connects in clear and upgrades with STARTTLS before anything
	// else is said; a server that does not offer it is refused
	// (ErrNoStartTLS). The usual choice on port 587.
	StartTLS Security = "starttls"
	// ImplicitTLS speaks TLS from the first byte (SMTPS, port 465).
	ImplicitTLS Security = "tls"
	// NoTLS sends in clear: only for a relay on the same host or network.
	// AUTH is then refused unless the server is on the loopback address.
	NoTLS Security = "none"
)

// Default timeouts of SMTPConfig.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultTimeout     = 60 * time.Second
)

// SMTPConfig says where and how to submit email.
type SMTPConfig struct {
	// Host and Port of the submission server.
	Host string
	Port int
	// Security is StartTLS, ImplicitTLS or NoTLS; empty means StartTLS.
	Security Security
	// Username and Password, when Username is set, log in with AUTH PLAIN
	// (only over TLS, or in clear to a loopback server).
	Username string
	Password string
	// HELOName is the name given in EHLO; empty means the host name of the
	// machine.
	HELOName string
	// DialTimeout bounds the TCP (and implicit TLS) connection;
	// DefaultDialTimeout when zero.
	DialTimeout time.Duration
	// Timeout bounds the whole conversation of one message, from dial to
	// QUIT; DefaultTimeout when zero. A shorter ctx deadline wins.
	Timeout time.Duration
	// RootCAs, when set, replaces the system's roots to verify the
	// server's certificate (a private CA, or a test server).
	RootCAs *x509.CertPool
}

// Validate reports the first invalid setting.
func (c SMTPConfig) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("smtp: host is empty")
	case c.Port <= 0 || c.Port > 65535:
		return fmt.Errorf("smtp: port %d is not in 1..65535", c.Port)
	case c.DialTimeout < 0 || c.Timeout < 0:
		return errors.New("smtp: timeouts must not be negative")
	case c.Password != "" && c.Username == "":
		return errors.New("smtp: password set without username")
	}
	switch c.Security {
	case "", StartTLS, ImplicitTLS, NoTLS:
	default:
		return fmt.Errorf("smtp: security %q is not one of starttls, tls, none", c.Security)
	}
	return nil
}

// SMTP is a Sender that submits each message on a new connection to one
// server. It holds no connection between messages, so it needs no Close;
// it is safe for concurrent use.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	tls  *tls.Config
}

var _ Sender = (*SMTP)(nil)

// NewSMTP checks cfg, fills its defaults and returns the sender. It does
// not connect: a wrong server shows on the first Send.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Security == "" {
		cfg.Security = StartTLS
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HELOName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		cfg.HELOName = h
	}
	return &SMTP{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tls: &tls.Config{
			ServerName: cfg.Host,
			RootCAs:    cfg.RootCAs,
			MinVersion: tls.VersionTLS12,
		},
	}, nil
}

// Addr returns the server's host:port.
func (s *SMTP) Addr() string { return s.addr }

// Send submits msg to the server for the envelope from → to. Errors say
// which step failed and wrap the server's reply (*textproto.Error, see
// IsPermanent) or the network error.
func (s *SMTP) Send(ctx context.Context, from string, to []string, msg []byte) error {
	from, to, err := envelope(from, to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp %s: connect: %w", s.addr, err)
	}
	// The deadline bounds every read and write of the conversation; when
	// ctx is cancelled earlier, the deadline is moved to now so the
	// blocked call returns at once.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: greeting: %w", s.addr, ctxErr(ctx, err))
	}
	defer c.Close()
	if err := s.converse(c, from, to, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, ctxErr(ctx, err))
	}
	return nil
}

// converse runs the SMTP dialogue on a greeted client.
func (s *SMTP) converse(c *smtp.Client, from string, to []string, msg []byte) error {
	if err := c.Hello(s.cfg.HELOName); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if s.cfg.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return ErrNoStartTLS
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("auth: server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("rcpt to %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The message is accepted once DATA is; a failing QUIT does not undo it.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.DialTimeout}
	if s.cfg.Security == ImplicitTLS {
		td := &tls.Dialer{NetDialer: d, Config: s.tls}
		return td.DialContext(ctx, "tcp", s.addr)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

// ctxErr prefers the context's error over the I/O timeout it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
