package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Data is the message as received, headers and body.
	Data []byte
	// HELO is the name the client gave in EHLO.
	HELO string
	// User is the name the client logged in with, "" without AUTH.
	User string
	// TLS reports whether the message came over TLS.
	TLS bool
}

// Option changes how Start configures the server.
type Option func(*options)

type options struct {
	user, pass  string
	startTLS    bool
	implicitTLS bool
}

// WithAuth offers AUTH PLAIN and requires it before MAIL FROM; only
// username/password is accepted. Plain-text AUTH is allowed, as the
// server listens on the loopback address only.
func WithAuth(username, password string) Option {
	return func(o *options) { o.user, o.pass = username, password }
}

// WithStartTLS offers STARTTLS with a self-signed certificate for
// 127.0.0.1 and localhost; clients trust it through Server.RootCAs.
func WithStartTLS() Option { return func(o *options) { o.startTLS = true } }

// WithImplicitTLS makes the server speak TLS from the first byte (SMTPS).
func WithImplicitTLS() Option { return func(o *options) { o.implicitTLS = true } }

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	// Addr is "127.0.0.1:port"; Host and Port are its parts.
	Addr string
	Host string
	Port int

	opts    options
	srv     *smtp.Server
	rootCAs *x509.CertPool
	ln      net.Listener
	served  chan struct{} // closed when Serve returns
	conns   sync.WaitGroup
	close   sync.Once
	// accepted counts the connections accepted so far; open holds those
	// not closed yet (DropConnections closes them).
	accepted atomic.Int64
	openMu   sync.Mutex
	open     map[*trackedConn]struct{}

	mu       sync.Mutex
	msgs     []Message
	changed  chan struct{} // closed and replaced on every new message
	failNext int
	failCode int
	// refused maps a recipient to the code RCPT TO gets (RefuseRecipient).
	refused map[string]int
}

// Start starts a server on 127.0.0.1:0 and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{}), served: make(chan struct{}), open: map[*trackedConn]struct{}{}}
	for _, o := range opts {
		o(&s.opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	// Connections are counted beneath TLS, so go-smtp still sees a
	// *tls.Conn and reports the connection as secure.
	ln = &trackingListener{Listener: ln, srv: s}
	if s.opts.startTLS || s.opts.implicitTLS {
		cfg, pool, err := selfSigned()
		if err != nil {
			ln.Close()
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.rootCAs = pool
		if s.opts.startTLS {
			srv.TLSConfig = cfg
		}
		if s.opts.implicitTLS {
			ln = tls.NewListener(ln, cfg)
		}
	}
	s.srv, s.ln = srv, ln
	go func() {
		defer close(s.served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(s.Close)
	return s
}

// RootCAs returns a pool that trusts the server's certificate (nil
// without TLS).
func (s *Server) RootCAs() *x509.CertPool { return s.rootCAs }

// Close stops the server, drops its connections and waits for their
// goroutines (at most a few seconds). It is safe to call twice.
func (s *Server) Close() {
	s.close.Do(func() {
		_ = s.srv.Close()
		// Serve may not have registered the listener yet, in which case
		// srv.Close did not close it; closing it here ends Serve either way.
		_ = s.ln.Close()
		<-s.served
		done := make(chan struct{})
		go func() { s.conns.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
}

// Messages returns a copy of the messages received so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until at least n messages arrived and returns all of them;
// it fails the test after timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.msgs), s.changed
		if got >= n {
			msgs := append([]Message(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smtptest: got %d messages after %v, want %d", got, timeout, n)
			return nil
		}
	}
}

// Connections returns how many connections the server has accepted so
// far: a client that reuses its connections makes fewer than it sends
// messages.
func (s *Server) Connections() int { return int(s.accepted.Load()) }

// DropConnections closes every open connection from the server's side, as
// a relay does with connections idle too long; the server keeps listening.
func (s *Server) DropConnections() {
	s.openMu.Lock()
	conns := make([]*trackedConn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.openMu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// FailNext makes the server refuse the next n messages at the end of DATA
// with code: 4xx is a temporary failure the client should retry, 5xx a
// permanent one.
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, code
}

// RefuseRecipient makes the server refuse RCPT TO:<addr> with code,
// from now on.
func (s *Server) RefuseRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]int{}
	}
	s.refused[addr] = code
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

// session is one client connection's transaction state; go-smtp calls it
// from that connection's goroutine only.
type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.srv.opts.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errors.New("identity differs from username")
		}
		if username != ss.srv.opts.user || password != ss.srv.opts.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	code := ss.srv.refused[to]
	ss.srv.mu.Unlock()
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "smtptest: recipient refused as asked by the test"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	s := ss.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return &smtp.SMTPError{
			Code:         s.failCode,
			EnhancedCode: smtp.EnhancedCodeNotSet,
			Message:      "smtptest: refused as asked by the test",
		}
	}
	s.msgs = append(s.msgs, Message{
		From: ss.from,
		To:   append([]string(nil), ss.to...),
		Data: data,
		HELO: ss.conn.Hostname(),
		User: ss.user,
		TLS:  isTLS,
	})
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// trackingListener counts accepted connections, and keeps them in the
// server's wait group until they close, so Close can wait for go-smtp's
// per-connection goroutines, which end by closing their connection.
type trackingListener struct {
	net.Listener
	srv *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.srv
	s.accepted.Add(1)
	s.conns.Add(1)
	tc := &trackedConn{Conn: c, srv: s}
	s.openMu.Lock()
	s.open[tc] = struct{}{}
	s.openMu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	once sync.Once
	srv  *Server
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.srv.openMu.Lock()
		delete(c.srv.open, c)
		c.srv.openMu.Unlock()
		c.srv.conns.Done()
	})
	return err
}

// selfSigned makes a certificate for 127.0.0.1 and localhost valid for a
// day, and a pool that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, pool, nil
}
