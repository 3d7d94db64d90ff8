package booking

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// CitizenBooking is one booking of a citizen as a data-protection export
// shows it (privacy/requests): the booking with the office's record and
// notes (AgendaItem), its language, and the hosts of the push services
// of the browsers subscribed to it. Only hosts are given: the endpoint's
// path is a capability to send to that browser, which no export needs.
type CitizenBooking struct {
	AgendaItem
	PushHosts []string
}

// CitizenBookings lists every booking of the Comune t whose codice
// fiscale equals fiscalCode or whose email equals email (either may be
// "", which matches nothing; case and surrounding spaces are ignored), by
// start, active and cancelled, with what the agenda shows of each. It is
// the read behind a citizen's access request: exact matches only, so a
// citizen sharing a surname or an email domain with another is never
// mixed up with them.
func (b *Book) CitizenBookings(ctx context.Context, t tenant.Tenant, fiscalCode, email string) ([]CitizenBooking, error) {
	fiscalCode = strings.ToUpper(strings.TrimSpace(fiscalCode))
	email = strings.ToLower(strings.TrimSpace(email))
	if fiscalCode == "" && email == "" {
		return nil, nil
	}
	rows, err := b.db.QueryContext(ctx, `SELECT `+bookingColumns+` FROM booking_bookings
		WHERE tenant = ? AND ((? <> '' AND upper(trim(fiscal_code)) = ?) OR (? <> '' AND lower(trim(email)) = ?))
		ORDER BY start_unix, code`, t.ID, fiscalCode, fiscalCode, email, email)
	if err != nil {
		return nil, fmt.Errorf("citizen bookings: %w", err)
	}
	var bks []Booking
	for rows.Next() {
		bk, err := scanBooking(t.ID, rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("citizen bookings: %w", err)
		}
		bks = append(bks, bk.Booking)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("citizen bookings: %w", err)
	}
	for i := range bks {
		if bks[i].Lang, err = loadLang(ctx, b.db, t.ID, bks[i].ID); err != nil {
			return nil, err
		}
	}
	items, err := b.agendaItems(ctx, t, bks)
	if err != nil {
		return nil, err
	}
	out := make([]CitizenBooking, 0, len(items))
	for _, it := range items {
		hosts, err := b.pushHosts(ctx, t.ID, it.Booking.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, CitizenBooking{AgendaItem: it, PushHosts: hosts})
	}
	return out, nil
}

// pushHosts returns the hosts of the push endpoints subscribed to a
// booking, in the order they were added.
func (b *Book) pushHosts(ctx context.Context, t tenant.ID, bookingID string) ([]string, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT endpoint FROM booking_push
		WHERE tenant = ? AND booking_id = ? ORDER BY added, endpoint`, t, bookingID)
	if isNoSuchTable(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("push subscriptions of %s: %w", bookingID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ep string
		if err := rows.Scan(&ep); err != nil {
			return nil, fmt.Errorf("push subscriptions of %s: %w", bookingID, err)
		}
		host := "?"
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			host = u.Host
		}
		out = append(out, host)
	}
	return out, rows.Err()
}
