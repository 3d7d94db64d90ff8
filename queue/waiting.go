package queue

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The reads of this file serve the check-in pages of queue/web: the
// kiosk's "ho una prenotazione" and the virtual waiting room of a video
// or phone appointment (/chiamata/{code}), which knows the booking's code
// and join token but not the ticket's secret.

// Booking returns the booking with code, of any day and status
// (ErrNotFound when the Comune has none), so that a refused check-in can
// say why: another day, another office. It checks no token: the kiosk
// stands in the office, and its answers name no citizen.
func (q *Queue) Booking(ctx context.Context, t tenant.ID, code string) (booking.Booking, error) {
	bk, err := q.book.ByCode(ctx, t, code)
	if err != nil {
		return booking.Booking{}, q.notFound("booking", code, err)
	}
	return bk, nil
}

// JoinBooking returns the active video or phone booking with code, of any
// day, if joinToken is its join token (compared in constant time). Any
// mismatch, an unknown code, a cancelled or in-person booking all give
// ErrNotFound: the join link is the waiting room's only credential, and
// its answers must not tell which part was wrong.
func (q *Queue) JoinBooking(ctx context.Context, t tenant.ID, code, joinToken string) (booking.Booking, error) {
	bk, err := q.Booking(ctx, t, code)
	if err != nil {
		return booking.Booking{}, err
	}
	if subtle.ConstantTimeCompare([]byte(bk.JoinToken), []byte(joinToken)) != 1 || joinToken == "" ||
		bk.Status != booking.Active || (bk.Channel != booking.Video && bk.Channel != booking.Phone) {
		return booking.Booking{}, fmt.Errorf("join %s: %w", bk.Code, ErrNotFound)
	}
	return bk, nil
}

// bookingTicketWhere selects the ticket a booking checked in with, not
// cancelled, through queue_tickets_booking: the query names the whole
// condition of that partial index (the code is not empty as well), without
// which SQLite does not use it and reads every ticket of the Comune. A
// booking code is never empty, so the term changes no result.
const bookingTicketWhere = `tenant = ? AND booking_code = ? AND booking_code <> '' AND state <> 'cancelled'`

// bookingTicketQuery reads the ticket of bookingTicketWhere.
const bookingTicketQuery = `SELECT ` + ticketColumns + ` FROM queue_tickets
	WHERE ` + bookingTicketWhere + ` ORDER BY seq DESC LIMIT 1`

// BookingTicket returns the ticket a booking checked in with (the one not
// cancelled; there is at most one), or ErrNotFound: a reload of the
// waiting room finds the same ticket instead of checking in again.
func (q *Queue) BookingTicket(ctx context.Context, t tenant.ID, code string) (Ticket, error) {
	code = booking.NormalizeCode(code)
	row := q.db.QueryRowContext(ctx, bookingTicketQuery, t, code)
	k, err := scanTicket(t, row)
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, fmt.Errorf("ticket of booking %s: %w", code, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, fmt.Errorf("ticket of booking %s: %w", code, err)
	}
	return k, nil
}

// checkedInQuery tells whether a booking already has a ticket that is not
// cancelled (bookingTicketWhere): apply of a check-in refuses a second.
const checkedInQuery = `SELECT EXISTS (SELECT 1 FROM queue_tickets WHERE ` + bookingTicketWhere + `)`
