package queue

import (
	"context"
	"fmt"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// PublicOffice returns an office with its services as citizens see them
// (archived services left out), for the queue's public pages: the
// "prendi il numero" form and the kiosk. An unknown office, or another
// Comune's, gives ErrNotFound.
func (q *Queue) PublicOffice(ctx context.Context, t tenant.ID, officeID string) (booking.Office, error) {
	o, err := q.book.Office(ctx, t, officeID)
	if err != nil {
		return booking.Office{}, q.notFound("office", officeID, err)
	}
	return o, nil
}

// LastCalls returns up to n tickets of the office's day that were called
// to a desk, the most recently called (or recalled) first, for the
// waiting hall's board. Tickets the citizen cancelled after the call are
// left out: nobody should walk to a desk for them.
func (q *Queue) LastCalls(ctx context.Context, t tenant.Tenant, officeID string, n int) ([]Ticket, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+ticketColumns+` FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ? AND called > 0 AND state <> 'cancelled'
		ORDER BY called DESC, seq DESC LIMIT ?`, t.ID, officeID, dayOf(q.now(), t.TimeZone), n)
	if err != nil {
		return nil, fmt.Errorf("last calls of %s: %w", officeID, err)
	}
	defer rows.Close()
	out := []Ticket{}
	for rows.Next() {
		k, err := scanTicket(t.ID, rows)
		if err != nil {
			return nil, fmt.Errorf("last calls of %s: %w", officeID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("last calls of %s: %w", officeID, err)
	}
	return out, nil
}
