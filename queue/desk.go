package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sportello-virtuale/sportello/tenant"
)

// AtDesk returns the ticket a desk of an office has called or is serving
// today, and false when the desk is free. The operator's page needs it to
// show the buttons of the current ticket after a reload or on another
// device: it is the same "busy" test that applyCall makes, read from the
// node's view.
func (q *Queue) AtDesk(ctx context.Context, t tenant.Tenant, officeID, desk string) (Ticket, bool, error) {
	day := dayOf(q.now(), t.TimeZone)
	row := q.db.QueryRowContext(ctx, `SELECT `+ticketColumns+` FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ? AND desk = ? AND state IN ('called', 'serving')
		ORDER BY seq LIMIT 1`, t.ID, officeID, day, desk)
	k, err := scanTicket(t.ID, row)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket at desk %s of %s: %w", desk, officeID, err)
	}
	return k, true, nil
}
