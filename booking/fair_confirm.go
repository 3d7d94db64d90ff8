package booking

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// ReleaseListener hears of every slot freed by confirm-to-keep, so that a
// waiting list can offer it. The leader's FairWorker calls it after the
// release command has committed; a leader that dies in between leaves the
// call undone (the slot is free all the same, and bookable by anyone).
type ReleaseListener interface {
	OnRelease(ctx context.Context, t tenant.ID, serviceID string, start time.Time)
}

// ReleaseNotice is the reason written in the cancellation email of an
// appointment released for want of confirmation (the notice's Reason).
const ReleaseNotice = "Non hai confermato la prenotazione entro il termine: il posto è stato liberato per altri cittadini."

// confirmPayload is version 1 of booking.fair.confirm.
type confirmPayload struct {
	Code      string `json:"code"`
	TokenHash []byte `json:"token_hash"`
}

// releasePayload is version 1 of booking.fair.release: the worker names
// the booking and the Sequence it saw, so that a move since makes the
// proposal stale.
type releasePayload struct {
	BookingID string `json:"booking_id"`
	Sequence  int    `json:"sequence"`
	Comune    comune `json:"comune"`
	BaseURL   string `json:"base_url"`
}

// ReleaseResult is the value of booking.fair.release.
type ReleaseResult struct {
	Released  bool      `json:"released"`
	ServiceID string    `json:"service_id"`
	Start     time.Time `json:"start"`
}

func decodeRelease(raw json.RawMessage) (any, error) {
	var r ReleaseResult
	err := json.Unmarshal(raw, &r)
	return r, err
}

// Confirmation is the confirm-to-keep state of a booking.
type Confirmation struct {
	// Required is false when the service does not ask it, or the booking
	// was made (or moved) once the window had opened.
	Required  bool
	Confirmed bool
	// Opens and Deadline bound the window [Opens, Deadline).
	Opens, Deadline time.Time
}

// confirmationOf computes the state of b under s; confirmed tells whether
// the record exists.
func confirmationOf(s FairSettings, b Booking, confirmed bool) Confirmation {
	if s.ConfirmBy <= 0 {
		return Confirmation{}
	}
	c := Confirmation{Opens: b.Start.Add(-s.ConfirmFrom), Deadline: b.Start.Add(-s.ConfirmBy), Confirmed: confirmed}
	// A booking made or moved inside the window is a sign of life
	// already: asking again would release appointments booked late.
	c.Required = b.Updated.Before(c.Opens)
	return c
}

func isConfirmed(ctx context.Context, q querier, t tenant.ID, id string) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM booking_fair_confirmed WHERE tenant = ? AND booking_id = ?)`, t, id).Scan(&ok)
	if isNoFairTable(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read confirmation of %s: %w", id, err)
	}
	return ok, nil
}

// Confirmation returns the confirm-to-keep state of booking bk.
func (b *Book) Confirmation(ctx context.Context, t tenant.ID, bk Booking) (Confirmation, error) {
	s, err := loadFair(ctx, b.db, t, bk.ServiceID)
	if err != nil {
		return Confirmation{}, err
	}
	ok, err := isConfirmed(ctx, b.db, t, bk.ID)
	if err != nil {
		return Confirmation{}, err
	}
	return confirmationOf(s, bk, ok), nil
}

// Confirm records that the citizen holding the manage token keeps the
// appointment. It returns the log index; ErrConfirmNotOpen and
// ErrConfirmClosed outside the window, ErrBadToken and ErrCancelled as
// the manage commands do. Confirming twice is no error.
func (b *Book) Confirm(ctx context.Context, t tenant.ID, code, token string) (uint64, error) {
	res, err := b.propose(ctx, CmdFairConfirm, t, confirmPayload{Code: NormalizeCode(code), TokenHash: hashToken(token)})
	if err != nil {
		return 0, err
	}
	return res.Index, nil
}

func applyFairConfirm(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p confirmPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	b, err := loadBookingByCode(ctx, tx, t, p.Code)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(b.hash, p.TokenHash) != 1 {
		return nil, fmt.Errorf("booking %s: %w", p.Code, ErrBadToken)
	}
	if b.Status == Cancelled {
		return nil, fmt.Errorf("booking %s: %w", p.Code, ErrCancelled)
	}
	s, err := loadFair(ctx, tx, t, b.ServiceID)
	if err != nil {
		return nil, err
	}
	c := confirmationOf(s, b.Booking, false)
	switch {
	case s.ConfirmBy <= 0 || !c.Required:
		// Nothing to confirm: answering yes is harmless and kinder
		// than an error.
		return b.ID, nil
	case cmd.Time.Before(c.Opens):
		return nil, fmt.Errorf("booking %s: %w", p.Code, ErrConfirmNotOpen)
	case !cmd.Time.Before(c.Deadline):
		return nil, fmt.Errorf("booking %s: %w", p.Code, ErrConfirmClosed)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_confirmed (tenant, booking_id, confirmed_unix) VALUES (?, ?, ?)
		ON CONFLICT (tenant, booking_id) DO NOTHING`, t, b.ID, cmd.Time.Unix()); err != nil {
		return nil, fmt.Errorf("confirm %s: %w", p.Code, err)
	}
	return b.ID, nil
}

func applyFairRelease(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p releasePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	b, err := loadBookingByID(ctx, tx, t.ID, p.BookingID)
	if err != nil {
		return nil, err
	}
	// Everything is checked again here, against cmd.Time only: a stale
	// proposal (moved, cancelled, confirmed meanwhile, or early) releases
	// nothing and is no error.
	if b.Status != Active || b.Sequence != p.Sequence {
		return ReleaseResult{}, nil
	}
	s, err := loadFair(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	ok, err := isConfirmed(ctx, tx, t.ID, b.ID)
	if err != nil {
		return nil, err
	}
	c := confirmationOf(s, b.Booking, ok)
	if !c.Required || c.Confirmed || cmd.Time.Before(c.Deadline) || !cmd.Time.Before(b.Start) {
		return ReleaseResult{}, nil
	}
	svc, err := loadService(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	office, err := loadOffice(ctx, tx, t.ID, b.OfficeID)
	if err != nil {
		return nil, err
	}
	base := p.BaseURL
	if base == "" {
		// The Comune's address as the booking was made (kept for the
		// reminders until the appointment), for the email's "book
		// again" link; none before schema version 6.
		err := tx.QueryRowContext(ctx, `SELECT base_url FROM booking_reminder_links WHERE tenant = ? AND booking_id = ?`, t.ID, b.ID).Scan(&base)
		if err != nil && !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "no such table") {
			return nil, fmt.Errorf("base URL of %s: %w", b.Code, err)
		}
	}
	b.Status = Cancelled
	b.Sequence++
	b.Updated = cmd.Time.UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE booking_bookings SET status = ?, sequence = ?, updated = ?
		WHERE tenant = ? AND id = ?`, b.Status, b.Sequence, formatTime(b.Updated), t.ID, b.ID); err != nil {
		return nil, fmt.Errorf("release %s: %w", b.Code, err)
	}
	if err := forgetReminderState(tx, t.ID, b.ID); err != nil {
		return nil, err
	}
	n := newNotice(NoticeCancel, t, b.Booking, svc, office, base, "")
	n.Reason = ReleaseNotice
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	return ReleaseResult{Released: true, ServiceID: b.ServiceID, Start: b.Start.UTC()}, nil
}

// confirmURLOf is the confirm link of a manage link: the same token, on
// the booking's /conferma page (booking/web).
func confirmURLOf(manageURL string) string {
	i := strings.Index(manageURL, "?")
	if i < 0 {
		return ""
	}
	return manageURL[:i] + "/conferma" + manageURL[i:]
}

// fairNotice adds the confirm-to-keep request to a confirmation, move or
// reminder notice when the service asks it and the booking needs it.
func fairNotice(tx *sql.Tx, n *Notice, manageURL string) error {
	if manageURL == "" {
		return nil
	}
	s, err := loadFair(context.Background(), tx, n.Tenant, n.Booking.ServiceID)
	if err != nil {
		return err
	}
	if c := confirmationOf(s, n.Booking, false); c.Required {
		n.ConfirmURL, n.ConfirmFrom, n.ConfirmBy = confirmURLOf(manageURL), c.Opens.UTC(), c.Deadline.UTC()
	}
	return nil
}

// remindPayload is version 1 of booking.fair.remind: the worker asks the
// citizen to confirm when the window opens.
type remindPayload struct {
	BookingID string `json:"booking_id"`
	Sequence  int    `json:"sequence"`
	Comune    comune `json:"comune"`
}

func applyFairRemind(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p remindPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	b, err := loadBookingByID(ctx, tx, t.ID, p.BookingID)
	if err != nil {
		return nil, err
	}
	if b.Status != Active || b.Sequence != p.Sequence {
		return false, nil
	}
	s, err := loadFair(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	ok, err := isConfirmed(ctx, tx, t.ID, b.ID)
	if err != nil {
		return nil, err
	}
	c := confirmationOf(s, b.Booking, ok)
	if !c.Required || c.Confirmed || cmd.Time.Before(c.Opens) || !cmd.Time.Before(c.Deadline) {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO booking_fair_reminded (tenant, booking_id, sequence) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, t.ID, b.ID, b.Sequence)
	if err != nil {
		return nil, fmt.Errorf("record confirm reminder of %s: %w", b.Code, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	var base, manage string
	err = tx.QueryRowContext(ctx, `SELECT base_url, manage_url FROM booking_reminder_links WHERE tenant = ? AND booking_id = ?`,
		t.ID, b.ID).Scan(&base, &manage)
	if errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")) || manage == "" {
		// Without the manage link there is nothing to send: the token
		// is stored nowhere else.
		return false, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manage link of %s: %w", b.Code, err)
	}
	svc, err := loadService(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	office, err := loadOffice(ctx, tx, t.ID, b.OfficeID)
	if err != nil {
		return nil, err
	}
	n := newNotice(NoticeReminder, t, b.Booking, svc, office, base, manage)
	if !cmd.Time.Before(n.CancelBy) {
		n.CancelBy = time.Time{}
	}
	n.ConfirmURL, n.ConfirmFrom, n.ConfirmBy = confirmURLOf(manage), c.Opens.UTC(), c.Deadline.UTC()
	payload, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode confirm reminder of %s: %w", b.Code, err)
	}
	item := cluster.OutboxItem{Kind: OutboxKind, Key: fmt.Sprintf("booking/%s/%s/%d/confirm-reminder", t.ID, b.ID, b.Sequence), Payload: payload}
	if err := cluster.Enqueue(tx, cmd, item); err != nil {
		return nil, fmt.Errorf("enqueue confirm reminder of %s: %w", b.Code, err)
	}
	return true, nil
}

// FairWorker releases, on the leader, the appointments not confirmed by
// their deadline. Like the ReminderWorker it keeps no state: the leader
// scans, apply decides.
type FairWorker struct {
	Book     *Book
	IsLeader func() bool
	Tenants  func(ctx context.Context) ([]tenant.Tenant, error)
	// BaseURL returns the Comune's site for the cancellation email's
	// "book again" link; nil (or "") uses the address the booking was
	// made on.
	BaseURL func(t tenant.Tenant) string
	// Listener hears of every release (nil: nobody).
	Listener ReleaseListener
	// Interval between scans; 0 means a minute.
	Interval time.Duration
	Log      *slog.Logger

	lastPrune time.Time
}

// Run scans every Interval while this node leads, until ctx ends.
func (w *FairWorker) Run(ctx context.Context) {
	every := w.Interval
	if every <= 0 {
		every = time.Minute
	}
	whileLeading(ctx, every, w.IsLeader, w.log(), "booking fair access", func(ctx context.Context) error {
		_, err := w.Tick(ctx)
		return err
	})
}

func (w *FairWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}

// Tick releases every appointment past its confirmation deadline at the
// Book's clock and returns how many it released. It does not check
// leadership (Run does), so tests drive it directly.
func (w *FairWorker) Tick(ctx context.Context) (int, error) {
	ts, err := w.Tenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("list Comuni: %w", err)
	}
	now := w.Book.now()
	released := 0
	var errs []error
	prune := now.Sub(w.lastPrune) >= time.Hour
	for _, t := range ts {
		if prune {
			if _, err := w.Book.propose(ctx, CmdFairPrune, t.ID, struct{}{}); err != nil && !errors.Is(err, cluster.ErrNotSupportedByCluster) {
				errs = append(errs, fmt.Errorf("Comune %s: prune fair access: %w", t.ID, err))
			}
		}
		due, err := w.Book.dueReleases(ctx, t.ID, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("Comune %s: %w", t.ID, err))
			continue
		}
		base := ""
		if w.BaseURL != nil {
			base = w.BaseURL(t)
		}
		if err := w.remind(ctx, t, now); err != nil {
			errs = append(errs, fmt.Errorf("Comune %s: %w", t.ID, err))
		}
		for _, d := range due {
			res, err := w.Book.propose(ctx, CmdFairRelease, t.ID, releasePayload{BookingID: d.ID, Sequence: d.Sequence, Comune: comuneOf(t), BaseURL: base})
			if errors.Is(err, cluster.ErrNotSupportedByCluster) {
				break
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("Comune %s: release %s: %w", t.ID, d.Code, err))
				continue
			}
			r, _ := res.Value.(ReleaseResult)
			if !r.Released {
				continue
			}
			released++
			w.log().Info("booking released for want of confirmation", "tenant", t.ID, "booking", d.Code)
			if w.Listener != nil {
				w.Listener.OnRelease(ctx, t.ID, r.ServiceID, r.Start)
			}
		}
	}
	if prune && len(errs) == 0 {
		w.lastPrune = now
	}
	return released, errors.Join(errs...)
}

// remind proposes the reminders to confirm of Comune t whose window is
// open at now.
func (w *FairWorker) remind(ctx context.Context, t tenant.Tenant, now time.Time) error {
	due, err := w.Book.dueConfirmReminders(ctx, t.ID, now)
	if err != nil {
		return err
	}
	for _, d := range due {
		res, err := w.Book.propose(ctx, CmdFairRemind, t.ID, remindPayload{BookingID: d.ID, Sequence: d.Sequence, Comune: comuneOf(t)})
		if errors.Is(err, cluster.ErrNotSupportedByCluster) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("confirm reminder of %s: %w", d.Code, err)
		}
		if q, _ := res.Value.(bool); q {
			w.log().Info("booking confirm reminder queued", "tenant", t.ID, "booking", d.Code)
		}
	}
	return nil
}

// dueConfirmReminders lists the active bookings whose confirmation window
// is open at now, not confirmed and not yet reminded at their Sequence.
func (b *Book) dueConfirmReminders(ctx context.Context, t tenant.ID, now time.Time) ([]Booking, error) {
	return b.scanConfirmable(ctx, t, func(from, by int64) (string, []any) {
		return `AND start_unix > ? AND start_unix <= ?
			AND NOT EXISTS (SELECT 1 FROM booking_fair_reminded r WHERE r.tenant = b.tenant AND r.booking_id = b.id AND r.sequence = b.sequence)`,
			[]any{now.Unix() + by, now.Unix() + from}
	})
}

// dueReleases lists the active bookings of services with confirm-to-keep
// that are past their deadline at now, not yet begun and not confirmed.
// Apply checks each again.
func (b *Book) dueReleases(ctx context.Context, t tenant.ID, now time.Time) ([]Booking, error) {
	// Bookings starting within (now, now + ConfirmBy]: their deadline has
	// passed and they have not begun.
	return b.scanConfirmable(ctx, t, func(_, by int64) (string, []any) {
		return `AND start_unix > ? AND start_unix <= ?`, []any{now.Unix(), now.Unix() + by}
	})
}

// scanConfirmable lists, for every service of Comune t with
// confirm-to-keep, its active, unconfirmed bookings that need a
// confirmation and match the extra condition cond gives for the service's
// ConfirmFrom and ConfirmBy (seconds). Apply checks each again.
func (b *Book) scanConfirmable(ctx context.Context, t tenant.ID, cond func(from, by int64) (string, []any)) ([]Booking, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT service_id, confirm_from_s, confirm_by_s FROM booking_fair_settings
		WHERE tenant = ? AND confirm_by_s > 0`, t)
	if isNoFairTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list confirm-to-keep services: %w", err)
	}
	type svcRule struct {
		id       string
		from, by int64
	}
	var rules []svcRule
	for rows.Next() {
		var r svcRule
		if err := rows.Scan(&r.id, &r.from, &r.by); err != nil {
			rows.Close()
			return nil, err
		}
		rules = append(rules, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Booking
	for _, r := range rules {
		extra, args := cond(r.from, r.by)
		rows, err := b.db.QueryContext(ctx, `SELECT id FROM booking_bookings b
			WHERE tenant = ? AND service_id = ? AND status = 'active'
				AND NOT EXISTS (SELECT 1 FROM booking_fair_confirmed c WHERE c.tenant = b.tenant AND c.booking_id = b.id) `+extra,
			append([]any{t, r.id}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("list unconfirmed bookings: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		s := FairSettings{ConfirmFrom: time.Duration(r.from) * time.Second, ConfirmBy: time.Duration(r.by) * time.Second}
		for _, id := range ids {
			bk, err := loadBookingByID(ctx, b.db, t, id)
			if err != nil {
				return nil, err
			}
			if confirmationOf(s, bk.Booking, false).Required {
				out = append(out, bk.Booking)
			}
		}
	}
	return out, nil
}
