package booking

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/mail"
	"github.com/sportello-virtuale/sportello/internal/mail/smtptest"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestReminderByPushAndEmail books a video appointment in German, lets
// the citizen allow four browsers (the oldest is evicted) and withdraw
// one, and runs the reminder worker two hours before: the reminder email
// reaches a real SMTP server in German with the join and manage links,
// and the notification reaches a real Web Push receiver, which decrypts
// it; a browser the push service says is gone is forgotten. The clock
// starts at the real time, because the receiver judges the VAPID
// token's expiry by its own.
func TestReminderByPushAndEmail(t *testing.T) {
	t.Parallel()
	rcv := pushtest.New(t)
	key, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rcv.ExpectKey(webpush.PublicKey(key))
	srv := smtptest.Start(t)
	smtp, err := mail.NewSMTP(mail.SMTPConfig{Host: srv.Host, Port: srv.Port, Security: mail.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { smtp.Close() })

	clock := clustertest.NewClock(time.Now().UTC().Truncate(time.Second))
	sender := &webpush.Sender{
		Client: rcv.Client(), Policy: rcv.Policy(), Now: clock.Now,
		VAPID: func(context.Context) (webpush.VAPID, error) {
			return webpush.VAPID{Key: key, Subject: "mailto:prenotazioni@bari.example.it"}, nil
		},
	}
	node := clustertest.New(t, cluster.Config{Now: clock.Now, OutboxBackoff: 100 * time.Millisecond}, Register)
	var book *Book
	node.HandleOutbox(PushOutboxKind, PushDeliverer(sender, func(ctx context.Context, t tenant.ID, id, endpoint string) error {
		return book.ForgetPush(ctx, t, id, endpoint)
	}, clustertest.Logger(t)))
	node.HandleOutbox(OutboxKind, func(ctx context.Context, m cluster.OutboxMessage) error {
		var n Notice
		if err := json.Unmarshal(m.Payload, &n); err != nil {
			return err
		}
		from, to, msg, err := ComposeEmail(n, clock.Now())
		if err != nil {
			return err
		}
		return smtp.Send(ctx, from, []string{to}, msg)
	})
	clustertest.Start(t, node)
	book = NewBook(node, node.DB(), clock.Now, rand.Reader)
	ctx := context.Background()
	office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84",
		Hours: everyDay(Interval{0, hm(24, 0)})})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := book.SaveService(ctx, bari.ID, Service{OfficeID: office.ID, Name: "Cambio di residenza", Duration: 30 * time.Minute,
		Channels: []Channel{InPerson, Video}, Capacity: 2, HorizonDays: 30, CancelDeadline: time.Hour, MaxActivePerCitizen: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Three hours ahead, on the half hour.
	start := clock.Now().Truncate(30 * time.Minute).Add(3*time.Hour + 30*time.Minute)
	c, err := book.Create(ctx, bari, Request{ServiceID: svc.ID, Start: start, Channel: Video, PrivacyAccepted: true, Lang: "de",
		Citizen: Citizen{GivenName: "Anna", FamilyName: "Huber", FiscalCode: testFiscalCode(4), Email: "anna@example.it"}}, "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	code, token := c.Booking.Code, c.ManageToken

	subs := []webpush.Subscription{rcv.Subscribe(), rcv.Subscribe(), rcv.Subscribe(), rcv.Subscribe()}
	for _, s := range subs {
		if err := book.SubscribePush(ctx, bari.ID, code, token, s, rcv.Policy()); err != nil {
			t.Fatalf("SubscribePush: %v", err)
		}
	}
	if err := book.SubscribePush(ctx, bari.ID, code, "wrong", subs[0], rcv.Policy()); !errors.Is(err, ErrBadToken) {
		t.Errorf("subscribe with a wrong token: %v, want ErrBadToken", err)
	}
	var ve *ValidationError
	if err := book.SubscribePush(ctx, bari.ID, code, token, webpush.Subscription{Endpoint: "https://evil.example/x", Keys: subs[0].Keys},
		webpush.EndpointPolicy{}); !errors.As(err, &ve) || ve.Fields["endpoint"] == "" {
		t.Errorf("subscribe to a foreign endpoint: %v, want a field error on endpoint", err)
	}
	if n, _ := book.PushSubscriptions(ctx, bari.ID, c.Booking.ID); n != MaxPushPerBooking {
		t.Errorf("%d browsers kept, want %d", n, MaxPushPerBooking)
	}
	// subs[0] was evicted; the citizen withdraws subs[1]; subs[3] is
	// gone at the push service.
	if err := book.UnsubscribePush(ctx, bari.ID, code, token, subs[1].Endpoint); err != nil {
		t.Fatal(err)
	}
	rcv.Gone(subs[3])

	w := &ReminderWorker{Book: book, IsLeader: node.IsLeader, Log: clustertest.Logger(t),
		Tenants: func(context.Context) ([]tenant.Tenant, error) { return []tenant.Tenant{bari}, nil }}
	if n := tick(t, w); n != 0 {
		t.Errorf("just booked, 3 h before: %d reminders", n)
	}
	clock.Set(start.Add(-2 * time.Hour))
	if n := tick(t, w); n != 1 {
		t.Fatalf("2 h before: %d reminders, want 1", n)
	}

	var got pushtest.Received
	select {
	case got = <-rcv.Messages():
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived in 20 s")
	}
	if got.Endpoint != subs[2].Endpoint {
		t.Errorf("push went to %s, want the remaining browser %s", got.Endpoint, subs[2].Endpoint)
	}
	var m PushMessage
	if err := json.Unmarshal(got.Payload, &m); err != nil {
		t.Fatalf("payload %q: %v", got.Payload, err)
	}
	loc := bari.Location()
	if m.Title != "Erinnerung: Cambio di residenza" || m.Lang != "de" || m.Kind != "reminder" || m.Code != code ||
		m.TicketID != PushTicketPrefix+code || m.Tag != "booking-"+c.Booking.ID ||
		!strings.Contains(m.Body, DateTimeIn("de", start.In(loc))) || !strings.Contains(m.Body, "Videoanruf") {
		t.Errorf("push message %+v", m)
	}
	if strings.Contains(string(got.Payload), token) {
		t.Error("the push carries the manage token")
	}
	if got.Urgency != "normal" || got.TTL <= 0 || got.TTL > int((2*time.Hour)/time.Second) {
		t.Errorf("urgency %q, TTL %d s", got.Urgency, got.TTL)
	}
	// The gone browser is forgotten.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _ := book.PushSubscriptions(ctx, bari.ID, c.Booking.ID)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d browsers after the gone one, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	msgs := srv.Wait(t, 2, 15*time.Second) // the confirmation, then the reminder
	p := parseEmail(t, msgs[1].Data)
	if p.header.Get("Content-Language") != "de" || !strings.HasPrefix(p.subject, "Terminerinnerung: Cambio di residenza, ") {
		t.Errorf("reminder email: %s, %q", p.header.Get("Content-Language"), p.subject)
	}
	for _, want := range []string{"wir erinnern Sie an Ihren Termin bei Comune di Bari.", "Link zum Anruf:",
		"https://bari.example.it" + JoinPath(code, c.Booking.JoinToken),
		"https://bari.example.it" + ManagePath(code, token)} {
		if !strings.Contains(p.text, want) {
			t.Errorf("reminder email lacks %q:\n%s", want, p.text)
		}
	}

	// After a cancellation the browsers are forgotten and no new one is
	// taken.
	clock.Set(start.Add(-90 * time.Minute))
	if _, err := book.Cancel(ctx, bari, code, token, "https://bari.example.it"); err != nil {
		t.Fatal(err)
	}
	if n, _ := book.PushSubscriptions(ctx, bari.ID, c.Booking.ID); n != 0 {
		t.Errorf("%d browsers after the cancellation", n)
	}
	if err := book.SubscribePush(ctx, bari.ID, code, token, rcv.Subscribe(), rcv.Policy()); !errors.Is(err, ErrPushClosed) {
		t.Errorf("subscribe after the cancellation: %v, want ErrPushClosed", err)
	}
}
