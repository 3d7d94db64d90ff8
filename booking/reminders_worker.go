package booking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// DefaultReminderInterval is how often the reminder worker looks for
// reminders due: a reminder leaves at most this late.
const DefaultReminderInterval = time.Minute

// reminderPruneEvery is how often the worker asks to forget the reminder
// state of past bookings.
const reminderPruneEvery = time.Hour

// ReminderWorker finds the reminders due and proposes them. Only the
// leader's worker acts (IsLeader); a worker that lost the leadership
// without knowing it yet may still propose a reminder the new leader
// proposes too, and apply queues only the first (booking_reminders_sent).
type ReminderWorker struct {
	// Book reads the local state and proposes; its clock is the
	// worker's.
	Book *Book
	// IsLeader reports whether this node leads (cluster.Node.IsLeader).
	IsLeader func() bool
	// Tenants lists the Comuni (tenant.Registry.List): each command
	// carries the Comune's name, zone and sender, as every booking
	// command does.
	Tenants func(ctx context.Context) ([]tenant.Tenant, error)
	// Interval between scans; 0 means DefaultReminderInterval.
	Interval time.Duration
	// Log receives the worker's logs; nil means slog.Default().
	Log *slog.Logger

	lastPrune time.Time
}

// Run scans every Interval while this node leads, until ctx ends.
func (w *ReminderWorker) Run(ctx context.Context) {
	every := w.Interval
	if every <= 0 {
		every = DefaultReminderInterval
	}
	whileLeading(ctx, every, w.IsLeader, w.log(), "booking reminders", func(ctx context.Context) error {
		_, err := w.Tick(ctx)
		return err
	})
}

func (w *ReminderWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}

// Tick scans every Comune once and proposes each reminder due at the
// Book's clock; it returns how many were queued by its proposals. Once
// an hour it also proposes the pruning of past bookings' state. Tick
// does not check leadership (Run does), so tests drive it directly.
func (w *ReminderWorker) Tick(ctx context.Context) (int, error) {
	ts, err := w.Tenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("list Comuni: %w", err)
	}
	now := w.Book.now()
	prune := now.Sub(w.lastPrune) >= reminderPruneEvery
	queued := 0
	var errs []error
	for _, t := range ts {
		n, err := w.tickTenant(ctx, t, now)
		queued += n
		if err != nil {
			errs = append(errs, fmt.Errorf("Comune %s: %w", t.ID, err))
		}
		if prune {
			if _, err := w.Book.propose(ctx, CmdRemindersPrune, t.ID, struct{}{}); err != nil && !errors.Is(err, cluster.ErrNotSupportedByCluster) {
				errs = append(errs, fmt.Errorf("Comune %s: prune reminders: %w", t.ID, err))
			}
		}
	}
	if prune && len(errs) == 0 {
		w.lastPrune = now
	}
	return queued, errors.Join(errs...)
}

// dueReminder is one reminder the scan found due.
type dueReminder struct {
	id, code string
	sequence int
	before   time.Duration
}

// tickTenant proposes the reminders of Comune t due at now.
func (w *ReminderWorker) tickTenant(ctx context.Context, t tenant.Tenant, now time.Time) (int, error) {
	due, err := w.Book.dueReminders(ctx, t.ID, now)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	queued := 0
	for _, d := range due {
		res, err := w.Book.propose(ctx, CmdReminderSend, t.ID, reminderPayload{
			BookingID: d.id, Sequence: d.sequence, Before: int64(d.before / time.Second), Comune: comuneOf(t),
		})
		switch {
		case errors.Is(err, ErrReminderNotDue), errors.Is(err, ErrCancelled), errors.Is(err, ErrNotFound):
			// Moved, cancelled or late since the scan read it: nothing
			// to send.
			continue
		case errors.Is(err, cluster.ErrNotSupportedByCluster):
			// A rolling upgrade: the reminders wait until every member
			// knows the command.
			return queued, nil
		case err != nil:
			return queued, fmt.Errorf("reminder %s of %s: %w", d.before, d.code, err)
		}
		if r, ok := res.Value.(ReminderResult); ok && r.Queued {
			queued++
			w.log().Info("booking reminder queued", "tenant", t.ID, "booking", d.code, "before", d.before.String())
		}
	}
	return queued, nil
}

// dueRemindersQuery lists the active bookings of Comune ?1 starting in
// (?2, ?3], by start. It reads booking_bookings_slot, one range per
// service of the Comune (schema_v8.go): without the name SQLite, which
// has no statistics, would rather walk the Comune's whole primary key.
const dueRemindersQuery = `SELECT ` + bookingColumns + ` FROM booking_bookings INDEXED BY booking_bookings_slot
		WHERE tenant = ?1 AND service_id IN (SELECT id FROM booking_services WHERE tenant = ?1)
			AND status = 'active' AND start_unix > ?2 AND start_unix <= ?3
		ORDER BY start_unix, id`

// dueReminders lists the reminders of Comune t due at now and not yet
// recorded, from the node's local view. Apply checks each again against
// the replicated state, so a stale view costs a refused command at most.
func (b *Book) dueReminders(ctx context.Context, t tenant.ID, now time.Time) ([]dueReminder, error) {
	offsets, _, err := loadReminderOffsets(ctx, b.db, t)
	if err != nil || len(offsets) == 0 {
		return nil, err
	}
	// Only bookings whose appointment is ahead and within the longest
	// offset can have a reminder due.
	rows, err := b.db.QueryContext(ctx, dueRemindersQuery, t, now.Unix(), now.Add(offsets[0]).Unix())
	if err != nil {
		return nil, fmt.Errorf("list bookings to remind: %w", err)
	}
	var candidates []Booking
	for rows.Next() {
		sb, err := scanBooking(t, rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list bookings to remind: %w", err)
		}
		candidates = append(candidates, sb.Booking)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list bookings to remind: %w", err)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	sent, err := b.sentReminders(ctx, t)
	if err != nil || sent == nil {
		// No table yet: before the schema's version 6 no reminder can
		// be recorded, so none is proposed.
		return nil, err
	}
	var out []dueReminder
	for _, bk := range candidates {
		for _, before := range offsets {
			if reminderDue(bk, before, offsets, now) && !sent[sentKey{bk.ID, bk.Sequence, int64(before / time.Second)}] {
				out = append(out, dueReminder{id: bk.ID, code: bk.Code, sequence: bk.Sequence, before: before})
			}
		}
	}
	return out, nil
}

// sentKey names one recorded reminder.
type sentKey struct {
	id       string
	sequence int
	before   int64
}

// sentReminders reads the Comune's recorded reminders in one query: the
// table holds only upcoming bookings' (applyRemindersPrune), a few per
// booking, where a lookup per due reminder would cost a query per
// booking of the next day at every scan. Before the schema's version 6
// it answers nil.
func (b *Book) sentReminders(ctx context.Context, t tenant.ID) (map[sentKey]bool, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT booking_id, sequence, offset_s FROM booking_reminders_sent WHERE tenant = ?`, t)
	if isNoSuchTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sent reminders: %w", err)
	}
	defer rows.Close()
	sent := map[sentKey]bool{}
	for rows.Next() {
		var k sentKey
		if err := rows.Scan(&k.id, &k.sequence, &k.before); err != nil {
			return nil, fmt.Errorf("list sent reminders: %w", err)
		}
		sent[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sent reminders: %w", err)
	}
	return sent, nil
}
