// Package legalhold is the one rule every deletion path of Sportello
// asks before it erases a call's documents, a queue ticket's link or a
// call room: is it covered by a legal hold?
//
// A Comune administrator puts a booking under legal hold (package
// privacy, table privacy_holds). The hold covers the booking's own row
// and everything that leads back to it: the queue tickets of its
// check-in (queue_tickets.booking_code), the call rooms about the
// booking or one of those tickets (media_rooms.ref_kind/ref_id), and the
// documents exchanged in them (media_docs.ref "booking:<code>" or
// "ticket:<id>", or media_docs.room). The rule is SQL that apply
// functions put in their WHERE, so the decision is taken from the
// replicated state at the command's log index and is the same on every
// node, and so that a batch with a LIMIT never fills up with held rows.
//
// The package lives apart from privacy so that media/docs can ask it
// without importing privacy's keys and service: it knows table names,
// never Go types, and imports nothing of the module.
package legalhold

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Querier is a transaction inside apply, or a read-only pool for reads.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Rule builds the SQL conditions for the tables a binary has. Its zero
// value holds nothing (no privacy_holds table: no hold can exist). The
// conditions use the aliases h, b, k and mr inside: the caller's alias
// must be another.
type Rule struct {
	holds, tickets, rooms bool
}

// Load reads which of the tables the rule joins exist. Inside apply the
// answer is deterministic: every node has the same schema at the same
// log index.
func Load(ctx context.Context, q Querier) (Rule, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name IN ('privacy_holds', 'booking_bookings', 'queue_tickets', 'media_rooms')`)
	if err != nil {
		return Rule{}, fmt.Errorf("legalhold: read tables: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return Rule{}, err
		}
		have[n] = true
	}
	if err := rows.Err(); err != nil {
		return Rule{}, err
	}
	return Rule{
		holds:   have["privacy_holds"] && have["booking_bookings"],
		tickets: have["queue_tickets"],
		rooms:   have["media_rooms"],
	}, nil
}

// held is the start of every condition: the held bookings of tenant
// column tcol, as alias b (with b.code and b.id).
//
// CROSS JOIN makes SQLite read the holds first, a few rows, and each
// one's booking by its key: with a plain JOIN, and no statistics, it read
// every booking of the Comune for each row the condition was asked
// about (each document, room or ticket an erasure looked at).
func held(tcol string) string {
	return `EXISTS (SELECT 1 FROM privacy_holds h CROSS JOIN booking_bookings b ON b.tenant = h.tenant AND b.id = h.booking_id
		WHERE h.tenant = ` + tcol + ` AND (`
}

// heldTicketIDs selects the IDs of the tickets of the held booking b.
// A booking's code is never empty; naming the condition lets SQLite read
// them through queue_tickets_code (queue schema 6) instead of every
// ticket of the Comune.
const heldTicketIDs = `SELECT k.id FROM queue_tickets k WHERE k.tenant = h.tenant AND k.booking_code = b.code AND k.booking_code <> ''`

// roomOfHeld is true when the media_rooms row r is about the held
// booking b or one of its tickets.
func (r Rule) roomOfHeld(alias string) string {
	c := `(` + alias + `.ref_kind = 'booking' AND ` + alias + `.ref_id IN (b.code, b.id))`
	if r.tickets {
		c += ` OR (` + alias + `.ref_kind = 'ticket' AND ` + alias + `.ref_id IN (` + heldTicketIDs + `))`
	}
	return c
}

// Document returns a condition true when the media_docs row aliased
// alias is held: its reference names a held booking or one of its
// tickets, or its room is about one of them.
func (r Rule) Document(alias string) string {
	if !r.holds {
		return "0"
	}
	conds := []string{alias + `.ref IN ('booking:' || b.code, 'booking:' || b.id)`}
	if r.tickets {
		conds = append(conds, alias+`.ref IN (SELECT 'ticket:' || k.id FROM queue_tickets k WHERE k.tenant = h.tenant AND k.booking_code = b.code AND k.booking_code <> '')`)
	}
	if r.rooms {
		conds = append(conds, alias+`.room IN (SELECT mr.id FROM media_rooms mr WHERE mr.tenant = h.tenant AND (`+r.roomOfHeld("mr")+`))`)
	}
	return held(alias+".tenant") + strings.Join(conds, " OR ") + `))`
}

// Ticket returns a condition true when the queue_tickets row aliased
// alias is the check-in of a held booking: keeping its booking code keeps
// the way from the ticket's call and documents back to the hold.
func (r Rule) Ticket(alias string) string {
	if !r.holds {
		return "0"
	}
	return held(alias+".tenant") + alias + `.booking_code = b.code))`
}

// Room returns a condition true when the media_rooms row aliased alias is
// about a held booking or one of its tickets.
func (r Rule) Room(alias string) string {
	if !r.holds {
		return "0"
	}
	return held(alias+".tenant") + r.roomOfHeld(alias) + `))`
}
