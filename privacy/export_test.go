package privacy

import (
	"context"
	"database/sql"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy/legalhold"
)

// RegisterOlder registers the package as a member of the release before
// privacy.erase version 2 and privacy schema 2 does (a rolling upgrade).
func RegisterOlder(r *cluster.Registry) { register(r, payloadVersion, 1) }

// RegisterSchema1 registers the current release with the package's
// schema held at version 1: a member of a cluster that cannot migrate
// yet because another member is of the older release.
func RegisterSchema1(r *cluster.Registry) { register(r, eraseBoundedVersion, 1) }

// Reads of the bounded retention, for the tests of their plans.
const (
	BookingsDueQuery  = bookingsDueQuery
	BookingsLeftQuery = bookingsLeftQuery
	AuditDueQuery     = auditDueQuery

	TicketsOfBookingQuery = ticketsOfBookingQuery
	RoomsOfBookingQuery   = roomsOfBookingQuery
	DocsOfBookingQuery    = docsOfBookingQuery
	DocsOfRoomQuery       = docsOfRoomQuery
)

// TicketsDueQuery is the retention's read of the tickets due, with the
// conditions of the schema of db.
func TicketsDueQuery(db *sql.DB) (string, error) {
	hold, err := legalhold.Load(context.Background(), db)
	if err != nil {
		return "", err
	}
	e := &eraser{hold: hold}
	return e.ticketsDueQuery(`booking_code <> '' OR length(secret_hash) > 0`), nil
}
