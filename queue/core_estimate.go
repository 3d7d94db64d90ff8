package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// minServiceSamples is how many of today's services of one service the
// estimate needs before it trusts their average over the office's (or
// OfficeConfig.Sample, when that is smaller): one quick certificate
// should not make every certificate look quick.
const minServiceSamples = 3

// estimate computes where k stands among the waiting tickets of its
// office's day, with the same ordering apply uses, and about how long it
// waits (estimator).
func (q *Queue) estimate(ctx context.Context, k Ticket) (Status, error) {
	if k.State != Waiting {
		return Status{}, nil
	}
	waiting, err := loadTickets(ctx, q.db, k.Tenant, k.OfficeID, k.Day, Waiting)
	if err != nil {
		return Status{}, err
	}
	now := q.now()
	var before []Ticket
	for _, o := range waiting {
		if o.ID != k.ID && ahead(o, k, now) {
			before = append(before, o)
		}
	}
	if len(before) == 0 {
		return Status{}, nil
	}
	e, err := q.newEstimator(ctx, q.db, k.Tenant, k.OfficeID, k.Day)
	if err != nil {
		return Status{}, err
	}
	var total time.Duration
	for _, o := range before {
		total += e.expected(o)
	}
	return Status{Position: len(before), EstimatedWait: total / time.Duration(e.open(k))}, nil
}

// lineStatus returns the Status of every ticket of line, which must be
// the waiting tickets of one office's day in the order of the rule at
// some now: the positions and estimates Status gives each of them at
// that now (the rule is a total order, so the tickets ahead of one are
// those before it), computed once for the whole line, for Snapshot. It
// reads the day's service times through db (the read pool, or the read
// transaction the line came from) and the desks through the node's
// booking.Book.
func (q *Queue) lineStatus(ctx context.Context, db querier, t tenant.ID, officeID, day string, line []Ticket) ([]Status, error) {
	out := make([]Status, len(line))
	if len(line) < 2 {
		return out, nil
	}
	e, err := q.newEstimator(ctx, db, t, officeID, day)
	if err != nil {
		return nil, err
	}
	var total time.Duration
	for i, k := range line {
		out[i] = Status{Position: i, EstimatedWait: total / time.Duration(e.open(k))}
		total += e.expected(k)
	}
	return out, nil
}

// estimator holds what the estimate of one office's day reads once.
type estimator struct {
	officeAvg  time.Duration
	officeOK   bool
	perService map[string]sample
	enough     int
	desks      []booking.Desk
	states     map[string]DeskState
}

// newEstimator reads the day's service times and the office's desks.
func (q *Queue) newEstimator(ctx context.Context, db querier, t tenant.ID, officeID, day string) (estimator, error) {
	cfg, err := loadConfig(ctx, db, t, officeID)
	if err != nil {
		return estimator{}, err
	}
	e := estimator{enough: min(minServiceSamples, cfg.Sample)}
	if e.officeAvg, e.officeOK, err = averageService(ctx, db, t, officeID, day, cfg.Sample); err != nil {
		return estimator{}, err
	}
	if e.perService, err = serviceAverages(ctx, db, t, officeID, day, cfg.Sample); err != nil {
		return estimator{}, err
	}
	if e.desks, err = q.book.Desks(ctx, t, officeID); err != nil {
		return estimator{}, err
	}
	if e.states, err = loadDeskStates(ctx, db, t, officeID); err != nil {
		return estimator{}, err
	}
	return e, nil
}

// expected is how long serving k is expected to take: the average of
// today's last services of its service when there are enough of them,
// else the office's average of today, else k's own expected duration
// (the service's appointment length).
func (e estimator) expected(k Ticket) time.Duration {
	if s, ok := e.perService[k.ServiceID]; ok && k.ServiceID != "" && s.n >= e.enough {
		return s.avg
	}
	if e.officeOK {
		return e.officeAvg
	}
	return k.Duration
}

// open counts the desks that can call k now: the one it was transferred
// to, else the booking desks not
// archived, not paused, that serve its service and take its channel;
// for a ticket not waiting for an appointment, desks reserved for
// appointments are left out (they take a walk-in only to fill a gap)
// unless every open desk is reserved. It is at least 1, so an office
// without desks configured, or with all paused, estimates as one desk:
// the pause ends.
func (e estimator) open(k Ticket) int {
	if k.ForDesk != "" {
		// Only that desk may call it.
		return 1
	}
	open, reserved := 0, 0
	for _, d := range e.desks {
		if d.Archived || e.states[d.ID].Paused || !d.Takes(booking.Channel(k.Channel)) ||
			(k.ServiceID != "" && !d.Serves(k.ServiceID)) {
			continue
		}
		open++
		if d.Appointments {
			reserved++
		}
	}
	if !booked(k) && open > reserved {
		open -= reserved
	}
	return max(open, 1)
}

// sample is the mean of n service times.
type sample struct {
	avg time.Duration
	n   int
}

// serviceAverages returns, per service, the mean length of the last n
// services of it in an office's day.
func serviceAverages(ctx context.Context, q querier, t tenant.ID, officeID, day string, n int) (map[string]sample, error) {
	rows, err := q.QueryContext(ctx, `SELECT service_id, avg(d), count(*) FROM (
			SELECT service_id, done - started AS d,
				row_number() OVER (PARTITION BY service_id ORDER BY done DESC, seq DESC) AS r
			FROM queue_tickets
			WHERE tenant = ? AND office_id = ? AND day = ? AND state = 'served' AND started > 0)
		WHERE r <= ? GROUP BY service_id`, t, officeID, day, n)
	if err != nil {
		return nil, fmt.Errorf("average per service of %s: %w", officeID, err)
	}
	defer rows.Close()
	out := map[string]sample{}
	for rows.Next() {
		var svc string
		var avg float64
		var s sample
		if err := rows.Scan(&svc, &avg, &s.n); err != nil {
			return nil, fmt.Errorf("average per service of %s: %w", officeID, err)
		}
		s.avg = time.Duration(avg * float64(time.Second))
		out[svc] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("average per service of %s: %w", officeID, err)
	}
	return out, nil
}
