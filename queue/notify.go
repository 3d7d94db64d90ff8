package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Notifications: a citizen who left an email (or checked in with a
// booking, which has one) is told once when the turn is close and again
// whenever a desk calls the ticket. The emails are queued in apply, in the
// replicated outbox, with a key per ticket and event: a command replayed
// or applied on every node queues each email once, and the leader's
// outbox worker sends it (at least once: see DESIGN.md).

// OutboxKind is the cluster.OutboxItem kind of the queue's emails; the
// node hands them to EmailDeliverer.
const OutboxKind = "queue.email"

// noticeKind says which event an email tells of.
type noticeKind string

// The events the queue emails about.
const (
	// noticeNear: the turn is close ("manca poco").
	noticeNear noticeKind = "near"
	// noticeCalled: a desk calls the ticket ("è il tuo turno"), or calls
	// it again (Recall).
	noticeCalled noticeKind = "called"
)

// notice is everything one email says, frozen in apply: it is the outbox
// item's payload, so a resend after a failure tells what was true at the
// event. It carries no link to the ticket's page: that needs the ticket's
// secret, which is never stored (DESIGN.md, "Notifications").
type notice struct {
	Kind       noticeKind    `json:"kind"`
	Tenant     tenant.ID     `json:"tenant"`
	TenantName string        `json:"tenant_name"`
	Sender     tenant.Sender `json:"sender"`
	TimeZone   string        `json:"time_zone"`
	Lang       string        `json:"lang"`
	Email      string        `json:"email"`
	TicketID   string        `json:"ticket_id"`
	Number     string        `json:"number"`
	Office     string        `json:"office"`
	Address    string        `json:"address,omitempty"`
	// Position is how many are called before the ticket (near only).
	Position int `json:"position,omitempty"`
	// Desk is the label of the calling desk ("Sportello 3"); Recall is
	// true when the desk calls the ticket again.
	Desk   string `json:"desk,omitempty"`
	Recall bool   `json:"recall,omitempty"`
	// At is the event's time (the command's).
	At time.Time `json:"at"`
	// Link and Expires are the confirmation link and its expiry
	// (noticeConfirm only, confirm.go).
	Link    string    `json:"link,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Key is the outbox key, also the Message-ID's local part.
	Key string `json:"key"`
}

// notifyRow is a queue_notify row with its ticket.
type notifyRow struct {
	k                           Ticket
	email, lang, tenantName, tz string
	sender                      tenant.Sender
	// nearSent is nearEpoch(k) when the "manca poco" email of the
	// ticket's present line was queued (0: not yet); calledSent is the
	// call time (Unix) of the last "è il tuo turno" email.
	nearSent, calledSent int64
}

// addNotify records where to email the citizen of k, just taken. The
// "manca poco" email is not sent when the ticket enters the line already
// that close: the citizen reads the position on the screen right then.
func addNotify(tx *sql.Tx, cmd cluster.Command, cfg OfficeConfig, k Ticket, a *admitStamp) error {
	ctx := context.Background()
	near := false
	if cfg.NotifyAhead > 0 {
		waiting, err := loadTickets(ctx, tx, k.Tenant, k.OfficeID, k.Day, Waiting)
		if err != nil {
			return err
		}
		pos := 0
		for _, o := range waiting {
			if o.ID != k.ID && ahead(o, k, cmd.Time) {
				pos++
			}
		}
		near = pos <= cfg.NotifyAhead
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_notify (tenant, ticket_id, email, lang, tenant_name,
		sender_name, sender_address, time_zone, near_sent, called_sent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		k.Tenant, k.ID, a.Email, normLang(a.Lang), a.TenantName, a.Sender.Name, a.Sender.Address, a.TimeZone, near); err != nil {
		return fmt.Errorf("record email of %s: %w", k.Number, err)
	}
	return nil
}

// notifyAfter is notifyLine for a command that saved ticket k with
// error err: apply functions end with
//
//	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
//
// so that the hook costs their call site one line.
func notifyAfter(tx *sql.Tx, cmd cluster.Command, k Ticket, err error) error {
	if err != nil {
		return err
	}
	return notifyLine(tx, cmd, k.Tenant, k.OfficeID, k.Day)
}

// notifyLine is called by apply after every command that changes an
// office's line (call, call ticket, recall, cancel, transfer, park,
// resume, no-show, served). From the line at cmd.Time it queues the
// emails now due: "manca poco" for each ticket with an email whose
// position reached OfficeConfig.NotifyAhead (once per ticket), and "è il
// tuo turno" for each ticket called (or recalled) since its last email.
// It also forgets the emails of closed tickets and the client hashes
// (purgeClosed): nothing is kept once the ticket is over. pushLine does
// the same for the Web Push subscriptions (push_line.go).
func notifyLine(tx *sql.Tx, cmd cluster.Command, t tenant.ID, officeID, day string) error {
	if err := purgeClosed(tx, t, officeID, day); err != nil {
		return err
	}
	if err := pushLine(tx, cmd, t, officeID, day); err != nil {
		return err
	}
	if err := appioLine(tx, cmd, t, officeID, day); err != nil {
		return err
	}
	ctx := context.Background()
	rows, err := loadNotify(ctx, tx, t)
	if err != nil || len(rows) == 0 {
		return err
	}
	lw := &lineWatch{tx: tx, cmd: cmd, t: t, officeID: officeID, day: day}
	for _, r := range rows {
		k := r.k
		if !activeState(k.State) || k.Day < day {
			if _, err := tx.ExecContext(ctx, `DELETE FROM queue_notify WHERE tenant = ? AND ticket_id = ?`, t, k.ID); err != nil {
				return fmt.Errorf("forget email of %s: %w", k.Number, err)
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
			n := r.notice(noticeCalled, cmd)
			n.Desk, n.Recall = deskLabel(ctx, tx, t, k.Desk), k.Recalls > 0
			n.Key = noticeKey(t, k.ID, noticeCalled, d.instance)
			if err := enqueueNotice(tx, cmd, n); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE queue_notify SET called_sent = ?, near_sent = ?
				WHERE tenant = ? AND ticket_id = ?`, unixOf(k.Called), nearEpoch(k), t, k.ID); err != nil {
				return fmt.Errorf("record call email of %s: %w", k.Number, err)
			}
		case noticeNear:
			if !d.quiet {
				n := r.notice(noticeNear, cmd)
				n.Position = d.pos
				n.Key = noticeKey(t, k.ID, noticeNear, d.instance)
				if err := enqueueNotice(tx, cmd, n); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE queue_notify SET near_sent = ? WHERE tenant = ? AND ticket_id = ?`,
				nearEpoch(k), t, k.ID); err != nil {
				return fmt.Errorf("record near email of %s: %w", k.Number, err)
			}
		}
	}
	return nil
}

// lineWatch decides, for one command's line (tenant, office, day), which
// notice each ticket is due: the rule the emails and the pushes share. It
// reads the office's settings and the positions at most once, and only
// when a waiting ticket may be near.
type lineWatch struct {
	tx       *sql.Tx
	cmd      cluster.Command
	t        tenant.ID
	officeID string
	day      string
	cfg      *OfficeConfig
	line     map[string]int
}

// dueNotice is lineWatch.due's answer: kind "" for nothing; instance
// names the event (the call's time, or the line's nearEpoch) for the
// outbox key; quiet says to record the notice as given without sending
// it (a citizen the operator just sent back to the line heard it face to
// face).
type dueNotice struct {
	kind     noticeKind
	pos      int
	instance string
	quiet    bool
}

// due returns the notice ticket k (of the watched line, active) is due,
// given the call time and line of the last notices queued for it.
func (w *lineWatch) due(k Ticket, nearSent, calledSent int64) (dueNotice, error) {
	switch {
	case k.State == Called && calledSent != unixOf(k.Called):
		return dueNotice{kind: noticeCalled, instance: strconv.FormatInt(unixOf(k.Called), 10)}, nil
	case k.State == Waiting && nearSent != nearEpoch(k):
		ctx := context.Background()
		if w.cfg == nil {
			c, err := loadConfig(ctx, w.tx, w.t, w.officeID)
			if err != nil {
				return dueNotice{}, err
			}
			w.cfg = &c
		}
		if w.cfg.NotifyAhead <= 0 {
			return dueNotice{}, nil
		}
		if w.line == nil {
			line, err := positions(ctx, w.tx, w.t, w.officeID, w.day, w.cmd.Time)
			if err != nil {
				return dueNotice{}, err
			}
			w.line = line
		}
		pos, ok := w.line[k.ID]
		if !ok || pos > w.cfg.NotifyAhead {
			return dueNotice{}, nil
		}
		return dueNotice{kind: noticeNear, pos: pos, instance: strconv.FormatInt(nearEpoch(k), 10),
			quiet: justTransferred(w.cmd, k)}, nil
	}
	return dueNotice{}, nil
}

// nearEpoch names the line a ticket waits in for the "manca poco" email:
// 1 for the line it was taken in, then one more per transfer (the Unix
// time of the transfer plus one), so that a transferred citizen is told
// again when the turn in the new line comes close.
func nearEpoch(k Ticket) int64 { return unixOf(k.Transferred) + 1 }

// justTransferred reports whether cmd is the transfer that put k in its
// present line.
func justTransferred(cmd cluster.Command, k Ticket) bool {
	return cmd.Type == CmdTransfer && k.Transferred.Equal(cmd.Time.UTC().Truncate(time.Second))
}

// activeState reports whether a ticket in state s still holds a place.
func activeState(s State) bool {
	return s == Waiting || s == Called || s == Serving || s == Parked
}

// loadNotify returns the Comune's queue_notify rows with their tickets.
// There are only as many as tickets with an email still active, since
// notifyLine deletes the others.
func loadNotify(ctx context.Context, tx *sql.Tx, t tenant.ID) ([]notifyRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+ticketColumns+`, n.email, n.lang, n.tenant_name, n.sender_name,
		n.sender_address, n.time_zone, n.near_sent, n.called_sent
		FROM queue_notify n JOIN queue_tickets ON queue_tickets.tenant = n.tenant AND queue_tickets.id = n.ticket_id
		WHERE n.tenant = ? ORDER BY n.ticket_id`, t)
	if err != nil {
		return nil, fmt.Errorf("list emails to send: %w", err)
	}
	defer rows.Close()
	var out []notifyRow
	for rows.Next() {
		var r notifyRow
		k, err := scanTicket(t, scanExtra{rows, []any{&r.email, &r.lang, &r.tenantName, &r.sender.Name,
			&r.sender.Address, &r.tz, &r.nearSent, &r.calledSent}})
		if err != nil {
			return nil, fmt.Errorf("list emails to send: %w", err)
		}
		r.k = k
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list emails to send: %w", err)
	}
	return out, nil
}

// scanExtra scans the ticket columns and then more.
type scanExtra struct {
	rows  *sql.Rows
	extra []any
}

func (s scanExtra) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.extra...)...) }

// positions returns how many are called before each waiting ticket of
// the office's day, by the ordering rule at now.
func positions(ctx context.Context, tx *sql.Tx, t tenant.ID, officeID, day string, now time.Time) (map[string]int, error) {
	waiting, err := loadTickets(ctx, tx, t, officeID, day, Waiting)
	if err != nil {
		return nil, err
	}
	order(waiting, now)
	out := make(map[string]int, len(waiting))
	for i, k := range waiting {
		out[k.ID] = i
	}
	return out, nil
}

// notice returns the email of kind about r's ticket, without the event's
// details.
func (r notifyRow) notice(kind noticeKind, cmd cluster.Command) notice {
	n := notice{
		Kind: kind, Tenant: r.k.Tenant, TenantName: r.tenantName, Sender: r.sender, TimeZone: r.tz,
		Lang: normLang(r.lang), Email: r.email, TicketID: r.k.ID, Number: r.k.Number, Office: r.k.OfficeID,
		At: cmd.Time.UTC().Truncate(time.Second),
	}
	return n
}

// noticeKey is the outbox key of one email: one ticket's emails form one
// outbox sequence ("queue/<tenant>/<ticket>"), delivered in order.
func noticeKey(t tenant.ID, ticketID string, kind noticeKind, n string) string {
	return "queue/" + string(t) + "/" + ticketID + "/" + string(kind) + "/" + n
}

// enqueueNotice fills the office's name and address, read from booking's
// table in this transaction (apply runs in log order, so every node reads
// the same row), and queues the email.
func enqueueNotice(tx *sql.Tx, cmd cluster.Command, n notice) error {
	var name, address string
	err := tx.QueryRowContext(context.Background(), `SELECT name, address FROM booking_offices WHERE tenant = ? AND id = ?`,
		n.Tenant, n.Office).Scan(&name, &address)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("office of email %s: %w", n.Key, err)
	}
	if name != "" {
		n.Office, n.Address = name, address
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode email %s: %w", n.Key, err)
	}
	return cluster.Enqueue(tx, cmd, cluster.OutboxItem{Kind: OutboxKind, Key: n.Key, Payload: payload})
}

// deskLabel is what the citizen reads for desk: the booking desk's label,
// or the desk as given when booking has no such desk.
func deskLabel(ctx context.Context, tx *sql.Tx, t tenant.ID, desk string) string {
	var label string
	if err := tx.QueryRowContext(ctx, `SELECT label FROM booking_desks WHERE tenant = ? AND id = ?`, t, desk).Scan(&label); err != nil || label == "" {
		return desk
	}
	return label
}
