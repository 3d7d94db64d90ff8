package queue

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Web Push: a citizen who allows it on the ticket page (or in the
// waiting room) gets the same two notices as by email, "manca poco" and
// "è il tuo turno", as notifications of the browser. The subscription is
// replicated state of the ticket (queue_push), so that whichever node
// leads decides and sends; it goes when the ticket closes. See
// DESIGN.md, "Web Push".

// Command types of the push subscriptions.
const (
	// CmdPushSubscribe records a browser's subscription for a ticket.
	CmdPushSubscribe = "queue.push.subscribe"
	// CmdPushForget drops one: the citizen asked, or the push service
	// said the subscription is gone.
	CmdPushForget = "queue.push.forget"
)

// maxPushPerTicket bounds the browsers notified for one ticket: a phone
// and a computer, and one more. A fourth evicts the one subscribed
// longest ago, because the device the citizen holds now is the one that
// asks.
const maxPushPerTicket = 3

// ErrTicketClosed refuses a subscription for a ticket that no longer
// holds a place (served, no-show, cancelled): nothing will be told.
var ErrTicketClosed = errors.New("ticket is no longer active")

// pushSubscribePayload is version 1 of queue.push.subscribe. The
// credential is the secret's hash (the ticket page) or the booking code
// the join token was checked for (the waiting room): apply checks the
// one given against the ticket, so a subscription never outlives a
// change the proposer did not see.
type pushSubscribePayload struct {
	ID          string `json:"id"`
	SecretHash  []byte `json:"secret_hash,omitempty"`
	BookingCode string `json:"booking_code,omitempty"`
	Endpoint    string `json:"endpoint"`
	P256dh      string `json:"p256dh"`
	Auth        string `json:"auth"`
	Lang        string `json:"lang"`
}

// pushForgetPayload is version 1 of queue.push.forget. Without a secret
// hash it is the deliverer's: the push service said the subscription is
// dead, and forgetting it needs no proof.
type pushForgetPayload struct {
	ID         string `json:"id"`
	Endpoint   string `json:"endpoint"`
	SecretHash []byte `json:"secret_hash,omitempty"`
}

// registerPush adds the push commands and their error to reg.
func registerPush(reg *cluster.Registry) {
	reg.RegisterError("queue.ticket_closed", ErrTicketClosed)
	reg.Handle(CmdPushSubscribe, payloadVersion, applyPushSubscribe)
	reg.Handle(CmdPushForget, payloadVersion, applyPushForget)
}

// SubscribePush records sub, a browser's PushSubscription, for the
// ticket whose secret is secret; lang is the language of the
// notifications ("it" for anything but "en" and "de"). The same endpoint
// again replaces its keys; a fourth browser evicts the oldest. A bad
// subscription gives a *ValidationError (fields "endpoint", "keys",
// "keys.p256dh", "keys.auth"), a wrong secret ErrBadSecret, a closed
// ticket ErrTicketClosed.
func (q *Queue) SubscribePush(ctx context.Context, t tenant.ID, id, secret string, sub webpush.Subscription, lang string) error {
	// The secret is checked on the local view first, so that guesses
	// cost a read and never a log entry; apply checks it again.
	k, err := q.TicketWithSecret(ctx, t, id, secret)
	if err != nil {
		return err
	}
	return q.subscribePush(ctx, t, k, sub, pushSubscribePayload{ID: k.ID, SecretHash: hashSecret(secret), Lang: normLang(lang)})
}

// SubscribePushWithJoin is SubscribePush for the waiting room of a
// video or phone appointment, which holds the booking's join token
// rather than the ticket's secret: the ticket is the one the booking
// checked in with (ErrNotFound before the check-in, or for a wrong
// token). It returns the ticket's ID, which the page gives the service
// worker.
func (q *Queue) SubscribePushWithJoin(ctx context.Context, t tenant.ID, code, joinToken string, sub webpush.Subscription, lang string) (string, error) {
	bk, err := q.JoinBooking(ctx, t, code, joinToken)
	if err != nil {
		return "", err
	}
	k, err := q.BookingTicket(ctx, t, bk.Code)
	if err != nil {
		return "", err
	}
	return k.ID, q.subscribePush(ctx, t, k, sub, pushSubscribePayload{ID: k.ID, BookingCode: k.BookingCode, Lang: normLang(lang)})
}

// subscribePush validates sub and proposes p with it.
func (q *Queue) subscribePush(ctx context.Context, t tenant.ID, k Ticket, sub webpush.Subscription, p pushSubscribePayload) error {
	if !activeState(k.State) {
		return fmt.Errorf("subscribe ticket %s, %s: %w", k.Number, k.State, ErrTicketClosed)
	}
	if err := checkSubscription(sub, q.PushPolicy); err != nil {
		return err
	}
	p.Endpoint, p.P256dh, p.Auth = sub.Endpoint, sub.Keys.P256dh, sub.Keys.Auth
	_, err := q.propose(ctx, CmdPushSubscribe, t, p)
	return err
}

// checkSubscription gives Italian field errors for a subscription the
// policy refuses. The policy is the node's (tests allow their receiver),
// so it is checked here and not in apply.
func checkSubscription(sub webpush.Subscription, policy webpush.EndpointPolicy) error {
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
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

// UnsubscribePush forgets the subscription with endpoint of the ticket
// whose secret is secret. Forgetting one that is not there (or a closed
// ticket's, already forgotten) is not an error.
func (q *Queue) UnsubscribePush(ctx context.Context, t tenant.ID, id, secret, endpoint string) error {
	if _, err := q.TicketWithSecret(ctx, t, id, secret); err != nil {
		return err
	}
	if strings.TrimSpace(endpoint) == "" {
		return &ValidationError{Fields: map[string]string{"endpoint": "Manca l'indirizzo del servizio di notifica (endpoint)."}}
	}
	_, err := q.propose(ctx, CmdPushForget, t, pushForgetPayload{ID: id, Endpoint: endpoint, SecretHash: hashSecret(secret)})
	return err
}

// ForgetPush forgets a subscription the push service said is gone
// (webpush.ErrGone). It needs no secret: PushDeliverer calls it with
// what the outbox item carried. A subscription already forgotten costs
// a read and no command.
func (q *Queue) ForgetPush(ctx context.Context, t tenant.ID, ticketID, endpoint string) error {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM queue_push WHERE tenant = ? AND ticket_id = ? AND endpoint = ?`,
		t, ticketID, endpoint).Scan(&n); err != nil {
		return fmt.Errorf("find push subscription of %s: %w", ticketID, err)
	}
	if n == 0 {
		return nil
	}
	_, err := q.propose(ctx, CmdPushForget, t, pushForgetPayload{ID: ticketID, Endpoint: endpoint})
	return err
}

// PushSubscriptions returns how many browsers are subscribed for a
// ticket, for the pages and tests.
func (q *Queue) PushSubscriptions(ctx context.Context, t tenant.ID, ticketID string) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM queue_push WHERE tenant = ? AND ticket_id = ?`, t, ticketID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count push subscriptions of %s: %w", ticketID, err)
	}
	return n, nil
}

// applyPushSubscribe stores a subscription. A citizen who subscribes
// when the turn is already close, or while called, is not told again
// what the page shows at that moment: the markers start at the ticket's
// present state, as addNotify's do for an email given that close.
func applyPushSubscribe(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pushSubscribePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || p.Endpoint == "" || p.P256dh == "" || p.Auth == "" || (len(p.SecretHash) == 0 && p.BookingCode == "") {
		return nil, fmt.Errorf("%s: payload lacks id, endpoint, keys or credential", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	k, hash, err := loadTicket(ctx, tx, t, p.ID)
	if err != nil {
		return nil, err
	}
	if len(p.SecretHash) > 0 && subtle.ConstantTimeCompare(hash, p.SecretHash) != 1 {
		return nil, fmt.Errorf("ticket %s: %w", p.ID, ErrBadSecret)
	}
	if len(p.SecretHash) == 0 && k.BookingCode != p.BookingCode {
		return nil, fmt.Errorf("ticket %s of booking %s: %w", p.ID, p.BookingCode, ErrNotFound)
	}
	if !activeState(k.State) {
		return nil, fmt.Errorf("subscribe ticket %s, %s: %w", k.Number, k.State, ErrTicketClosed)
	}
	var near, called int64
	switch k.State {
	case Waiting:
		cfg, err := loadConfig(ctx, tx, t, k.OfficeID)
		if err != nil {
			return nil, err
		}
		if cfg.NotifyAhead > 0 {
			line, err := positions(ctx, tx, t, k.OfficeID, k.Day, cmd.Time)
			if err != nil {
				return nil, err
			}
			if pos, ok := line[k.ID]; ok && pos <= cfg.NotifyAhead {
				near = nearEpoch(k)
			}
		}
	default:
		near, called = nearEpoch(k), unixOf(k.Called)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_push (tenant, ticket_id, endpoint, p256dh, auth, lang, added,
		near_sent, called_sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, ticket_id, endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth,
			lang = excluded.lang, added = excluded.added`,
		t, k.ID, p.Endpoint, p.P256dh, p.Auth, normLang(p.Lang), int64(cmd.Index), near, called); err != nil {
		return nil, fmt.Errorf("record push subscription of %s: %w", k.Number, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_push WHERE tenant = ? AND ticket_id = ? AND endpoint IN (
		SELECT endpoint FROM queue_push WHERE tenant = ? AND ticket_id = ? ORDER BY added DESC, endpoint LIMIT -1 OFFSET ?)`,
		t, k.ID, t, k.ID, maxPushPerTicket); err != nil {
		return nil, fmt.Errorf("evict push subscriptions of %s: %w", k.Number, err)
	}
	return nil, nil
}

// applyPushForget drops one subscription of a ticket, checking the
// secret when the citizen asks.
func applyPushForget(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pushForgetPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.ID == "" || p.Endpoint == "" {
		return nil, fmt.Errorf("%s: payload lacks id or endpoint", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if len(p.SecretHash) > 0 {
		_, hash, err := loadTicket(ctx, tx, t, p.ID)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(hash, p.SecretHash) != 1 {
			return nil, fmt.Errorf("ticket %s: %w", p.ID, ErrBadSecret)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_push WHERE tenant = ? AND ticket_id = ? AND endpoint = ?`,
		t, p.ID, p.Endpoint); err != nil {
		return nil, fmt.Errorf("forget push subscription of %s: %w", p.ID, err)
	}
	return nil, nil
}
