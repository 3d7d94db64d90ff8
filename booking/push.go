package booking

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Web Push of bookings: on the booking's page the citizen may allow
// notifications; the browser's subscription becomes replicated state of
// the booking (booking_push), and each reminder is queued, besides the
// email, once per browser (PushOutboxKind). The subscriptions go with the
// cancellation and after the appointment (applyRemindersPrune). The
// encryption, signing and endpoint policy are the queue's
// (internal/webpush, package push).

// Command types of the booking's push subscriptions.
const (
	// CmdPushSubscribe records a browser's subscription for a booking.
	CmdPushSubscribe = "booking.push.subscribe"
	// CmdPushForget drops one: the citizen asked, or the push service
	// said it is gone.
	CmdPushForget = "booking.push.forget"
)

// PushOutboxKind is the cluster.OutboxItem kind of the booking's push
// notifications; the node hands them to PushDeliverer.
const PushOutboxKind = "booking.push"

// MaxPushPerBooking bounds the browsers told of one booking: a phone, a
// computer and one more. A fourth evicts the one subscribed longest ago,
// since the device in the citizen's hand is the one asking.
const MaxPushPerBooking = 3

// PushTicketPrefix starts the ticket_id of a booking's notifications
// ("b-" and the booking code): the service worker opens the page it was
// told of for that ID when the notification is tapped, as for a queue
// ticket.
const PushTicketPrefix = "b-"

// ErrPushClosed refuses a subscription for a booking that is cancelled or
// whose appointment has begun: nothing will be told.
var ErrPushClosed = errors.New("booking takes no more notifications")

// pushSubscribePayload is version 1 of booking.push.subscribe: the
// booking's code and the hash of the manage token the citizen holds.
type pushSubscribePayload struct {
	Code      string `json:"code"`
	TokenHash []byte `json:"token_hash"`
	Endpoint  string `json:"endpoint"`
	P256dh    string `json:"p256dh"`
	Auth      string `json:"auth"`
}

// pushForgetPayload is version 1 of booking.push.forget. Without a token
// hash it is the deliverer's (the push service said the subscription is
// gone), naming the booking by ID.
type pushForgetPayload struct {
	Code      string `json:"code,omitempty"`
	BookingID string `json:"booking_id,omitempty"`
	TokenHash []byte `json:"token_hash,omitempty"`
	Endpoint  string `json:"endpoint"`
}

// PushMessage is what the service worker receives, decrypted, and shows:
// the same fields as the queue's, so the one worker (tenant/site's
// sw.js) shows both. It carries no link and no token: tapping it opens
// the page the booking's page told the worker of (TicketID).
type PushMessage struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	// Tag is "booking-<id>": a newer notification of the booking
	// replaces the one shown.
	Tag      string `json:"tag"`
	TicketID string `json:"ticket_id"`
	// Kind is "reminder".
	Kind string `json:"kind"`
	Lang string `json:"lang"`
	Code string `json:"code"`
}

// pushItem is the outbox payload of one push, frozen in apply.
type pushItem struct {
	Tenant       tenant.ID            `json:"tenant"`
	BookingID    string               `json:"booking_id"`
	Start        time.Time            `json:"start"`
	Subscription webpush.Subscription `json:"subscription"`
	Message      PushMessage          `json:"message"`
}

func registerPush(reg *cluster.Registry) {
	reg.RegisterError("booking.push_closed", ErrPushClosed)
	reg.Handle(CmdPushSubscribe, payloadVersion, applyPushSubscribe)
	reg.Handle(CmdPushForget, payloadVersion, applyPushForget)
	// The endpoint is an address of the citizen's browser: the audit
	// log names the booking only.
	reg.Describe(CmdPushSubscribe, describePush)
	reg.Describe(CmdPushForget, describePush)
}

func describePush(cmd cluster.Command) string {
	var p struct {
		Code      string `json:"code"`
		BookingID string `json:"booking_id"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	if p.Code != "" {
		return summary("booking", p.Code)
	}
	return summary("booking", p.BookingID)
}

// CheckSubscription gives Italian field errors for a subscription the
// policy refuses ("endpoint", "keys", "keys.p256dh", "keys.auth"). The
// policy is the node's (tests allow their receiver), so it is checked by
// the proposer and not in apply.
func CheckSubscription(sub webpush.Subscription, policy webpush.EndpointPolicy) error {
	f := map[string]string{}
	if strings.TrimSpace(sub.Endpoint) == "" {
		f["endpoint"] = "Manca l'indirizzo del servizio di notifica (endpoint)."
	}
	if sub.Keys.P256dh == "" {
		f["keys.p256dh"] = "Manca la chiave p256dh della sottoscrizione."
	}
	if sub.Keys.Auth == "" {
		f["keys.auth"] = "Manca la chiave auth della sottoscrizione."
	}
	if len(f) == 0 {
		switch err := sub.Validate(policy); {
		case err == nil:
		case errors.Is(err, webpush.ErrKeys):
			f["keys"] = "Le chiavi della sottoscrizione non sono valide: p256dh deve essere una chiave pubblica P-256 e auth un segreto di 16 byte, in base64url."
		default:
			f["endpoint"] = "L'indirizzo di notifica non è valido o non appartiene a un servizio di notifica dei browser (Google, Mozilla, Apple, Microsoft)."
		}
	}
	return fieldsErr(f)
}

// SubscribePush records sub, a browser's PushSubscription, for the
// booking with code, if token is its manage token. The same endpoint
// again replaces its keys; a fourth browser evicts the oldest. A bad
// subscription gives a *ValidationError, a wrong token ErrBadToken (or
// ErrNotFound), a cancelled or begun booking ErrPushClosed.
func (b *Book) SubscribePush(ctx context.Context, t tenant.ID, code, token string, sub webpush.Subscription, policy webpush.EndpointPolicy) error {
	// The token is checked on the local view first, so that guesses cost
	// a read and never a log entry; apply checks it again.
	bk, err := b.Get(ctx, t, code, token)
	if err != nil {
		return err
	}
	if bk.Status != Active || !b.now().Before(bk.Start) {
		return fmt.Errorf("subscribe booking %s: %w", bk.Code, ErrPushClosed)
	}
	if err := CheckSubscription(sub, policy); err != nil {
		return err
	}
	_, err = b.propose(ctx, CmdPushSubscribe, t, pushSubscribePayload{
		Code: bk.Code, TokenHash: hashToken(token),
		Endpoint: strings.TrimSpace(sub.Endpoint), P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth,
	})
	return err
}

// UnsubscribePush forgets the browser with endpoint of the booking with
// code, if token is its manage token. Forgetting one that is not there
// is not an error.
func (b *Book) UnsubscribePush(ctx context.Context, t tenant.ID, code, token, endpoint string) error {
	bk, err := b.Get(ctx, t, code, token)
	if err != nil {
		return err
	}
	if strings.TrimSpace(endpoint) == "" {
		return &ValidationError{Fields: map[string]string{"endpoint": "Manca l'indirizzo del servizio di notifica (endpoint)."}}
	}
	_, err = b.propose(ctx, CmdPushForget, t, pushForgetPayload{Code: bk.Code, TokenHash: hashToken(token), Endpoint: strings.TrimSpace(endpoint)})
	return err
}

// ForgetPush forgets a subscription the push service said is gone
// (webpush.ErrGone); PushDeliverer calls it with what the outbox item
// carried. One already forgotten costs a read and no command.
func (b *Book) ForgetPush(ctx context.Context, t tenant.ID, bookingID, endpoint string) error {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM booking_push WHERE tenant = ? AND booking_id = ? AND endpoint = ?`,
		t, bookingID, endpoint).Scan(&n)
	if isNoSuchTable(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find push subscription of %s: %w", bookingID, err)
	}
	if n == 0 {
		return nil
	}
	_, err = b.propose(ctx, CmdPushForget, t, pushForgetPayload{BookingID: bookingID, Endpoint: endpoint})
	return err
}

// PushSubscriptions returns how many browsers are subscribed for the
// booking with ID id.
func (b *Book) PushSubscriptions(ctx context.Context, t tenant.ID, id string) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT count(*) FROM booking_push WHERE tenant = ? AND booking_id = ?`, t, id).Scan(&n)
	if isNoSuchTable(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count push subscriptions of %s: %w", id, err)
	}
	return n, nil
}

func applyPushSubscribe(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pushSubscribePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.Code == "" || p.Endpoint == "" || p.P256dh == "" || p.Auth == "" || len(p.TokenHash) != tokenHashSize {
		return nil, fmt.Errorf("%s: payload lacks code, endpoint, keys or token", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	b, err := loadBookingByCode(ctx, tx, t, p.Code)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(b.hash, p.TokenHash) != 1 {
		return nil, fmt.Errorf("booking %s: %w", b.Code, ErrBadToken)
	}
	if b.Status != Active || !cmd.Time.Before(b.Start) {
		return nil, fmt.Errorf("subscribe booking %s: %w", b.Code, ErrPushClosed)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_push (tenant, booking_id, endpoint, p256dh, auth, added)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, booking_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth,
			added = excluded.added`, t, b.ID, p.Endpoint, p.P256dh, p.Auth, int64(cmd.Index)); err != nil {
		return nil, fmt.Errorf("record push subscription of %s: %w", b.Code, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_push WHERE tenant = ? AND booking_id = ? AND endpoint IN (
		SELECT endpoint FROM booking_push WHERE tenant = ? AND booking_id = ? ORDER BY added DESC, endpoint LIMIT -1 OFFSET ?)`,
		t, b.ID, t, b.ID, MaxPushPerBooking); err != nil {
		return nil, fmt.Errorf("evict push subscriptions of %s: %w", b.Code, err)
	}
	return nil, nil
}

func applyPushForget(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pushForgetPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	id := p.BookingID
	switch {
	case p.Endpoint == "":
		return nil, fmt.Errorf("%s: payload lacks the endpoint", cmd.Type)
	case p.Code != "":
		b, err := loadBookingByCode(ctx, tx, t, p.Code)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(b.hash, p.TokenHash) != 1 {
			return nil, fmt.Errorf("booking %s: %w", b.Code, ErrBadToken)
		}
		id = b.ID
	case id == "":
		return nil, fmt.Errorf("%s: payload names no booking", cmd.Type)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_push WHERE tenant = ? AND booking_id = ? AND endpoint = ?`,
		t, id, p.Endpoint); err != nil {
		return nil, fmt.Errorf("forget push subscription of %s: %w", id, err)
	}
	return nil, nil
}

// enqueueReminderPush queues reminder n for every browser of its
// booking. Each key names the booking, the browser (a hash of its
// endpoint), the booking's Sequence and the offset, so one reminder is
// queued once per browser.
func enqueueReminderPush(tx *sql.Tx, cmd cluster.Command, n Notice) error {
	ctx := context.Background()
	b := n.Booking
	rows, err := tx.QueryContext(ctx, `SELECT endpoint, p256dh, auth FROM booking_push WHERE tenant = ? AND booking_id = ?
		ORDER BY endpoint`, n.Tenant, b.ID)
	if err != nil {
		return fmt.Errorf("list push subscriptions of %s: %w", b.Code, err)
	}
	var subs []webpush.Subscription
	for rows.Next() {
		var s webpush.Subscription
		if err := rows.Scan(&s.Endpoint, &s.Keys.P256dh, &s.Keys.Auth); err != nil {
			rows.Close()
			return fmt.Errorf("list push subscriptions of %s: %w", b.Code, err)
		}
		subs = append(subs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list push subscriptions of %s: %w", b.Code, err)
	}
	if len(subs) == 0 {
		return nil
	}
	msg := reminderPushMessage(n)
	for _, s := range subs {
		payload, err := json.Marshal(pushItem{Tenant: n.Tenant, BookingID: b.ID, Start: b.Start.UTC(), Subscription: s, Message: msg})
		if err != nil {
			return fmt.Errorf("encode push of %s: %w", b.Code, err)
		}
		h := sha256.Sum256([]byte(s.Endpoint))
		key := fmt.Sprintf("booking/%s/%s/push-%s/%d-%d", n.Tenant, b.ID, hex.EncodeToString(h[:8]), b.Sequence, int64(n.Before/time.Minute))
		if err := cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: PushOutboxKind, Key: key, Payload: payload}); err != nil {
			return fmt.Errorf("enqueue push of %s: %w", b.Code, err)
		}
	}
	return nil
}

// reminderPushMessage words reminder n as a notification in the
// booking's language: the service as title, then when and where.
func reminderPushMessage(n Notice) PushMessage {
	b := n.Booking
	lang := NormalizeLang(b.Lang)
	where := n.OfficeName
	if b.Channel == InPerson && n.OfficeAddress != "" {
		where += ", " + n.OfficeAddress
	} else if b.Channel != InPerson {
		where = channelIn(lang, b.Channel) + " – " + n.OfficeName
	}
	return PushMessage{
		Title:    messages.text(lang, "push_title", n.ServiceName),
		Body:     messages.text(lang, "push_body", DateTimeIn(lang, b.Start.In(n.location())), where),
		Tag:      "booking-" + b.ID,
		TicketID: PushTicketPrefix + b.Code,
		Kind:     string(NoticeReminder),
		Lang:     lang,
		Code:     b.Code,
	}
}

// pushMaxTTL caps how long a push service keeps a reminder for a browser
// that is offline; the appointment's start caps it first.
const pushMaxTTL = 24 * time.Hour

// PushDeliverer returns the outbox deliverer of the booking's push
// notifications (PushOutboxKind), the twin of queue.PushDeliverer: it
// encrypts and sends each with s (urgency normal, the booking as topic,
// TTL until the appointment begins, at most a day; nothing is sent once
// it has begun). On webpush.ErrGone it calls forget (Book.ForgetPush); a
// push service's 429 or 5xx, a network error or a missing VAPID key
// return an error, so the outbox tries again; any other refusal is
// logged and dropped. The lead wires it with
// node.HandleOutbox(booking.PushOutboxKind, …).
func PushDeliverer(s *webpush.Sender, forget func(ctx context.Context, t tenant.ID, bookingID, endpoint string) error, log *slog.Logger) cluster.Deliverer {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, m cluster.OutboxMessage) error {
		var it pushItem
		if err := json.Unmarshal(m.Payload, &it); err != nil {
			log.Error("booking push undecodable, dropped", "key", m.Key, "err", err)
			return nil
		}
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		left := min(it.Start.Sub(now()), pushMaxTTL).Truncate(time.Second)
		if left <= 0 {
			log.Info("booking push after the appointment began, dropped", "tenant", it.Tenant, "booking", it.Message.Code, "key", m.Key)
			return nil
		}
		payload, err := json.Marshal(it.Message)
		if err != nil {
			return fmt.Errorf("encode push %s: %w", m.Key, err)
		}
		topic := it.BookingID
		if len(topic) > 32 {
			topic = topic[:32]
		}
		err = s.Send(ctx, it.Subscription, webpush.Message{Payload: payload, TTL: left, Urgency: "normal", Topic: topic})
		var se *webpush.SendError
		switch {
		case err == nil:
			log.Info("booking push sent", "tenant", it.Tenant, "booking", it.Message.Code, "key", m.Key, "attempt", m.Attempts+1)
			return nil
		case errors.Is(err, webpush.ErrGone):
			log.Info("booking push subscription gone, forgotten", "tenant", it.Tenant, "booking", it.Message.Code, "key", m.Key)
			if forget == nil {
				return nil
			}
			if ferr := forget(ctx, it.Tenant, it.BookingID, it.Subscription.Endpoint); ferr != nil {
				return fmt.Errorf("forget gone push subscription of %s: %w", it.BookingID, ferr)
			}
			return nil
		case errors.As(err, &se) && !se.Retry,
			errors.Is(err, webpush.ErrEndpoint), errors.Is(err, webpush.ErrForbiddenAddress),
			errors.Is(err, webpush.ErrKeys), errors.Is(err, webpush.ErrTooLarge), errors.Is(err, webpush.ErrMessage):
			log.Warn("booking push refused, dropped", "tenant", it.Tenant, "booking", it.Message.Code, "key", m.Key, "err", err)
			return nil
		}
		return fmt.Errorf("send push %s: %w", m.Key, err)
	}
}
