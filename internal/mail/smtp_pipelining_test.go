package mail_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// go-smtp (smtptest) offers PIPELINING, so every other test of this
// package sends pipelined envelopes; these check the replies to a
// pipelined envelope that refuses something, and a server without
// PIPELINING.

func TestSMTPPipelinedRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg := composeTest(t, "Prova")
	for _, tc := range []struct {
		name      string
		to        []string
		code      int
		permanent bool
	}{
		{"the only recipient, permanently", []string{"rifiutato@example.it"}, 550, true},
		{"the only recipient, for now", []string{"rifiutato@example.it"}, 451, false},
		{"one of two recipients", []string{"maria.rossi@example.it", "rifiutato@example.it"}, 550, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t)
			srv.RefuseRecipient("rifiutato@example.it", tc.code)
			s := poolSender(t, srv, mail.SMTPConfig{})
			err := s.Send(ctx, "noreply@bari.localhost", tc.to, msg)
			if err == nil || !strings.Contains(err.Error(), "rcpt to rifiutato@example.it") {
				t.Fatalf("Send = %v, want the refusal of rifiutato@example.it", err)
			}
			if got := mail.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			// Nothing was delivered, and the next message goes through
			// (on a new connection: the refused one was closed).
			if err := s.Send(ctx, "noreply@bari.localhost", []string{"maria.rossi@example.it"}, msg); err != nil {
				t.Fatalf("next Send: %v", err)
			}
			srv.Wait(t, 1, 5*time.Second)
			if got := srv.Messages(); len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "maria.rossi@example.it" {
				t.Errorf("server got %+v, want only the second message", got)
			}
		})
	}
}

// plainServer is a minimal SMTP server that does not offer PIPELINING and
// checks that the client waits for each reply: a command that arrives
// before the reply to the previous one is refused.
type plainServer struct {
	ln net.Listener
	// pipelining makes the server offer PIPELINING; then a MAIL FROM
	// whose RCPT TO and DATA are already in the buffer counts in
	// pipelined instead of early.
	pipelining bool
	pipelined  int
	mu         sync.Mutex
	messages   []string
	early      int
}

func startPlainServer(t *testing.T, pipelining bool) *plainServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &plainServer{ln: ln, pipelining: pipelining}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *plainServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	reply := func(s string) { _, _ = c.Write([]byte(s)) }
	reply("220 plain ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(strings.TrimSpace(line))
		if i := strings.IndexAny(verb, " :"); i >= 0 {
			verb = verb[:i]
		}
		if r.Buffered() > 0 {
			p.mu.Lock()
			if p.pipelining && verb == "MAIL" {
				p.pipelined++
			} else if !p.pipelining {
				p.early++
			}
			p.mu.Unlock()
		}
		switch verb {
		case "EHLO":
			if p.pipelining {
				reply("250-plain\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
			} else {
				reply("250-plain\r\n250 8BITMIME\r\n")
			}
		case "MAIL", "RCPT", "RSET", "NOOP":
			reply("250 OK\r\n")
		case "DATA":
			reply("354 go ahead\r\n")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			p.mu.Lock()
			p.messages = append(p.messages, b.String())
			p.mu.Unlock()
			reply("250 OK queued\r\n")
		case "QUIT":
			reply("221 bye\r\n")
			return
		default:
			reply("502 not implemented\r\n")
		}
	}
}

func TestSMTPWithoutPipelining(t *testing.T) {
	t.Parallel()
	p := startPlainServer(t, false)
	addr := p.ln.Addr().(*net.TCPAddr)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: addr.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, body := range []string{"Prima.", ".Seconda, con un punto in testa."} {
		msg := []byte("Subject: prova\r\n\r\n" + body + "\r\n")
		if err := s.Send(context.Background(), "noreply@bari.localhost", []string{"maria.rossi@example.it", "luca.bianchi@example.it"}, msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.early != 0 {
		t.Errorf("%d commands arrived before the reply to the one before, want none without PIPELINING", p.early)
	}
	want := []string{"Subject: prova\r\n\r\nPrima.\r\n", "Subject: prova\r\n\r\n..Seconda, con un punto in testa.\r\n"}
	if len(p.messages) != 2 || p.messages[0] != want[0] || p.messages[1] != want[1] {
		t.Errorf("server got %q, want %q", p.messages, want)
	}
}

func TestSMTPPipelinesWhenOffered(t *testing.T) {
	t.Parallel()
	p := startPlainServer(t, true)
	addr := p.ln.Addr().(*net.TCPAddr)
	s, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: addr.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for range 3 {
		if err := s.Send(context.Background(), "noreply@bari.localhost", []string{"maria.rossi@example.it", "luca.bianchi@example.it"}, []byte("Subject: prova\r\n\r\nCorpo.\r\n")); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pipelined != 3 || len(p.messages) != 3 {
		t.Errorf("%d of %d messages came with a pipelined envelope, want 3 of 3", p.pipelined, len(p.messages))
	}
}
