package booking

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
)

// TestOfficeCancelEmailOverSMTP cancels a booking for the office and
// follows the citizen's email through the replicated outbox to a real
// SMTP server: it goes to the citizen, in Italian, with the reason.
func TestOfficeCancelEmailOverSMTP(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	clock := clustertest.NewClock(startTime)
	node := clustertest.New(t, cluster.Config{Now: clock.Now}, Register)
	node.HandleOutbox(OutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
		var n Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return err
		}
		from, to, msg, err := ComposeEmail(n, clock.Now())
		if err != nil {
			return err
		}
		return sender.Send(ctx, from, []string{to}, msg)
	})
	clustertest.Start(t, node)
	book := NewBook(node, node.DB(), clock.Now, rand.Reader)
	ctx := context.Background()
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: everyDay(Interval{hm(9, 0), hm(12, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{
		OfficeID: office.ID, Name: "Rilascio carta d'identità elettronica", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson}, Capacity: 1, HorizonDays: 30, MaxActivePerCitizen: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := startTime.AddDate(0, 0, 2).Truncate(24 * time.Hour).Add(9 * time.Hour) // 10:00 in Rome
	c, err := book.Create(ctx, bari, Request{
		ServiceID: svc.ID, Start: start, Channel: InPerson, PrivacyAccepted: true,
		Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(1), Email: "maria.rossi@example.it"},
	}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	reason := "L'ufficio resterà chiuso per un'assemblea del personale."
	if _, err := book.CancelByOffice(ctx, bari, office.ID, c.Booking.ID, Operator{ID: "u-1", Name: "Olga Verdi"}, reason, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(t, 2, 15*time.Second) // the confirmation, then the cancellation
	m := msgs[1]
	if len(m.To) != 1 || m.To[0] != "maria.rossi@example.it" || m.From != bari.Sender.Address {
		t.Errorf("envelope %s → %v, want %s → maria.rossi@example.it", m.From, m.To, bari.Sender.Address)
	}
	p := parseEmail(t, m.Data)
	subject, body := p.subject, p.text
	if !strings.Contains(subject, "Appuntamento annullato") || !strings.Contains(body, "annullato dall'ufficio") ||
		!strings.Contains(body, reason) {
		t.Errorf("cancellation email: subject %q, body lacks the office's reason:\n%s", subject, body)
	}
}
