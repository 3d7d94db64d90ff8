package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

func TestSMTPSendsThroughEverySecurityMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []smtptest.Option
		security mail.Security
		user     string
		wantTLS  bool
	}{
		{"plain", nil, mail.NoTLS, "", false},
		{"plain with auth on loopback", []smtptest.Option{smtptest.WithAuth("sportello", "segreta")}, mail.NoTLS, "sportello", false},
		{"starttls", []smtptest.Option{smtptest.WithStartTLS()}, mail.StartTLS, "", true},
		{"starttls with auth", []smtptest.Option{smtptest.WithStartTLS(), smtptest.WithAuth("sportello", "segreta")}, mail.StartTLS, "sportello", true},
		{"implicit tls with auth", []smtptest.Option{smtptest.WithImplicitTLS(), smtptest.WithAuth("sportello", "segreta")}, mail.ImplicitTLS, "sportello", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tt.opts...)
			s, err := mail.NewSMTP(mail.SMTPConfig{
				Host: srv.Host, Port: srv.Port, Security: tt.security,
				Username: tt.user, Password: map[bool]string{true: "segreta"}[tt.user != ""],
				HELOName: "node1.sportello.test", RootCAs: srv.RootCAs(),
			})
			if err != nil {
				t.Fatal(err)
			}
			subject := "Conferma prenotazione BA-7K3Q9P – Anagrafe"
			raw := composeTest(t, subject)
			err = s.Send(context.Background(), "Comune di Bari <noreply@bari.localhost>", []string{"maria.rossi@example.it"}, raw)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Wait(t, 1, 5*time.Second)[0]
			if got.From != "noreply@bari.localhost" {
				t.Errorf("envelope from = %q, want the bare address noreply@bari.localhost", got.From)
			}
			if len(got.To) != 1 || got.To[0] != "maria.rossi@example.it" {
				t.Errorf("envelope to = %v, want [maria.rossi@example.it]", got.To)
			}
			if got.HELO != "node1.sportello.test" {
				t.Errorf("HELO = %q, want node1.sportello.test", got.HELO)
			}
			if got.User != tt.user {
				t.Errorf("logged in as %q, want %q", got.User, tt.user)
			}
			if got.TLS != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", got.TLS, tt.wantTLS)
			}
			checkParsed(t, got.Data, subject)
		})
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := composeTest(t, "Prova")
	to := []string{"maria.rossi@example.it"}

	t.Run("starttls required but not offered", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t)
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.StartTLS})
		err := s.Send(ctx, "a@b.it", to, msg)
		if !errors.Is(err, mail.ErrNoStartTLS) {
			t.Errorf("got %v, want ErrNoStartTLS", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server got %d messages in clear, want 0", n)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.WithStartTLS())
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.StartTLS})
		if err := s.Send(ctx, "a@b.it", to, msg); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("got %v, want a certificate error", err)
		}
	})
	t.Run("wrong password is permanent", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.WithAuth("sportello", "segreta"))
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS, Username: "sportello", Password: "sbagliata"})
		err := s.Send(ctx, "a@b.it", to, msg)
		if err == nil || !mail.IsPermanent(err) {
			t.Errorf("got %v, want a permanent error", err)
		}
	})
	t.Run("auth required but not configured", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.WithAuth("sportello", "segreta"))
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
		if err := s.Send(ctx, "a@b.it", to, msg); err == nil {
			t.Error("Send without login succeeded, want the server's refusal")
		}
	})
	for _, tc := range []struct {
		code      int
		permanent bool
	}{{451, false}, {550, true}} {
		t.Run("refused with "+string(rune('0'+tc.code/100))+"xx", func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.FailNext(1, tc.code)
			s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
			err := s.Send(ctx, "a@b.it", to, msg)
			if err == nil {
				t.Fatal("Send succeeded, want the refusal")
			}
			if got := mail.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			// The next attempt goes through, as a retry would.
			if err := s.Send(ctx, "a@b.it", to, msg); err != nil {
				t.Errorf("second Send: %v", err)
			}
			srv.Wait(t, 1, 5*time.Second)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t)
		srv.Close()
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
		err := s.Send(ctx, "a@b.it", to, msg)
		if err == nil || mail.IsPermanent(err) {
			t.Errorf("got %v, want a temporary error", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t)
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Send(cctx, "a@b.it", to, msg); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
	t.Run("bad envelope", func(t *testing.T) {
		t.Parallel()
		s, _ := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: 25, Security: mail.NoTLS})
		if err := s.Send(ctx, "a@b.it", nil, msg); !errors.Is(err, mail.ErrNoRecipients) {
			t.Errorf("no recipients: got %v, want ErrNoRecipients", err)
		}
		if err := s.Send(ctx, "a@b.it\r\nRCPT TO:<x@y.z>", to, msg); err == nil {
			t.Error("from with CRLF accepted, want an error")
		}
	})
}

func TestSMTPConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  mail.SMTPConfig
		ok   bool
	}{
		{"minimal", mail.SMTPConfig{Host: "smtp.comune.bari.it", Port: 587}, true},
		{"no host", mail.SMTPConfig{Port: 587}, false},
		{"port zero", mail.SMTPConfig{Host: "h", Port: 0}, false},
		{"port too big", mail.SMTPConfig{Host: "h", Port: 70000}, false},
		{"bad security", mail.SMTPConfig{Host: "h", Port: 25, Security: "ssl"}, false},
		{"password without user", mail.SMTPConfig{Host: "h", Port: 25, Password: "x"}, false},
		{"negative timeout", mail.SMTPConfig{Host: "h", Port: 25, Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
