package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/webpush"
	"github.com/sportello-virtuale/sportello/tenant"
)

// PushOutboxKind is the cluster.OutboxItem kind of the queue's push
// notifications; the node hands them to PushDeliverer.
const PushOutboxKind = "queue.push"

// PushMessage is what the service worker receives, decrypted, and
// shows (title, body, tag, lang); the other fields are for a page or app
// that wants them. It carries no secret and no link: the worker opens
// the ticket's page from the URL the page told it (DESIGN.md, "Web
// Push").
type PushMessage struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	// Tag is "ticket-<id>": a newer notification of the ticket replaces
	// the one shown.
	Tag      string `json:"tag"`
	TicketID string `json:"ticket_id"`
	// Kind is "near" or "called".
	Kind   string `json:"kind"`
	Lang   string `json:"lang"`
	Number string `json:"number"`
	Office string `json:"office,omitempty"`
	// Position is how many are called first ("near" only; 0: next).
	Position *int `json:"position,omitempty"`
	// Desk is the calling desk's label and Recall true on a recall
	// ("called" only).
	Desk   string `json:"desk,omitempty"`
	Recall bool   `json:"recall,omitempty"`
}

// pushItem is the outbox payload of one push: the message and the
// browser to send it to, frozen in apply.
type pushItem struct {
	Tenant       tenant.ID            `json:"tenant"`
	TicketID     string               `json:"ticket_id"`
	Kind         noticeKind           `json:"kind"`
	At           time.Time            `json:"at"`
	Subscription webpush.Subscription `json:"subscription"`
	Message      PushMessage          `json:"message"`
}

// pushRow is a queue_push row with its ticket.
type pushRow struct {
	k                    Ticket
	sub                  webpush.Subscription
	lang                 string
	nearSent, calledSent int64
}

// pushLine is notifyLine's twin for the push subscriptions, called by
// it after every command that changes an office's line, whether or not
// the ticket has an email. It forgets the subscriptions of closed
// tickets (and of earlier days), and queues, per browser, "manca poco"
// once per line and "è il tuo turno" at each call, recall and resume, by
// the same rules as the emails.
func pushLine(tx *sql.Tx, cmd cluster.Command, t tenant.ID, officeID, day string) error {
	ctx := context.Background()
	rows, err := loadPush(ctx, tx, t)
	if err != nil || len(rows) == 0 {
		return err
	}
	lw := &lineWatch{tx: tx, cmd: cmd, t: t, officeID: officeID, day: day}
	for _, r := range rows {
		k := r.k
		if !activeState(k.State) || k.Day < day {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_push WHERE tenant = ? AND ticket_id = ?`, t, k.ID); err != nil {
				return fmt.Errorf("forget push subscriptions of %s: %w", k.Number, err)
			}
			continue
		}
		if k.OfficeID != officeID || k.Day != day {
			continue
		}
		d, err := lw.due(k, r.nearSent, r.calledSent)
		if err != nil {
			return err
		}
		switch d.kind {
		case noticeCalled:
			n := notice{Kind: noticeCalled, Lang: r.lang, Number: k.Number, Desk: deskLabel(ctx, tx, t, k.Desk), Recall: k.Recalls > 0}
			if err := enqueuePush(tx, cmd, r, n, d.instance); err != nil {
				return err
			}
			if err := markPush(tx, r, "called_sent = ?, near_sent = ?", unixOf(k.Called), nearEpoch(k)); err != nil {
				return err
			}
		case noticeNear:
			if !d.quiet {
				// A citizen just sent back to the line heard it from the
				// operator: only the marker moves, as for the email.
				n := notice{Kind: noticeNear, Lang: r.lang, Number: k.Number, Position: d.pos}
				if err := enqueuePush(tx, cmd, r, n, d.instance); err != nil {
					return err
				}
			}
			if err := markPush(tx, r, "near_sent = ?", nearEpoch(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// markPush records on r's row what was queued.
func markPush(tx *sql.Tx, r pushRow, set string, args ...any) error {
	args = append(args, r.k.Tenant, r.k.ID, r.sub.Endpoint)
	if _, err := tx.ExecContext(context.Background(), `UPDATE queue_push SET `+set+`
		WHERE tenant = ? AND ticket_id = ? AND endpoint = ?`, args...); err != nil {
		return fmt.Errorf("record push of %s: %w", r.k.Number, err)
	}
	return nil
}

// loadPush returns the Comune's queue_push rows with their tickets:
// only as many as browsers of active tickets, since pushLine deletes
// the others.
func loadPush(ctx context.Context, tx *sql.Tx, t tenant.ID) ([]pushRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+ticketColumns+`, p.endpoint, p.p256dh, p.auth, p.lang, p.near_sent, p.called_sent
		FROM queue_push p JOIN queue_tickets ON queue_tickets.tenant = p.tenant AND queue_tickets.id = p.ticket_id
		WHERE p.tenant = ? ORDER BY p.ticket_id, p.endpoint`, t)
	if err != nil {
		return nil, fmt.Errorf("list push subscriptions: %w", err)
	}
	defer rows.Close()
	var out []pushRow
	for rows.Next() {
		var r pushRow
		k, err := scanTicket(t, scanExtra{rows, []any{&r.sub.Endpoint, &r.sub.Keys.P256dh, &r.sub.Keys.Auth, &r.lang,
			&r.nearSent, &r.calledSent}})
		if err != nil {
			return nil, fmt.Errorf("list push subscriptions: %w", err)
		}
		r.k = k
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list push subscriptions: %w", err)
	}
	return out, nil
}

// pushKey is the outbox key of one push: per ticket, browser, event and
// its instance. The items of one browser share the prefix up to the
// endpoint's hash, so they form one outbox sequence and arrive in order
// (a late "manca poco" never follows the call).
func pushKey(t tenant.ID, ticketID, endpoint string, kind noticeKind, n string) string {
	h := sha256.Sum256([]byte(endpoint))
	return "queue/" + string(t) + "/" + ticketID + "/push/" + hex.EncodeToString(h[:8]) + "/" + string(kind) + "/" + n
}

// enqueuePush words n in the browser's language, with the office's
// name read in this transaction, and queues it for r's browser.
func enqueuePush(tx *sql.Tx, cmd cluster.Command, r pushRow, n notice, instance string) error {
	var office string
	err := tx.QueryRowContext(context.Background(), `SELECT name FROM booking_offices WHERE tenant = ? AND id = ?`,
		r.k.Tenant, r.k.OfficeID).Scan(&office)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("office of push %s: %w", r.k.Number, err)
	}
	if office == "" {
		office = r.k.OfficeID
	}
	n.Office = office
	item := pushItem{
		Tenant: r.k.Tenant, TicketID: r.k.ID, Kind: n.Kind, At: cmd.Time.UTC().Truncate(time.Second),
		Subscription: r.sub, Message: pushMessage(r.k.ID, n),
	}
	payload, err := json.Marshal(item)
	if err != nil {
		return fmt.Errorf("encode push of %s: %w", r.k.Number, err)
	}
	key := pushKey(r.k.Tenant, r.k.ID, r.sub.Endpoint, n.Kind, instance)
	return cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: PushOutboxKind, Key: key, Payload: payload})
}

// pushMessage words notice n as a notification, with the emails' texts
// (notify_email.go) so that both say the same in every language: the
// email's subject is the title.
func pushMessage(ticketID string, n notice) PushMessage {
	v := newEmailView(n)
	m := PushMessage{
		Title: v.Subject, Tag: "ticket-" + ticketID, TicketID: ticketID, Kind: string(n.Kind), Lang: v.Lang,
		Number: n.Number, Office: n.Office,
	}
	switch n.Kind {
	case noticeCalled:
		m.Body, m.Desk, m.Recall = v.Lines[0], n.Desk, n.Recall
	default:
		// Lines: the office's sentence (which sends the reader to the
		// board of the hall, too long here), how many are before, the
		// number.
		pos := n.Position
		m.Body, m.Position = v.Lines[1]+" "+v.Lines[2]+" · "+n.Office, &pos
	}
	return m
}
