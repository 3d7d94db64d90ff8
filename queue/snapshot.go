package queue

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Snapshot is one office's day as of one read: every ticket of the day
// with, for those waiting, the position and estimate Status would give,
// and the board's last calls. The live streams of a node read it once per
// change and hand each client its part, instead of one Status per client.
type Snapshot struct {
	OfficeID string
	// Day is the Comune-local date read ("2026-03-09").
	Day string
	// Index is the applied index of the state read: the index of the
	// last command whose effects it shows.
	Index uint64
	// At is the clock the positions were computed at (an appointment
	// becoming due moves others back, so they depend on it).
	At time.Time
	// Line is the waiting tickets in the order they will be called.
	Line []Ticket
	// Calls are the last calls, most recent first, as LastCalls gives
	// them (cancelled tickets left out).
	Calls []Ticket
	// DeskLabels maps the office's desk IDs (archived ones too) to the
	// labels citizens read ("Sportello 3").
	DeskLabels map[string]string
	// tickets holds every ticket of the day by ID with its status.
	tickets map[string]snapshotEntry
}

// DeskLabels maps the desk IDs of an office, archived desks too, to
// their labels: a ticket names its desk by ID, a citizen reads the
// label ("È il tuo turno: Sportello 3").
func (q *Queue) DeskLabels(ctx context.Context, t tenant.ID, officeID string) (map[string]string, error) {
	desks, err := q.book.Desks(ctx, t, officeID)
	if err != nil {
		return nil, fmt.Errorf("desk labels of %s: %w", officeID, err)
	}
	out := make(map[string]string, len(desks))
	for _, d := range desks {
		out[d.ID] = d.Label
	}
	return out, nil
}

// snapshotEntry is one ticket of a Snapshot.
type snapshotEntry struct {
	ticket Ticket
	status Status
}

// Ticket returns a ticket of the snapshot's day with its status (zero
// unless waiting), and false when the ticket is not of this office and
// day (another day, another Comune, transferred away, or unknown).
func (s Snapshot) Ticket(id string) (Ticket, Status, bool) {
	e, ok := s.tickets[id]
	return e.ticket, e.status, ok
}

// Len is how many tickets the office's day has.
func (s Snapshot) Len() int { return len(s.tickets) }

// Snapshot reads an office's day at once, in one read transaction so
// that the line, the calls and the estimate agree: the day's tickets and
// what the estimate needs (the day's service times; the desks come from
// booking). calls is how many of the last calls to keep. Positions are
// ranks in the ordering rule's order at the clock's now, which is the
// count Status makes for each ticket (the rule is a total order), and the
// estimates are running sums over the line (lineStatus): both computed
// once for the whole line instead of once per ticket.
func (q *Queue) Snapshot(ctx context.Context, t tenant.Tenant, officeID string, calls int) (Snapshot, error) {
	now := q.now()
	s := Snapshot{OfficeID: officeID, Day: dayOf(now, t.TimeZone), At: now}
	tx, err := q.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Snapshot{}, fmt.Errorf("snapshot of %s: %w", officeID, err)
	}
	defer tx.Rollback()
	if s.Index, err = cluster.AppliedIn(ctx, tx); err != nil {
		return Snapshot{}, fmt.Errorf("snapshot of %s: %w", officeID, err)
	}
	all, err := loadDay(ctx, tx, t.ID, officeID, s.Day)
	if err != nil {
		return Snapshot{}, err
	}
	s.tickets = make(map[string]snapshotEntry, len(all))
	for _, k := range all {
		s.tickets[k.ID] = snapshotEntry{ticket: k}
		if k.State == Waiting {
			s.Line = append(s.Line, k)
		}
	}
	order(s.Line, now)
	// The estimate is Status's, for the whole line at once (lineStatus,
	// core_estimate.go), read in this transaction.
	statuses, err := q.lineStatus(ctx, tx, t.ID, officeID, s.Day, s.Line)
	if err != nil {
		return Snapshot{}, err
	}
	for i, k := range s.Line {
		s.tickets[k.ID] = snapshotEntry{ticket: k, status: statuses[i]}
	}
	s.Calls = lastCallsOf(all, calls)
	if s.DeskLabels, err = q.DeskLabels(ctx, t.ID, officeID); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// lastCallsOf picks LastCalls's answer out of a day's tickets: called at
// least once, not cancelled, the latest call first (ties by arrival, the
// later first).
func lastCallsOf(all []Ticket, n int) []Ticket {
	out := []Ticket{}
	for _, k := range all {
		if !k.Called.IsZero() && k.State != Cancelled {
			out = append(out, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Called.Equal(out[j].Called) {
			return out[i].Called.After(out[j].Called)
		}
		return out[i].Seq > out[j].Seq
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// loadDay returns every ticket of an office's day, by arrival.
func loadDay(ctx context.Context, q querier, t tenant.ID, officeID, day string) ([]Ticket, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ticketColumns+` FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ? ORDER BY seq`, t, officeID, day)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", officeID, err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		k, err := scanTicket(t, rows)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", officeID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", officeID, err)
	}
	return out, nil
}
