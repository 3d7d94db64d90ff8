package queue

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/sportello-virtuale/sportello/tenant"
)

// CitizenTicket is one ticket of a citizen as a data-protection export
// shows it (privacy/requests): the ticket, the email it notifies (only
// while the ticket is open: the address goes when it closes) and the
// hosts of the push services of the browsers subscribed to it.
type CitizenTicket struct {
	Ticket
	Email     string
	PushHosts []string
}

// CitizenTickets lists the tickets of the Comune t that belong to a
// citizen: those whose notification email equals email (case and spaces
// ignored; "" matches nothing) and those checked in with one of
// bookingCodes (the citizen's bookings). Oldest first. Exact matches
// only, so nobody else's ticket is ever included.
func (q *Queue) CitizenTickets(ctx context.Context, t tenant.ID, email string, bookingCodes []string) ([]CitizenTicket, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	byID := map[string]*CitizenTicket{}
	var order []string
	add := func(k Ticket, mail string) {
		if c, ok := byID[k.ID]; ok {
			if c.Email == "" {
				c.Email = mail
			}
			return
		}
		byID[k.ID] = &CitizenTicket{Ticket: k, Email: mail}
		order = append(order, k.ID)
	}
	if email != "" {
		rows, err := q.db.QueryContext(ctx, `SELECT `+prefixed("k.", ticketColumns)+`, n.email
			FROM queue_notify n JOIN queue_tickets k ON k.tenant = n.tenant AND k.id = n.ticket_id
			WHERE n.tenant = ? AND lower(trim(n.email)) = ?`, t, email)
		if err != nil {
			return nil, fmt.Errorf("citizen tickets: %w", err)
		}
		for rows.Next() {
			var mail string
			k, err := scanTicket(t, extraScan{rows, &mail})
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("citizen tickets: %w", err)
			}
			add(k, mail)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("citizen tickets: %w", err)
		}
	}
	for _, code := range bookingCodes {
		if code == "" {
			continue
		}
		rows, err := q.db.QueryContext(ctx, `SELECT `+prefixed("k.", ticketColumns)+`, coalesce(n.email, '')
			FROM queue_tickets k LEFT JOIN queue_notify n ON n.tenant = k.tenant AND n.ticket_id = k.id
			WHERE k.tenant = ? AND k.booking_code = ?`, t, code)
		if err != nil {
			return nil, fmt.Errorf("citizen tickets of %s: %w", code, err)
		}
		for rows.Next() {
			var mail string
			k, err := scanTicket(t, extraScan{rows, &mail})
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("citizen tickets of %s: %w", code, err)
			}
			add(k, mail)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("citizen tickets of %s: %w", code, err)
		}
	}
	out := make([]CitizenTicket, 0, len(order))
	for _, id := range order {
		c := byID[id]
		hosts, err := q.pushHosts(ctx, t, id)
		if err != nil {
			return nil, err
		}
		c.PushHosts = hosts
		out = append(out, *c)
	}
	slices.SortStableFunc(out, func(a, b CitizenTicket) int { return a.Taken.Compare(b.Taken) })
	return out, nil
}

// pushHosts returns the hosts of the push endpoints subscribed to a
// ticket: the endpoint's path is a capability that no export needs.
func (q *Queue) pushHosts(ctx context.Context, t tenant.ID, ticketID string) ([]string, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT endpoint FROM queue_push
		WHERE tenant = ? AND ticket_id = ? ORDER BY added, endpoint`, t, ticketID)
	if err != nil {
		return nil, fmt.Errorf("push subscriptions of %s: %w", ticketID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ep string
		if err := rows.Scan(&ep); err != nil {
			return nil, fmt.Errorf("push subscriptions of %s: %w", ticketID, err)
		}
		host := "?"
		if u, err := url.Parse(ep); err == nil && u.Host != "" {
			host = u.Host
		}
		out = append(out, host)
	}
	return out, rows.Err()
}

// extraScan scans a ticket row followed by one more column.
type extraScan struct {
	rows  interface{ Scan(...any) error }
	extra any
}

func (s extraScan) Scan(dest ...any) error { return s.rows.Scan(append(dest, s.extra)...) }

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
