package smtptest_test

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

func TestServerRecordsAndRefuses(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	send := func(subject string) error {
		return smtp.SendMail(srv.Addr, nil, "a@b.it", []string{"c@d.it", "e@f.it"}, []byte("Subject: "+subject+"\r\n\r\nciao\r\n"))
	}
	srv.FailNext(1, 451)
	if err := send("rifiutato"); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("first send: %v, want a 451 refusal", err)
	}
	if err := send("accettato"); err != nil {
		t.Fatalf("second send: %v", err)
	}
	msgs := srv.Wait(t, 1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1 (the refused one is not recorded)", len(msgs))
	}
	m := msgs[0]
	if m.From != "a@b.it" || strings.Join(m.To, ",") != "c@d.it,e@f.it" || !strings.Contains(string(m.Data), "Subject: accettato") || m.TLS || m.User != "" {
		t.Errorf("message = %+v, want the envelope and data sent in clear without login", m)
	}
	srv.Close()
	srv.Close() // safe twice
	if err := send("dopo"); err == nil {
		t.Error("send after Close succeeded, want a connection error")
	}
}

func TestServerRequiresAuth(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.WithAuth("u", "p"))
	msg := []byte("Subject: x\r\n\r\nx\r\n")
	// net/smtp allows PLAIN in clear only towards localhost names.
	if err := smtp.SendMail(srv.Addr, nil, "a@b.it", []string{"c@d.it"}, msg); err == nil {
		t.Error("send without AUTH succeeded, want a refusal")
	}
	if err := smtp.SendMail(srv.Addr, smtp.PlainAuth("", "u", "sbagliata", srv.Host), "a@b.it", []string{"c@d.it"}, msg); err == nil {
		t.Error("send with a wrong password succeeded, want a refusal")
	}
	if err := smtp.SendMail(srv.Addr, smtp.PlainAuth("", "u", "p", srv.Host), "a@b.it", []string{"c@d.it"}, msg); err != nil {
		t.Fatalf("send with the right password: %v", err)
	}
	if got := srv.Wait(t, 1, 5*time.Second)[0].User; got != "u" {
		t.Errorf("User = %q, want u", got)
	}
}
