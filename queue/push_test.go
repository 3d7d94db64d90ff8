package queue

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/internal/webpush/pushtest"
	"github.com/sportello-virtuale/sportello/tenant"
)

// pushFixture is a real node whose queue pushes go through
// PushDeliverer and webpush.Sender to a real push service for tests
// (pushtest), which checks the VAPID signature and decrypts.
type pushFixture struct {
	*fixture
	rcv  *pushtest.Receiver
	desk string
}

// newPushFixture starts it. Its clock starts at the real time, because
// the receiver judges the VAPID token's expiry by its own clock; a take
// without Source passes the opening hours, so the hour does not matter.
func newPushFixture(t *testing.T) *pushFixture {
	t.Helper()
	rcv := pushtest.New(t)
	key, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rcv.ExpectKey(webpush.PublicKey(key))
	f := &fixture{clock: clustertest.NewClock(time.Now().UTC().Truncate(time.Second))}
	sender := &webpush.Sender{
		Client: rcv.Client(), Policy: rcv.Policy(), Now: f.clock.Now,
		VAPID: func(context.Context) (webpush.VAPID, error) {
			return webpush.VAPID{Key: key, Subject: "mailto:coda@bari.example.it"}, nil
		},
	}
	f.node = clustertest.New(t, cluster.Config{Now: f.clock.Now, OutboxBackoff: 100 * time.Millisecond}, register)
	forget := func(ctx context.Context, t tenant.ID, id, endpoint string) error {
		return f.q.ForgetPush(ctx, t, id, endpoint)
	}
	f.node.HandleOutbox(PushOutboxKind, PushDeliverer(sender, forget, clustertest.Logger(t)))
	clustertest.Start(t, f.node)
	f.book = booking.NewBook(f.node, f.node.DB(), f.clock.Now, rand.Reader)
	f.q = New(f.node, f.node.DB(), f.book, f.clock.Now, rand.Reader)
	f.q.PushPolicy = rcv.Policy()
	f.office, f.cie, f.cert = setupOffice(t, f.book, bari.ID)
	c := defaultConfig(f.office.ID)
	c.NotifyAhead = 2
	if err := f.q.Configure(context.Background(), bari.ID, c); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	d, err := f.book.WriteDesk(context.Background(), bari.ID, booking.Desk{OfficeID: f.office.ID, Label: "Sportello 4", Kind: booking.DeskCounter}, false)
	if err != nil {
		t.Fatal(err)
	}
	return &pushFixture{fixture: f, rcv: rcv, desk: d.ID}
}

// next waits for the receiver's next message and decodes it.
func (f *pushFixture) next(t *testing.T) (pushtest.Received, PushMessage) {
	t.Helper()
	select {
	case r := <-f.rcv.Messages():
		var m PushMessage
		if err := json.Unmarshal(r.Payload, &m); err != nil {
			t.Fatalf("push payload %q: %v", r.Payload, err)
		}
		return r, m
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived in 20 s")
	}
	panic("unreachable")
}

// quiet fails if a push arrives within d.
func (f *pushFixture) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-f.rcv.Messages():
		t.Errorf("unexpected push: %s", r.Payload)
	case <-time.After(d):
	}
}

// pushRows counts the subscriptions stored for a ticket.
func (f *pushFixture) pushRows(t *testing.T, id string) int {
	t.Helper()
	n, err := f.q.PushSubscriptions(context.Background(), bari.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pushKeys lists the outbox keys of the queue's pushes.
func pushKeys(t *testing.T, n *cluster.Node) []string {
	t.Helper()
	rows, err := n.DB().Query(`SELECT key FROM cluster_outbox WHERE kind = ? ORDER BY key`, PushOutboxKind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestPushNearAndCalled follows a line of five through a desk: the
// citizen who subscribed (twice with the same browser, which replaces)
// is pushed "manca poco" once, when two are before them, then "è il tuo
// turno" with the desk's label; each decrypted by the receiver as a
// browser would, in Italian, with the TTL, urgency and topic asked for.
// Nobody else is pushed, and nothing twice.
func TestPushNearAndCalled(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t)
	ctx := context.Background()
	for range 4 {
		f.take(t, TakeRequest{})
	}
	anna := f.take(t, TakeRequest{})
	sub := f.rcv.Subscribe()
	for range 2 {
		if err := f.q.SubscribePush(ctx, bari.ID, anna.Ticket.ID, anna.Secret, sub, "it-IT"); err != nil {
			t.Fatalf("SubscribePush: %v", err)
		}
	}
	if n := f.pushRows(t, anna.Ticket.ID); n != 1 {
		t.Fatalf("%d subscriptions after subscribing one browser twice, want 1", n)
	}
	f.clock.Advance(time.Minute)
	f.serveNext(t, f.desk) // anna at 3
	f.quiet(t, 300*time.Millisecond)
	f.clock.Advance(time.Minute)
	f.serveNext(t, f.desk) // anna at 2: "manca poco"
	r, m := f.next(t)
	if r.Endpoint != sub.Endpoint || m.Kind != "near" || m.Lang != "it" || m.TicketID != anna.Ticket.ID ||
		m.Tag != "ticket-"+anna.Ticket.ID || m.Number != anna.Ticket.Number || m.Position == nil || *m.Position != 2 {
		t.Errorf("near push: %+v to %s", m, r.Endpoint)
	}
	if !strings.Contains(m.Title, "Manca poco al tuo turno") || !strings.Contains(m.Body, "Prima di te ci sono 2 persone.") ||
		!strings.Contains(m.Body, "Anagrafe") {
		t.Errorf("near push text: title %q body %q", m.Title, m.Body)
	}
	if r.Urgency != "high" || r.Topic != anna.Ticket.ID || r.TTL < 14*60 || r.TTL > 15*60 {
		t.Errorf("near push headers: urgency %q topic %q TTL %d, want high, the ticket, about 900", r.Urgency, r.Topic, r.TTL)
	}
	if r.Subject != "mailto:coda@bari.example.it" {
		t.Errorf("VAPID subject %q", r.Subject)
	}
	if strings.Contains(string(r.Payload), anna.Secret) || strings.Contains(string(r.Payload), "http") {
		t.Errorf("the push carries a secret or a link: %s", r.Payload)
	}
	f.clock.Advance(time.Minute)
	f.serveNext(t, f.desk) // anna at 1: nothing more
	f.clock.Advance(time.Minute)
	f.serveNext(t, f.desk) // anna at 0
	f.quiet(t, 300*time.Millisecond)
	f.clock.Advance(time.Minute)
	k, err := f.q.CallNext(ctx, bari, f.office.ID, f.desk, nil)
	if err != nil || k.ID != anna.Ticket.ID {
		t.Fatalf("call anna: got %s (%v)", k.Number, err)
	}
	r, m = f.next(t)
	if m.Kind != "called" || m.Desk != "Sportello 4" || m.Recall || !strings.Contains(m.Title, "È il tuo turno: Sportello 4") ||
		!strings.Contains(m.Body, anna.Ticket.Number) || m.Position != nil {
		t.Errorf("called push: %+v", m)
	}
	if r.TTL < 9*60 || r.TTL > 10*60 || r.Urgency != "high" {
		t.Errorf("called push headers: TTL %d urgency %q, want about 600 and high", r.TTL, r.Urgency)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Recall(ctx, bari.ID, k.ID, f.desk); err != nil {
		t.Fatal(err)
	}
	_, m = f.next(t)
	if m.Kind != "called" || !m.Recall || !strings.Contains(m.Title, "Ti stiamo chiamando di nuovo") {
		t.Errorf("recall push: %+v", m)
	}
	// Starting the service moves the line without a new event: nothing
	// is pushed, and each event was queued once.
	if _, err := f.q.StartServing(ctx, bari.ID, k.ID, f.desk); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 500*time.Millisecond)
	if keys := pushKeys(t, f.node); len(keys) != 3 {
		t.Errorf("outbox: %d pushes %v, want 3 (near, called, recalled)", len(keys), keys)
	}
	// Served: the subscription is forgotten.
	if _, err := f.q.Served(ctx, bari.ID, k.ID, f.desk); err != nil {
		t.Fatal(err)
	}
	if n := f.pushRows(t, anna.Ticket.ID); n != 0 {
		t.Errorf("%d subscriptions kept after the ticket was served", n)
	}
	// A restart replays what the node must: still three pushes, all
	// sent, none queued again.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sent int
		if err := f.node.DB().QueryRow(`SELECT count(*) FROM cluster_outbox WHERE kind = ? AND status = 'sent'`, PushOutboxKind).Scan(&sent); err != nil {
			t.Fatal(err)
		}
		if sent == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 pushes marked sent after 20 s", sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n := clustertest.Restart(t, f.node, register)
	if keys := pushKeys(t, n); len(keys) != 3 {
		t.Errorf("after a restart: %d pushes %v, want 3", len(keys), keys)
	}
	var pending int
	if err := n.DB().QueryRow(`SELECT count(*) FROM cluster_outbox WHERE kind = ? AND status <> 'sent'`, PushOutboxKind).Scan(&pending); err != nil || pending != 0 {
		t.Errorf("after a restart: %d pushes not sent (%v)", pending, err)
	}
}

// TestPushGoneIsForgotten: a subscription the push service answers 410
// for is deleted by the deliverer, and another browser of the same
// ticket still gets the call.
func TestPushGoneIsForgotten(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t)
	ctx := context.Background()
	k := f.take(t, TakeRequest{})
	dead, alive := f.rcv.Subscribe(), f.rcv.Subscribe()
	for _, s := range []webpush.Subscription{dead, alive} {
		if err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, s, "en"); err != nil {
			t.Fatalf("SubscribePush: %v", err)
		}
	}
	f.rcv.Gone(dead)
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, f.desk, nil); err != nil {
		t.Fatal(err)
	}
	r, m := f.next(t)
	if r.Endpoint != alive.Endpoint || m.Lang != "en" || !strings.Contains(m.Title, "It's your turn: Sportello 4") {
		t.Errorf("push to %s: %+v, want the live browser told in English", r.Endpoint, m)
	}
	deadline := time.Now().Add(20 * time.Second)
	for f.pushRows(t, k.Ticket.ID) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the gone subscription is still stored after 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ep string
	if err := f.node.DB().QueryRow(`SELECT endpoint FROM queue_push WHERE tenant = ? AND ticket_id = ?`, bari.ID, k.Ticket.ID).Scan(&ep); err != nil || ep != alive.Endpoint {
		t.Errorf("kept %q (%v), want the live browser", ep, err)
	}
	// Forgetting it again is a no-op.
	if err := f.q.ForgetPush(ctx, bari.ID, k.Ticket.ID, dead.Endpoint); err != nil {
		t.Errorf("ForgetPush again: %v", err)
	}
}

// TestPushNotKeptAfterClose: cancelling a ticket deletes its
// subscriptions in the same command, and a closed ticket accepts none.
func TestPushNotKeptAfterClose(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t)
	ctx := context.Background()
	k := f.take(t, TakeRequest{})
	other := f.take(t, TakeRequest{})
	for _, kk := range []Taken{k, other} {
		if err := f.q.SubscribePush(ctx, bari.ID, kk.Ticket.ID, kk.Secret, f.rcv.Subscribe(), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.q.Cancel(ctx, bari.ID, k.Ticket.ID, k.Secret); err != nil {
		t.Fatal(err)
	}
	if n := f.pushRows(t, k.Ticket.ID); n != 0 {
		t.Errorf("%d subscriptions kept after cancelling", n)
	}
	if n := f.pushRows(t, other.Ticket.ID); n != 1 {
		t.Errorf("the other ticket has %d subscriptions, want 1", n)
	}
	err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, f.rcv.Subscribe(), "")
	if !errors.Is(err, ErrTicketClosed) {
		t.Errorf("subscribe a cancelled ticket: got %v, want ErrTicketClosed", err)
	}
	// Neither the cancelled ticket nor the other was pushed: the other
	// is next, but it was next when it subscribed.
	f.quiet(t, 300*time.Millisecond)
}

// TestPushSubscribeChecks: the proposer refuses what it must, with
// Italian field errors, under the production policy.
func TestPushSubscribeChecks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(at(9, 0))
	k := f.take(t, TakeRequest{})
	good := browserSubscription(t, "https://fcm.googleapis.com/fcm/send/abc123")
	for _, c := range []struct {
		name  string
		sub   webpush.Subscription
		field string
	}{
		{"http endpoint", browserSubscription(t, "http://fcm.googleapis.com/fcm/send/x"), "endpoint"},
		{"unknown host", browserSubscription(t, "https://push.example.com/x"), "endpoint"},
		{"private address", browserSubscription(t, "https://192.168.1.10/push/x"), "endpoint"},
		{"loopback", browserSubscription(t, "https://localhost/push/x"), "endpoint"},
		{"no endpoint", webpush.Subscription{Keys: good.Keys}, "endpoint"},
		{"no p256dh", webpush.Subscription{Endpoint: good.Endpoint, Keys: webpush.Keys{Auth: good.Keys.Auth}}, "keys.p256dh"},
		{"no auth", webpush.Subscription{Endpoint: good.Endpoint, Keys: webpush.Keys{P256dh: good.Keys.P256dh}}, "keys.auth"},
		{"bad key", webpush.Subscription{Endpoint: good.Endpoint, Keys: webpush.Keys{P256dh: "AAAA", Auth: good.Keys.Auth}}, "keys"},
	} {
		err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, c.sub, "it")
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Fields[c.field] == "" {
			t.Errorf("%s: got %v, want a field error on %s", c.name, err, c.field)
		}
	}
	if err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, "sbagliato", good, "it"); !errors.Is(err, ErrBadSecret) {
		t.Errorf("wrong secret: got %v, want ErrBadSecret", err)
	}
	if err := f.q.SubscribePush(ctx, milano.ID, k.Ticket.ID, k.Secret, good, "it"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another Comune's ticket: got %v, want ErrNotFound", err)
	}
	// A fourth browser evicts the oldest.
	var subs []webpush.Subscription
	for i := range 4 {
		s := browserSubscription(t, "https://fcm.googleapis.com/fcm/send/device"+string(rune('a'+i)))
		subs = append(subs, s)
		if err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, s, "it"); err != nil {
			t.Fatalf("subscribe browser %d: %v", i, err)
		}
	}
	rows, err := f.node.DB().Query(`SELECT endpoint FROM queue_push WHERE tenant = ? AND ticket_id = ? ORDER BY endpoint`, bari.ID, k.Ticket.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for rows.Next() {
		var ep string
		_ = rows.Scan(&ep)
		kept = append(kept, ep)
	}
	rows.Close()
	if strings.Join(kept, " ") != subs[1].Endpoint+" "+subs[2].Endpoint+" "+subs[3].Endpoint {
		t.Errorf("kept %v, want the three newest", kept)
	}
	// The citizen unsubscribes one; a wrong secret cannot.
	if err := f.q.UnsubscribePush(ctx, bari.ID, k.Ticket.ID, "sbagliato", subs[1].Endpoint); !errors.Is(err, ErrBadSecret) {
		t.Errorf("unsubscribe with a wrong secret: got %v", err)
	}
	if err := f.q.UnsubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, subs[1].Endpoint); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.q.PushSubscriptions(ctx, bari.ID, k.Ticket.ID); n != 2 {
		t.Errorf("%d subscriptions after unsubscribing one of three", n)
	}
}

// TestPushDelivererDropsStale: a notification whose TTL is spent before
// the outbox gets to it is not sent (a "manca poco" an hour late would
// mislead), and a permanent refusal is dropped, not retried.
func TestPushDelivererDropsStale(t *testing.T) {
	t.Parallel()
	rcv := pushtest.New(t)
	key, err := webpush.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &webpush.Sender{Client: rcv.Client(), Policy: rcv.Policy(),
		VAPID: func(context.Context) (webpush.VAPID, error) {
			return webpush.VAPID{Key: key, Subject: "mailto:a@b.it"}, nil
		}}
	forgot := 0
	d := PushDeliverer(s, func(context.Context, tenant.ID, string, string) error { forgot++; return nil }, clustertest.Logger(t))
	item := func(at time.Time, sub webpush.Subscription) cluster.OutboxMessage {
		b, _ := json.Marshal(pushItem{Tenant: bari.ID, TicketID: "t1", Kind: noticeNear, At: at, Subscription: sub,
			Message: PushMessage{Title: "x", Body: "y", Tag: "ticket-t1", TicketID: "t1", Kind: "near", Lang: "it"}})
		return cluster.OutboxMessage{Key: "queue/bari/t1/push/x/near/1", Payload: b}
	}
	sub := rcv.Subscribe()
	if err := d(context.Background(), item(time.Now().Add(-16*time.Minute), sub)); err != nil {
		t.Errorf("stale push: %v, want dropped without error", err)
	}
	select {
	case m := <-rcv.Messages():
		t.Errorf("a stale push was sent: %s", m.Payload)
	case <-time.After(200 * time.Millisecond):
	}
	if err := d(context.Background(), item(time.Now(), sub)); err != nil {
		t.Fatalf("fresh push: %v", err)
	}
	if m := <-rcv.Messages(); m.TTL < 899 || m.TTL > 900 {
		t.Errorf("fresh push TTL %d, want 900", m.TTL)
	}
	rcv.Gone(sub)
	if err := d(context.Background(), item(time.Now(), sub)); err != nil || forgot != 1 {
		t.Errorf("gone: %v, forget called %d times, want nil and 1", err, forgot)
	}
	// Another VAPID key than the receiver expects: 401, permanent.
	rcv.ExpectKey("someone-else")
	if err := d(context.Background(), item(time.Now(), rcv.Subscribe())); err != nil {
		t.Errorf("refused push: %v, want dropped", err)
	}
}

// browserSubscription is a subscription with real keys at endpoint.
func browserSubscription(t *testing.T, endpoint string) webpush.Subscription {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	enc := base64.RawURLEncoding
	return webpush.Subscription{Endpoint: endpoint, Keys: webpush.Keys{P256dh: enc.EncodeToString(k.PublicKey().Bytes()), Auth: enc.EncodeToString(auth)}}
}

// TestPushTransferAndResume: a browser subscribed while its ticket is
// called is not told what the page shows; the transfer that sends the
// citizen back to the line pushes nothing (the operator said so), the
// next call and the resume after parking each push "è il tuo turno".
func TestPushTransferAndResume(t *testing.T) {
	t.Parallel()
	f := newPushFixture(t)
	ctx := context.Background()
	k := f.take(t, TakeRequest{})
	f.take(t, TakeRequest{})
	if _, err := f.q.CallNext(ctx, bari, f.office.ID, "1", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.q.SubscribePush(ctx, bari.ID, k.Ticket.ID, k.Secret, f.rcv.Subscribe(), "de"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Transfer(ctx, bari, k.Ticket.ID, "1", TransferTo{}); err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	f.quiet(t, 300*time.Millisecond)
	f.clock.Advance(time.Minute)
	if c, err := f.q.CallNext(ctx, bari, f.office.ID, "2", nil); err != nil || c.ID != k.Ticket.ID {
		t.Fatalf("call the transferred ticket: %s (%v)", c.Number, err)
	}
	if _, m := f.next(t); m.Kind != "called" || m.Desk != "2" || m.Lang != "de" || !strings.Contains(m.Title, "Schalter 2") {
		t.Errorf("push after the transfer: %+v", m)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.q.Park(ctx, bari.ID, k.Ticket.ID, "2"); err != nil {
		t.Fatal(err)
	}
	f.quiet(t, 300*time.Millisecond)
	f.clock.Advance(time.Minute)
	if _, err := f.q.Resume(ctx, bari, k.Ticket.ID, "2"); err != nil {
		t.Fatal(err)
	}
	if _, m := f.next(t); m.Kind != "called" {
		t.Errorf("push after the resume: %+v", m)
	}
	if keys := pushKeys(t, f.node); len(keys) != 2 {
		t.Errorf("pushes %v, want the two calls", keys)
	}
}
