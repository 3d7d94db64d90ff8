package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// CmdWaitOffer offers a seat freed outside apply's reach (a release by
// confirm-to-keep, heard through ReleaseListener) to the waiting list.
const CmdWaitOffer = "booking.waitlist.offer"

// DefaultWaitlistInterval is how often the waiting-list worker looks for
// expired offers: an offer passes to the next in line at most this late.
const DefaultWaitlistInterval = 30 * time.Second

// waitOfferPayload is version 1 of booking.waitlist.offer.
type waitOfferPayload struct {
	ServiceID string `json:"service_id"`
	Start     int64  `json:"start"`
	Comune    comune `json:"comune"`
}

func applyWaitOffer(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p waitOfferPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	return nil, offerFreedSeat(tx, cmd, p.Comune, p.ServiceID, time.Unix(p.Start, 0))
}

// WaitlistWorker expires, on the leader, the offers not accepted in
// time; apply passes each seat to the next in line. Like the reminder
// worker it keeps no state: the leader scans, apply decides, and a
// proposal that meets an offer already closed is refused harmlessly.
// It also implements ReleaseListener, so that the fair-access worker's
// releases reach the waiting list.
type WaitlistWorker struct {
	// Book reads the local state and proposes; its clock is the
	// worker's (injected in tests).
	Book *Book
	// IsLeader reports whether this node leads.
	IsLeader func() bool
	// Tenants lists the Comuni (tenant.Registry.List).
	Tenants func(ctx context.Context) ([]tenant.Tenant, error)
	// Interval between scans; 0 means DefaultWaitlistInterval.
	Interval time.Duration
	// Log receives the worker's logs; nil means slog.Default().
	Log *slog.Logger

	// lastPrune is when Tick last proposed the pruning; only Run's
	// goroutine (or a test calling Tick) touches it.
	lastPrune time.Time
}

// waitlistPruneEvery is how often the worker asks to forget closed
// entries.
const waitlistPruneEvery = time.Hour

// Run scans every Interval while this node leads, until ctx ends. The
// caller owns the goroutine; it ends when ctx does.
func (w *WaitlistWorker) Run(ctx context.Context) {
	every := w.Interval
	if every <= 0 {
		every = DefaultWaitlistInterval
	}
	whileLeading(ctx, every, w.IsLeader, w.log(), "booking waiting lists", func(ctx context.Context) error {
		_, err := w.Tick(ctx)
		return err
	})
}

func (w *WaitlistWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}

// Tick expires every offer past its time at the Book's clock and
// returns how many it expired. It does not check leadership (Run does),
// so tests drive it directly.
func (w *WaitlistWorker) Tick(ctx context.Context) (int, error) {
	ts, err := w.Tenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("list Comuni: %w", err)
	}
	now := w.Book.now()
	expired := 0
	var errs []error
	prune := now.Sub(w.lastPrune) >= waitlistPruneEvery
	for _, t := range ts {
		if prune {
			if _, err := w.Book.propose(ctx, CmdWaitPrune, t.ID, struct{}{}); err != nil && !errors.Is(err, cluster.ErrNotSupportedByCluster) {
				errs = append(errs, fmt.Errorf("Comune %s: prune waiting lists: %w", t.ID, err))
			}
		}
		due, err := w.Book.expiredOffers(ctx, t.ID, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("Comune %s: %w", t.ID, err))
			continue
		}
		for _, d := range due {
			_, err := w.Book.propose(ctx, CmdWaitExpire, t.ID, waitExpirePayload{ID: d.id, Start: d.start, Comune: comuneOf(t)})
			switch {
			case errors.Is(err, ErrNoOffer), errors.Is(err, ErrOfferNotExpired):
				continue
			case errors.Is(err, cluster.ErrNotSupportedByCluster):
				return expired, errors.Join(errs...)
			case err != nil:
				errs = append(errs, fmt.Errorf("Comune %s: expire offer of %s: %w", t.ID, d.id, err))
				continue
			}
			expired++
			w.log().Info("waiting-list offer expired", "tenant", t.ID, "entry", d.id)
		}
	}
	if prune && len(errs) == 0 {
		w.lastPrune = now
	}
	return expired, errors.Join(errs...)
}

// OnRelease offers a seat released by confirm-to-keep to the waiting
// list (ReleaseListener). It runs on the leader after the release has
// committed; a failure is logged, and the seat stays free for anyone.
func (w *WaitlistWorker) OnRelease(ctx context.Context, t tenant.ID, serviceID string, start time.Time) {
	ts, err := w.Tenants(ctx)
	if err != nil {
		w.log().Warn("waiting list: released seat not offered", "tenant", t, "err", err)
		return
	}
	for _, c := range ts {
		if c.ID != t {
			continue
		}
		if _, err := w.Book.propose(ctx, CmdWaitOffer, t, waitOfferPayload{ServiceID: serviceID, Start: start.Unix(), Comune: comuneOf(c)}); err != nil {
			w.log().Warn("waiting list: released seat not offered", "tenant", t, "service", serviceID, "err", err)
		}
		return
	}
}

var _ ReleaseListener = (*WaitlistWorker)(nil)

type dueOffer struct {
	id    string
	start int64
}

// expiredOffers lists the Comune's pending offers expired at now, from
// the local view (apply checks again).
func (b *Book) expiredOffers(ctx context.Context, t tenant.ID, now time.Time) ([]dueOffer, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT entry_id, start_unix FROM booking_waitlist_offers
		WHERE tenant = ? AND status = 'pending' AND expires_unix <= ? ORDER BY expires_unix, entry_id`, t, now.Unix())
	if isNoSuchTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list expired offers: %w", err)
	}
	defer rows.Close()
	var out []dueOffer
	for rows.Next() {
		var d dueOffer
		if err := rows.Scan(&d.id, &d.start); err != nil {
			return nil, fmt.Errorf("list expired offers: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
