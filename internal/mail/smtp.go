package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"sync"
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

// Defaults of SMTPConfig.
const (
	DefaultDialTimeout = 10 * time.Second
	DefaultTimeout     = 60 * time.Second
	// DefaultPoolSize matches the outbox worker's parallel deliveries
	// (cluster.Config.OutboxParallel), so that a busy worker finds a
	// connection for each of them.
	DefaultPoolSize = 8
	// DefaultIdleTimeout is well below the five minutes RFC 5321 asks
	// servers to wait for the next command, so a pooled connection is
	// rarely found closed by the server.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxMessagesPerConn keeps under the per-connection limits
	// that common relays set (often 100 or more).
	DefaultMaxMessagesPerConn = 50
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
	// Timeout bounds the delivery of one message: the dial and the
	// greeting, EHLO, STARTTLS and AUTH when no pooled connection is
	// ready, then MAIL FROM to the end of DATA; DefaultTimeout when
	// zero. A shorter ctx deadline wins.
	Timeout time.Duration
	// RootCAs, when set, replaces the system's roots to verify the
	// server's certificate (a private CA, or a test server).
	RootCAs *x509.CertPool
	// PoolSize is how many idle connections Send keeps for the next
	// messages (greeted, TLS set up, logged in); DefaultPoolSize when
	// zero, none when negative (a new connection per message).
	PoolSize int
	// IdleTimeout closes, instead of reusing, a connection idle for
	// longer; DefaultIdleTimeout when zero.
	IdleTimeout time.Duration
	// MaxMessagesPerConn is how many messages one connection carries
	// before it is closed with QUIT; DefaultMaxMessagesPerConn when zero.
	MaxMessagesPerConn int
}

// Validate reports the first invalid setting.
func (c SMTPConfig) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("smtp: host is empty")
	case c.Port <= 0 || c.Port > 65535:
		return fmt.Errorf("smtp: port %d is not in 1..65535", c.Port)
	case c.DialTimeout < 0 || c.Timeout < 0 || c.IdleTimeout < 0:
		return errors.New("smtp: timeouts must not be negative")
	case c.MaxMessagesPerConn < 0:
		return errors.New("smtp: messages per connection must not be negative")
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

// SMTP is a Sender that submits messages to one server, keeping a few
// connections open between messages (SMTPConfig.PoolSize): a connection,
// its greeting, EHLO, STARTTLS and AUTH cost more than a message on the
// leader that delivers a Comune's emails, and the relay pays for them too.
// It starts no goroutine: an idle connection is checked when it is taken
// and closed if it is too old. It is safe for concurrent use; Close closes
// the idle connections.
type SMTP struct {
	cfg  SMTPConfig
	addr string
	tls  *tls.Config

	mu     sync.Mutex
	idle   []*smtpConn // the most recently used last
	closed bool
}

// smtpConn is a greeted (and, as configured, TLS-protected and logged
// in) connection ready for MAIL FROM.
type smtpConn struct {
	conn  net.Conn // beneath TLS, to set deadlines
	c     *smtp.Client
	sent  int       // messages accepted on it
	since time.Time // when it went idle
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
	if cfg.PoolSize == 0 {
		cfg.PoolSize = DefaultPoolSize
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxMessagesPerConn == 0 {
		cfg.MaxMessagesPerConn = DefaultMaxMessagesPerConn
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
//
// On a pooled connection that fails before the server accepted DATA (the
// server closed it while it was idle, or answers 421), Send tries once more
// on a new connection: the server has taken nothing of the message yet.
// Once DATA is accepted it never retries: after the final "." the server
// may have queued the message even if its answer was lost, and the
// outbox's at-least-once rules, not a silent resend here, cover that.
func (s *SMTP) Send(ctx context.Context, from string, to []string, msg []byte) error {
	from, to, err := envelope(from, to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	if sc := s.take(); sc != nil {
		committed, err := s.deliver(ctx, sc, from, to, msg)
		if err == nil {
			return nil
		}
		if committed || ctx.Err() != nil || IsPermanent(err) {
			return fmt.Errorf("smtp %s: %w", s.addr, ctxErr(ctx, err))
		}
	}
	sc, err := s.open(ctx)
	if err != nil {
		return err
	}
	if _, err := s.deliver(ctx, sc, from, to, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, ctxErr(ctx, err))
	}
	return nil
}

// Close closes the idle connections (with QUIT) and stops pooling: a Send
// after Close still works, on a connection of its own. Safe to call twice.
func (s *SMTP) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	s.mu.Unlock()
	for _, sc := range idle {
		s.quit(sc)
	}
	return nil
}

// take returns the most recently used idle connection that is young
// enough, closing the older ones, or nil.
func (s *SMTP) take() *smtpConn {
	now := time.Now()
	var stale []*smtpConn
	var sc *smtpConn
	s.mu.Lock()
	for len(s.idle) > 0 {
		last := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if now.Sub(last.since) < s.cfg.IdleTimeout {
			sc = last
			break
		}
		stale = append(stale, last)
	}
	// Every connection older than the one taken is older still.
	if sc != nil {
		for _, old := range s.idle {
			if now.Sub(old.since) >= s.cfg.IdleTimeout {
				stale = append(stale, old)
			}
		}
		s.idle = withoutConns(s.idle, stale)
	}
	s.mu.Unlock()
	for _, old := range stale {
		// No QUIT: the server has probably dropped it already.
		old.c.Close()
	}
	return sc
}

// withoutConns returns idle without the connections in drop, in place.
func withoutConns(idle, drop []*smtpConn) []*smtpConn {
	if len(drop) == 0 {
		return idle
	}
	gone := make(map[*smtpConn]bool, len(drop))
	for _, d := range drop {
		gone[d] = true
	}
	kept := idle[:0]
	for _, c := range idle {
		if !gone[c] {
			kept = append(kept, c)
		}
	}
	return kept
}

// put returns a connection that just carried a message to the pool, or
// closes it with QUIT when it has carried its share, the pool is full or
// closed.
func (s *SMTP) put(sc *smtpConn) {
	s.mu.Lock()
	if !s.closed && sc.sent < s.cfg.MaxMessagesPerConn && len(s.idle) < s.cfg.PoolSize {
		sc.since = time.Now()
		s.idle = append(s.idle, sc)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.quit(sc)
}

// quitTimeout bounds the QUIT of a connection that is let go.
const quitTimeout = 5 * time.Second

// quit says goodbye and closes sc. The messages it carried are accepted
// already; a failing QUIT changes nothing.
func (s *SMTP) quit(sc *smtpConn) {
	_ = sc.conn.SetDeadline(time.Now().Add(quitTimeout))
	_ = sc.c.Quit()
	sc.c.Close()
}

// guard bounds every read and write on conn by ctx: its deadline, and
// when ctx is cancelled earlier, a deadline in the past so the blocked
// call returns at once. release reports whether conn is still usable
// (ctx did not end meanwhile) and clears the deadline.
func guard(ctx context.Context, conn net.Conn) (release func() bool) {
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return func() bool {
		if !stop() {
			return false
		}
		_ = conn.SetDeadline(time.Time{})
		return true
	}
}

// open dials the server and gets a connection ready for MAIL FROM:
// greeting, EHLO, STARTTLS and AUTH as configured.
func (s *SMTP) open(ctx context.Context) (*smtpConn, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("smtp %s: connect: %w", s.addr, err)
	}
	release := guard(ctx, conn)
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		release()
		conn.Close()
		return nil, fmt.Errorf("smtp %s: greeting: %w", s.addr, ctxErr(ctx, err))
	}
	err = s.hello(c)
	if !release() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("smtp %s: %w", s.addr, ctxErr(ctx, err))
	}
	return &smtpConn{conn: conn, c: c}, nil
}

// hello runs the start of the dialogue on a greeted client: EHLO, then
// STARTTLS and AUTH as configured.
func (s *SMTP) hello(c *smtp.Client) error {
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
	return nil
}

// deliver sends one message on sc. committed reports whether the server
// had accepted DATA (it may have the message even when err is set). On
// success sc goes back to the pool; on an error it is closed.
func (s *SMTP) deliver(ctx context.Context, sc *smtpConn, from string, to []string, msg []byte) (committed bool, err error) {
	release := guard(ctx, sc.conn)
	committed, err = transaction(sc.c, from, to, msg)
	usable := release()
	if err != nil {
		sc.c.Close()
		return committed, err
	}
	sc.sent++
	if !usable {
		// ctx ended just as the message went through: the deadline is
		// spoilt, so the connection is not kept.
		sc.c.Close()
		return true, nil
	}
	s.put(sc)
	return true, nil
}

// transaction runs MAIL FROM, RCPT TO and DATA on a ready client.
func transaction(c *smtp.Client, from string, to []string, msg []byte) (committed bool, err error) {
	if ok, _ := c.Extension("PIPELINING"); ok {
		if err := pipelinedEnvelope(c, from, to); err != nil {
			return false, err
		}
		return sendData(c, msg)
	}
	if err := c.Mail(from); err != nil {
		return false, fmt.Errorf("mail from: %w", err)
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return false, fmt.Errorf("rcpt to %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return false, fmt.Errorf("data: %w", err)
	}
	return writeData(c, w, msg)
}

// pipelinedEnvelope sends MAIL FROM, every RCPT TO and DATA in one write
// and then reads their replies in order (RFC 2920), for a server that
// offers PIPELINING, as every common relay does: one round trip and one
// write instead of one each per command. net/smtp sends a command and
// waits for its reply; with a few thousand emails a second the leader
// spent more on those small writes and reads than on composing the
// messages. The commands are those net/smtp's Mail, Rcpt and Data write.
// Every reply is read even after a refusal, so that an error leaves no
// reply unread; the caller closes the connection on any error anyway.
func pipelinedEnvelope(c *smtp.Client, from string, to []string) error {
	for _, a := range append([]string{from}, to...) {
		if strings.ContainsAny(a, "\r\n") {
			return errors.New("smtp: a line must not contain CR or LF")
		}
	}
	w := c.Text.W
	w.WriteString("MAIL FROM:<")
	w.WriteString(from)
	w.WriteString(">")
	if ok, _ := c.Extension("8BITMIME"); ok {
		w.WriteString(" BODY=8BITMIME")
	}
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		w.WriteString(" SMTPUTF8")
	}
	w.WriteString("\r\n")
	for _, r := range to {
		w.WriteString("RCPT TO:<")
		w.WriteString(r)
		w.WriteString(">\r\n")
	}
	w.WriteString("DATA\r\n")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		keep(fmt.Errorf("mail from: %w", err))
	}
	for _, r := range to {
		if _, _, err := c.Text.ReadResponse(25); err != nil {
			keep(fmt.Errorf("rcpt to %s: %w", r, err))
		}
	}
	if _, _, err := c.Text.ReadResponse(354); err != nil {
		keep(fmt.Errorf("data: %w", err))
	} else if first != nil {
		// The server took DATA although a command before it failed
		// (RFC 2920 lets it): nothing must be sent as the message.
		keep(errors.New("data: accepted after an earlier refusal"))
	}
	return first
}

// sendData writes the message after a 354 reply to a pipelined DATA and
// reads the server's verdict.
func sendData(c *smtp.Client, msg []byte) (committed bool, err error) {
	w := c.Text.DotWriter()
	if committed, err = writeData(c, w, msg); err != nil {
		return committed, err
	}
	if _, _, err := c.Text.ReadResponse(250); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	return true, nil
}

// writeData writes msg through w, the dot-writer of DATA, and closes it.
func writeData(c *smtp.Client, w io.WriteCloser, msg []byte) (committed bool, err error) {
	if crlfOnly(msg) {
		// net/textproto's dot-writer handles the message a byte at a
		// time (a third of Send's CPU for an 8 KB email); for a
		// message whose lines all end in CRLF the dot-stuffing is done
		// here a line at a time, straight into the connection's
		// buffer, and the dot-writer only sees the last CRLF, after
		// which it ends the data with "." as always.
		body := msg[:len(msg)-2]
		stuffDots(c.Text.W, body)
		msg = msg[len(body):]
	}
	if _, err := w.Write(msg); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("data: %w", err)
	}
	return true, nil
}

// crlfOnly reports whether msg ends in CRLF and has no CR or LF other
// than in CRLF pairs: what ComposeEmail and any RFC 5322 message give.
func crlfOnly(msg []byte) bool {
	if len(msg) < 2 || msg[len(msg)-2] != '\r' || msg[len(msg)-1] != '\n' {
		return false
	}
	for i := 0; i < len(msg); {
		j := bytes.IndexAny(msg[i:], "\r\n")
		if j < 0 {
			return true
		}
		i += j
		if msg[i] != '\r' || i+1 >= len(msg) || msg[i+1] != '\n' {
			return false
		}
		i += 2
	}
	return true
}

// stuffDots writes b, whose line ends are all CRLF, doubling the dot
// that starts a line (RFC 5321, 4.5.2), as net/textproto's dot-writer
// does.
func stuffDots(w *bufio.Writer, b []byte) {
	for len(b) > 0 {
		if b[0] == '.' {
			w.WriteByte('.')
		}
		n := bytes.IndexByte(b, '\n') + 1
		if n == 0 {
			n = len(b)
		}
		w.Write(b[:n])
		b = b[n:]
	}
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
