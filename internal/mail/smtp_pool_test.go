package mail_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// poolSender returns a sender to srv with the given pool settings; the
// test closes it.
func poolSender(t *testing.T, srv *smtptest.Server, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	cfg.Host, cfg.Port, cfg.HELOName, cfg.RootCAs = srv.Host, srv.Port, "node1.sportello.test", srv.RootCAs()
	if cfg.Security == "" {
		cfg.Security = mail.NoTLS
	}
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sendN(t *testing.T, s *mail.SMTP, n int) {
	t.Helper()
	for i := range n {
		msg := []byte(fmt.Sprintf("Subject: prova %d\r\n\r\nCorpo.\r\n", i))
		if err := s.Send(context.Background(), "noreply@bari.localhost", []string{"maria.rossi@example.it"}, msg); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
}

func TestSMTPReusesConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       mail.SMTPConfig
		opts      []smtptest.Option
		sends     int
		wantConns int
	}{
		{"default pool, one connection", mail.SMTPConfig{}, nil, 5, 1},
		{"over starttls with login", mail.SMTPConfig{Security: mail.StartTLS, Username: "sportello", Password: "segreta"},
			[]smtptest.Option{smtptest.WithStartTLS(), smtptest.WithAuth("sportello", "segreta")}, 5, 1},
		{"two messages per connection", mail.SMTPConfig{MaxMessagesPerConn: 2}, nil, 5, 3},
		{"no pool", mail.SMTPConfig{PoolSize: -1}, nil, 5, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tt.opts...)
			s := poolSender(t, srv, tt.cfg)
			sendN(t, s, tt.sends)
			msgs := srv.Wait(t, tt.sends, 5*time.Second)
			if len(msgs) != tt.sends {
				t.Errorf("server got %d messages, want %d", len(msgs), tt.sends)
			}
			for i, m := range msgs {
				if want := fmt.Sprintf("Subject: prova %d\r\n", i); string(m.Data[:len(want)]) != want {
					t.Errorf("message %d starts %q, want %q", i, m.Data[:len(want)], want)
				}
			}
			if got := srv.Connections(); got != tt.wantConns {
				t.Errorf("connections = %d, want %d", got, tt.wantConns)
			}
		})
	}
}

func TestSMTPIdleTimeoutOpensANewConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{IdleTimeout: 50 * time.Millisecond})
	sendN(t, s, 1)
	time.Sleep(100 * time.Millisecond)
	sendN(t, s, 1)
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want 2 (the idle one was too old)", got)
	}
}

// A pooled connection that the server closed while it was idle fails
// before DATA: Send tries once more on a new connection, and the message
// arrives once.
func TestSMTPRetriesAStaleConnectionOnce(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{})
	sendN(t, s, 1)
	srv.DropConnections()
	sendN(t, s, 1)
	if got := len(srv.Wait(t, 2, 5*time.Second)); got != 2 {
		t.Errorf("server got %d messages, want 2", got)
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want 2", got)
	}
}

// A failure once DATA was accepted is never retried, on a pooled
// connection either: the server may have queued the message.
func TestSMTPNoRetryAfterData(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{})
	sendN(t, s, 1)
	srv.FailNext(1, 451)
	err := s.Send(context.Background(), "noreply@bari.localhost", []string{"maria.rossi@example.it"}, []byte("Subject: x\r\n\r\ny\r\n"))
	if err == nil || mail.IsPermanent(err) {
		t.Fatalf("Send: got %v, want the server's temporary refusal", err)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("connections = %d, want 1 (no second attempt)", got)
	}
	if got := len(srv.Messages()); got != 1 {
		t.Errorf("server has %d messages, want 1", got)
	}
	// The failed connection was dropped; the next message gets a new one.
	sendN(t, s, 1)
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want 2", got)
	}
}

func TestSMTPConcurrentSendsShareThePool(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{PoolSize: 4})
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				msg := []byte(fmt.Sprintf("Subject: %d/%d\r\n\r\nx\r\n", w, i))
				if err := s.Send(context.Background(), "a@b.it", []string{"c@d.it"}, msg); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.Wait(t, workers*each, 5*time.Second)
	if got := srv.Connections(); got > workers*each/2 {
		t.Errorf("connections = %d for %d messages, want them reused", got, workers*each)
	}
}

// Close quits the idle connections; a Send after Close still works, on a
// connection it does not keep.
func TestSMTPClose(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{})
	sendN(t, s, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sendN(t, s, 2)
	if got := srv.Connections(); got != 3 {
		t.Errorf("connections = %d, want 3 (one pooled, then one per message after Close)", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Lines that start with a dot arrive as they were sent, whichever way
// the data is written (CRLF messages in bulk, others by net/textproto).
func TestSMTPDotStuffing(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	s := poolSender(t, srv, mail.SMTPConfig{})
	tests := []struct{ sent, want string }{
		{".prima\r\nriga\r\n.\r\n..due\r\nfine\r\n", ".prima\r\nriga\r\n.\r\n..due\r\nfine\r\n"},
		{"Subject: x\r\n\r\n.\r\n", "Subject: x\r\n\r\n.\r\n"},
		{"\r\n", "\r\n"},
		{"a\n.b\n", "a\r\n.b\r\n"},
		{"senza fine\r\n.ultima", "senza fine\r\n.ultima\r\n"},
	}
	for i, tt := range tests {
		if err := s.Send(context.Background(), "a@b.it", []string{"c@d.it"}, []byte(tt.sent)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		got := srv.Wait(t, i+1, 5*time.Second)[i]
		if string(got.Data) != tt.want {
			t.Errorf("message %d: got %q, want %q", i, got.Data, tt.want)
		}
	}
}
