package queue

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Confirmation by email of remote tickets (OfficeConfig.ConfirmEmail).
// A ticket taken from the web page or the API of such an office is not
// filed at once: queue.take.pending records it, with its payload, in
// queue_pending and queues an email with a link; queue.confirm, proposed
// when the citizen opens the link within ConfirmWithin, files it with
// the take's own code (fileTake) at the confirmation's time, so that it
// joins the line then, with the number of that moment. DESIGN.md
// ("Confirmation by email") says why.

// Command types of the confirmation.
const (
	CmdTakePending = "queue.take.pending"
	CmdConfirm     = "queue.confirm"
)

// noticeConfirm is the email with the confirmation link.
const noticeConfirm noticeKind = "confirm"

// Errors of the confirmation.
var (
	// ErrConfirmExpired: the link was opened after ConfirmWithin; the
	// ticket is gone and the citizen takes another.
	ErrConfirmExpired = errors.New("confirmation link expired")
	// ErrAlreadyConfirmed: the link was opened before and the ticket is
	// in the line.
	ErrAlreadyConfirmed = errors.New("ticket already confirmed")
)

// pendingPayload is version 1 of queue.take.pending: the take as it will
// be filed, the confirmation token, its expiry (stamped by the proposer,
// judged in apply against the command's time) and the link's base, to
// which the email adds the ticket and the token.
//
// The token is in the payload, so in the log and in the outbox row of
// the email, unlike the ticket's secret: the email must carry it, and
// the outbox is replicated state. It can only confirm one ticket within
// ConfirmWithin (at most two hours); after that every copy is worthless.
type pendingPayload struct {
	Take    takePayload `json:"take"`
	Token   string      `json:"token"`
	Expires time.Time   `json:"expires"`
	Link    string      `json:"link"`
}

// confirmPayload is version 1 of queue.confirm.
type confirmPayload struct {
	ID        string `json:"id"`
	TokenHash []byte `json:"token_hash"`
	TimeZone  string `json:"time_zone"`
}

// registerConfirm adds the confirmation's commands and errors to reg.
func registerConfirm(reg *cluster.Registry) {
	reg.RegisterError("queue.confirm_expired", ErrConfirmExpired)
	reg.RegisterError("queue.already_confirmed", ErrAlreadyConfirmed)
	reg.Handle(CmdTakePending, payloadVersion, applyTakePending)
	reg.Handle(CmdConfirm, payloadVersion, applyConfirm)
	for _, typ := range []string{CmdTakePending, CmdConfirm} {
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var k Ticket
			err := json.Unmarshal(raw, &k)
			return k, err
		})
	}
}

// needsConfirm reports whether a take of source src for a booking code
// (empty for none) waits for the email's confirmation at an office
// configured with cfg: only remote tickets do. The kiosk is in the
// office, a check-in has the booking, a desk ticket has the operator.
func needsConfirm(cfg OfficeConfig, src Source, bookingCode string) bool {
	return cfg.ConfirmEmail && (src == SourceWeb || src == SourceAPI) && bookingCode == ""
}

// takePending proposes the pending take of p (already stamped by Take).
func (q *Queue) takePending(ctx context.Context, t tenant.Tenant, req TakeRequest, cfg OfficeConfig, p takePayload, secret string) (Taken, error) {
	if p.Admit == nil || p.Admit.Email == "" {
		return Taken{}, &ValidationError{Fields: map[string]string{
			"email": "Questo ufficio conferma i biglietti presi da remoto per email: indicare un indirizzo email valido.",
		}}
	}
	if req.ConfirmLink == "" {
		return Taken{}, errors.New("queue: TakeRequest.ConfirmLink is required at an office that confirms by email")
	}
	token, err := q.randomToken(secretBytes)
	if err != nil {
		return Taken{}, err
	}
	within := cfg.ConfirmWithin
	if within <= 0 {
		within = DefaultConfirmWithin
	}
	pp := pendingPayload{Take: p, Token: token, Expires: q.now().Add(within).UTC().Truncate(time.Second), Link: req.ConfirmLink}
	res, err := q.propose(ctx, CmdTakePending, t.ID, pp)
	if err != nil {
		return Taken{}, fmt.Errorf("take pending ticket at %s: %w", req.OfficeID, err)
	}
	k, err := ticketOf(res.Value)
	if err != nil {
		return Taken{}, err
	}
	k.Tenant = t.ID
	return Taken{Ticket: k, Secret: secret, Index: res.Index}, nil
}

// applyTakePending records a remote ticket that waits for its email's
// confirmation. It is admitted now, as a take would be (hours, caps,
// proof), so that a citizen is not sent an email for a ticket refused
// anyway, and counts against the caps while it waits; the proof of work
// is spent here.
func applyTakePending(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p pendingPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	tp := p.Take
	if tp.Admit == nil || tp.Admit.Email == "" || p.Token == "" || p.Link == "" || tp.BookingCode != "" {
		return nil, fmt.Errorf("%s: payload lacks email, token or link, or is a check-in", cmd.Type)
	}
	if !p.Expires.After(cmd.Time) {
		return nil, fmt.Errorf("%s: expires before it is applied: %w", cmd.Type, ErrConfirmExpired)
	}
	ctx := context.Background()
	k, cfg, err := newTake(tx, cmd, tp)
	if err != nil {
		return nil, err
	}
	if err := sweepPending(tx, k.Tenant, k.OfficeID, cmd.Time); err != nil {
		return nil, err
	}
	if err := admit(tx, cmd, cfg, k, tp.Admit); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(tp)
	if err != nil {
		return nil, fmt.Errorf("encode pending take: %w", err)
	}
	tokenHash := hashSecret(p.Token)
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_pending (tenant, id, office_id, day, payload, secret_hash,
		token_hash, ip_hash, device_hash, taken, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.Tenant, k.ID, k.OfficeID, k.Day, string(raw), tp.SecretHash, tokenHash, tp.Admit.IPHash, tp.Admit.DeviceHash,
		unixOf(k.Taken), p.Expires.Unix()); err != nil {
		return nil, fmt.Errorf("record pending ticket %s: %w", k.ID, err)
	}
	if tp.Admit.ProofHash != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_proofs (tenant, hash, office_id, day) VALUES (?, ?, ?, ?)`,
			k.Tenant, tp.Admit.ProofHash, k.OfficeID, k.Day); err != nil {
			return nil, fmt.Errorf("file proof of pending ticket %s: %w", k.ID, err)
		}
	}
	a := tp.Admit
	n := notice{
		Kind: noticeConfirm, Tenant: k.Tenant, TenantName: a.TenantName, Sender: a.Sender, TimeZone: a.TimeZone,
		Lang: normLang(a.Lang), Email: a.Email, TicketID: k.ID, Office: k.OfficeID,
		At: cmd.Time.UTC().Truncate(time.Second), Expires: p.Expires.UTC(),
		Link: strings.TrimSuffix(p.Link, "/") + "/" + k.ID + "?c=" + p.Token,
		Key:  noticeKey(k.Tenant, k.ID, noticeConfirm, "1"),
	}
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	k.State, k.ConfirmBy = PendingConfirmation, p.Expires.UTC()
	return k, nil
}

// applyConfirm files a pending ticket whose token matches, if it has not
// expired at the command's time: it leaves queue_pending and joins the
// line now, numbered now, admitted again by the rules of now (the office
// may have closed meanwhile). Its proof was spent by the pending take.
func applyConfirm(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p confirmPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	var raw string
	var tokenHash []byte
	var expires int64
	err := tx.QueryRowContext(ctx, `SELECT payload, token_hash, expires FROM queue_pending WHERE tenant = ? AND id = ?`,
		t, p.ID).Scan(&raw, &tokenHash, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		if _, _, err := loadTicket(ctx, tx, t, p.ID); err == nil {
			return nil, fmt.Errorf("confirm ticket %s: %w", p.ID, ErrAlreadyConfirmed)
		}
		return nil, fmt.Errorf("pending ticket %s: %w", p.ID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load pending ticket %s: %w", p.ID, err)
	}
	if subtle.ConstantTimeCompare(tokenHash, p.TokenHash) != 1 {
		return nil, fmt.Errorf("confirm ticket %s: %w", p.ID, ErrBadSecret)
	}
	if cmd.Time.Unix() >= expires {
		return nil, fmt.Errorf("confirm ticket %s: %w", p.ID, ErrConfirmExpired)
	}
	var tp takePayload
	if err := json.Unmarshal([]byte(raw), &tp); err != nil {
		return nil, fmt.Errorf("decode pending ticket %s: %w", p.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_pending WHERE tenant = ? AND id = ?`, t, p.ID); err != nil {
		return nil, fmt.Errorf("confirm ticket %s: %w", p.ID, err)
	}
	// The day and the line are those of the confirmation.
	tp.TimeZone = p.TimeZone
	if tp.Admit != nil {
		tp.Admit.ProofHash = ""
	}
	return fileTake(tx, cmd, tp)
}

// sweepPending drops the office's pending tickets expired at now.
func sweepPending(tx *sql.Tx, t tenant.ID, officeID string, now time.Time) error {
	if _, err := tx.ExecContext(context.Background(), `DELETE FROM queue_pending
		WHERE tenant = ? AND office_id = ? AND expires <= ?`, t, officeID, now.Unix()); err != nil && !noPendingTable(err) {
		return fmt.Errorf("drop expired pending tickets of %s: %w", officeID, err)
	}
	return nil
}

// noPendingTable reports whether err says queue_pending does not exist:
// a node of this version under an older leader applies takes on the
// cluster's schema until every member can migrate to version 5. No
// ticket can be pending before that, and an older member applies the
// same take without looking, so both count nothing there.
func noPendingTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table: queue_pending")
}

// Confirm files the pending ticket id when token is the one its email
// carried: ErrBadSecret for another token, ErrConfirmExpired past its
// time, ErrAlreadyConfirmed when it is already in the line, ErrNotFound
// when there is no such ticket (or it expired and was dropped). The
// token is checked on the local view first, so that a guess costs a
// read and no log entry.
func (q *Queue) Confirm(ctx context.Context, t tenant.Tenant, id, token string) (Taken, error) {
	h := hashSecret(token)
	pk, hash, err := q.pending(ctx, t.ID, id)
	switch {
	case errors.Is(err, ErrNotFound):
		if _, _, err := loadTicket(ctx, q.db, t.ID, id); err == nil {
			return Taken{}, fmt.Errorf("confirm ticket %s: %w", id, ErrAlreadyConfirmed)
		}
		return Taken{}, err
	case err != nil:
		return Taken{}, err
	}
	if subtle.ConstantTimeCompare(hash, h) != 1 {
		return Taken{}, fmt.Errorf("confirm ticket %s: %w", id, ErrBadSecret)
	}
	if !q.now().Before(pk.ConfirmBy) {
		return Taken{}, fmt.Errorf("confirm ticket %s: %w", id, ErrConfirmExpired)
	}
	res, err := q.propose(ctx, CmdConfirm, t.ID, confirmPayload{ID: id, TokenHash: h, TimeZone: t.TimeZone})
	if err != nil {
		return Taken{}, err
	}
	k, err := ticketOf(res.Value)
	if err != nil {
		return Taken{}, err
	}
	k.Tenant = t.ID
	st, err := q.status(ctx, k)
	if err != nil {
		return Taken{}, err
	}
	return Taken{Ticket: k, Status: st, Index: res.Index}, nil
}

// pending reads a pending ticket from the local view with its token's
// hash: ErrNotFound when there is none.
func (q *Queue) pending(ctx context.Context, t tenant.ID, id string) (Ticket, []byte, error) {
	var raw string
	var tokenHash []byte
	var taken, expires int64
	err := q.db.QueryRowContext(ctx, `SELECT payload, token_hash, taken, expires FROM queue_pending
		WHERE tenant = ? AND id = ?`, t, id).Scan(&raw, &tokenHash, &taken, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, nil, fmt.Errorf("pending ticket %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("load pending ticket %s: %w", id, err)
	}
	var tp takePayload
	if err := json.Unmarshal([]byte(raw), &tp); err != nil {
		return Ticket{}, nil, fmt.Errorf("decode pending ticket %s: %w", id, err)
	}
	k := Ticket{
		ID: id, Tenant: t, OfficeID: tp.OfficeID, ServiceID: tp.ServiceID, Channel: tp.Channel,
		State: PendingConfirmation, Duration: time.Duration(tp.DurationS) * time.Second,
		Taken: unixTime(taken), ConfirmBy: unixTime(expires),
	}
	return k, tokenHash, nil
}

// pendingWithSecret returns the pending ticket id if secret is its
// ticket secret and it has not expired by the clock: a ticket whose time
// passed is gone for the citizen, even before a command drops its row.
func (q *Queue) pendingWithSecret(ctx context.Context, t tenant.ID, id, secret string) (Ticket, error) {
	var secretHash []byte
	if err := q.db.QueryRowContext(ctx, `SELECT secret_hash FROM queue_pending WHERE tenant = ? AND id = ?`, t, id).Scan(&secretHash); errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, fmt.Errorf("ticket %s: %w", id, ErrNotFound)
	} else if err != nil {
		return Ticket{}, fmt.Errorf("load pending ticket %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare(secretHash, hashSecret(secret)) != 1 {
		return Ticket{}, fmt.Errorf("ticket %s: %w", id, ErrBadSecret)
	}
	k, _, err := q.pending(ctx, t, id)
	if err != nil {
		return Ticket{}, err
	}
	if !q.now().Before(k.ConfirmBy) {
		return Ticket{}, fmt.Errorf("ticket %s expired unconfirmed: %w", id, ErrNotFound)
	}
	return k, nil
}

// cancelPending drops a pending ticket whose secret hash matches (the
// citizen leaves before confirming): part of queue.cancel.
func cancelPending(tx *sql.Tx, cmd cluster.Command, p cancelPayload) (Ticket, error) {
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	var secretHash []byte
	var officeID string
	err := tx.QueryRowContext(ctx, `SELECT secret_hash, office_id FROM queue_pending WHERE tenant = ? AND id = ?`,
		t, p.ID).Scan(&secretHash, &officeID)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, fmt.Errorf("ticket %s: %w", p.ID, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("load pending ticket %s: %w", p.ID, err)
	}
	if subtle.ConstantTimeCompare(secretHash, p.SecretHash) != 1 {
		return Ticket{}, fmt.Errorf("ticket %s: %w", p.ID, ErrBadSecret)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM queue_pending WHERE tenant = ? AND id = ?`, t, p.ID); err != nil {
		return Ticket{}, fmt.Errorf("cancel pending ticket %s: %w", p.ID, err)
	}
	now := cmd.Time.UTC().Truncate(time.Second)
	return Ticket{ID: p.ID, Tenant: t, OfficeID: officeID, State: Cancelled, Done: now}, nil
}

// PendingOffice returns the office of the pending ticket id, expired or
// not, for the page that tells the citizen to take a new number there.
func (q *Queue) PendingOffice(ctx context.Context, t tenant.ID, id string) (string, error) {
	var office string
	err := q.db.QueryRowContext(ctx, `SELECT office_id FROM queue_pending WHERE tenant = ? AND id = ?`, t, id).Scan(&office)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("pending ticket %s: %w", id, ErrNotFound)
	}
	return office, err
}
