package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/privacy/legalhold"
	"github.com/sportello-virtuale/sportello/tenant"
)

// eraser runs one erasure inside apply. Every statement names the tenant
// first; the tables of packages a binary did not register are skipped
// (loadTables), so the command applies the same on every node of one
// cluster, whose schemas are the same at the same index.
type eraser struct {
	tx     *sql.Tx
	t      tenant.ID
	now    int64 // command time, Unix milliseconds
	limit  int
	tables map[string]bool
	// indexes holds the names of the indexes (a later migration's).
	indexes map[string]bool
	// columns holds each table's column names.
	columns map[string]map[string]bool
	counts  map[Class]int
	// hold tells which tickets, rooms and documents a legal hold covers
	// (package legalhold); they are skipped by every path below.
	hold legalhold.Rule
	// boundedOutbox: the retention reads only the outbox's oldest rows
	// (retainOutbox; privacy.erase from eraseBoundedVersion).
	boundedOutbox bool
	// needles are the texts whose copies a citizen's erasure deletes at
	// its end (scrubCopies), each once.
	needles []string
}

// keepRows are the tables with a booking_id or email column whose rows
// the generic erasure leaves alone: booking_outcomes keeps the
// statistics (its notes are emptied by eraseBooking), the bookings are
// pseudonymised rather than deleted, a hold outlives nothing it does not
// name.
var keepRows = map[string]bool{"booking_outcomes": true, "booking_bookings": true, "privacy_holds": true}

// tablesWith returns, sorted, the tables that have all the columns,
// except keepRows.
func (e *eraser) tablesWith(cols ...string) []string {
	var out []string
	for table, have := range e.columns {
		ok := !keepRows[table]
		for _, c := range cols {
			ok = ok && have[c]
		}
		if ok {
			out = append(out, table)
		}
	}
	sort.Strings(out)
	return out
}

// loadTables reads which tables exist.
func (e *eraser) loadTables() error {
	rows, err := e.tx.Query(`SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')`)
	if err != nil {
		return err
	}
	defer rows.Close()
	e.tables, e.indexes = map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var typ, n string
		if err := rows.Scan(&typ, &n); err != nil {
			return err
		}
		if typ == "index" {
			e.indexes[n] = true
		} else {
			e.tables[n] = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if e.hold, err = legalhold.Load(context.Background(), e.tx); err != nil {
		return err
	}
	e.columns = make(map[string]map[string]bool, len(e.tables))
	for table := range e.tables {
		cols, err := e.tx.Query(`SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return err
		}
		e.columns[table] = map[string]bool{}
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return err
			}
			e.columns[table][c] = true
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return err
		}
	}
	return nil
}

// exec runs q when table exists and returns the rows it changed.
func (e *eraser) exec(table, q string, args ...any) (int, error) {
	if !e.tables[table] {
		return 0, nil
	}
	res, err := e.tx.Exec(q, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// strings1 runs a query of one text column when table exists.
func (e *eraser) strings1(table, q string, args ...any) ([]string, error) {
	if !e.tables[table] {
		return nil, nil
	}
	rows, err := e.tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// bookingRow is what the erasure needs of a booking to find its copies.
type bookingRow struct{ id, code, email string }

// notErased is true for a booking whose personal data is still there.
const notErased = `(given_name <> '' OR family_name <> '' OR fiscal_code <> '' OR email <> '' OR phone <> '' OR details <> '')`

// notHeld excludes the bookings under legal hold (tenant is the first
// argument after the caller's).
const notHeld = `id NOT IN (SELECT booking_id FROM privacy_holds WHERE tenant = ?)`

// bookings runs a query returning id, code, email of bookings.
func (e *eraser) bookings(q string, args ...any) ([]bookingRow, error) {
	if !e.tables["booking_bookings"] {
		return nil, nil
	}
	rows, err := e.tx.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bookingRow
	for rows.Next() {
		var b bookingRow
		if err := rows.Scan(&b.id, &b.code, &b.email); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// citizen erases everything about who, whatever its age, except the
// bookings under legal hold.
func (e *eraser) citizen(who Subject) error {
	fc := strings.ToUpper(strings.TrimSpace(who.FiscalCode))
	email := strings.ToLower(strings.TrimSpace(who.Email))
	if fc == "" && email == "" {
		return ErrNoSubject
	}
	bs, err := e.bookings(`SELECT id, code, email FROM booking_bookings
		WHERE tenant = ? AND ((? <> '' AND upper(fiscal_code) = ?) OR (? <> '' AND lower(email) = ?))
		AND `+notHeld+` ORDER BY id`, e.t, fc, fc, email, email, e.t)
	if err != nil {
		return err
	}
	for _, b := range bs {
		if err := e.eraseBooking(b, true); err != nil {
			return err
		}
	}
	// A waiting-list entry's offers go with it (a pending offer holds a
	// seat, which the deletion frees).
	if e.tables["booking_waitlist_offers"] && e.columns["booking_waitlist"]["fiscal_code"] {
		if _, err := e.exec("booking_waitlist_offers", `DELETE FROM booking_waitlist_offers WHERE tenant = ? AND entry_id IN
			(SELECT id FROM booking_waitlist WHERE tenant = ? AND ((? <> '' AND lower(email) = ?) OR (? <> '' AND upper(fiscal_code) = ?)))`,
			e.t, e.t, email, email, fc, fc); err != nil {
			return err
		}
	}
	if email != "" {
		ids, err := e.strings1("queue_notify", `SELECT ticket_id FROM queue_notify WHERE tenant = ? AND lower(email) = ? ORDER BY ticket_id`, e.t, email)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := e.eraseTicket(id); err != nil {
				return err
			}
		}
		for _, table := range e.tablesWith("tenant", "email") {
			if _, err := e.exec(table, `DELETE FROM `+table+` WHERE tenant = ? AND lower(email) = ?`, e.t, email); err != nil {
				return err
			}
		}
		e.scrubLater(email)
	}
	if fc != "" {
		for _, table := range e.tablesWith("tenant", "fiscal_code") {
			if _, err := e.exec(table, `DELETE FROM `+table+` WHERE tenant = ? AND upper(fiscal_code) = ?`, e.t, fc); err != nil {
				return err
			}
		}
		e.scrubLater(fc)
	}
	return e.scrubCopies()
}

// What the erasure of a booking reads of its copies, each through an
// index on the reference: without one (SQLite, without statistics,
// prefers walking the Comune's primary key, which gives the ORDER BY) each
// read went through every ticket, room or document of the Comune, once
// per booking erased, inside apply. A booking's code and ID are never
// empty, so naming the partial indexes' conditions changes no result.
const (
	// ticketsOfBookingQuery reads through queue_tickets_code, from queue
	// schema 6 (ticketsOfBookingBefore6 before it).
	ticketsOfBookingQuery   = `SELECT id FROM queue_tickets INDEXED BY queue_tickets_code WHERE tenant = ? AND booking_code = ? AND booking_code <> '' ORDER BY id`
	ticketsOfBookingBefore6 = `SELECT id FROM queue_tickets WHERE tenant = ? AND booking_code = ? ORDER BY id`
	roomsOfBookingQuery     = `SELECT id FROM media_rooms INDEXED BY media_rooms_ref
		WHERE tenant = ? AND ref_kind = 'booking' AND ref_id IN (?, ?) ORDER BY id`
	docsOfBookingQuery = `SELECT id FROM media_docs INDEXED BY media_docs_ref WHERE tenant = ? AND ref IN (?, ?, ?, ?) AND ref <> '' ORDER BY id`
	docsOfRoomQuery    = `SELECT id FROM media_docs INDEXED BY media_docs_room WHERE tenant = ? AND room = ? ORDER BY id`
)

// eraseBooking pseudonymises one booking: its personal columns are
// emptied, the statistics (service, office, times, outcome) stay. A
// future active booking is cancelled too, so its slot is freed. Its
// notes, reminders, browsers, queue tickets, call rooms' invitations and
// documents and the emails about it (outbox) go.
//
// scrub also has the outbox and request rows carrying the booking's code
// or email deleted, found by content at the end of the erasure
// (scrubCopies, one read of both tables for all the citizen's texts): a
// citizen's erasure does it; the retention deletes delivered outbox rows
// by age in one statement instead, and recorded request results are gone
// after cluster.DedupWindow (a day), long before any retention period
// ends.
func (e *eraser) eraseBooking(b bookingRow, scrub bool) error {
	if _, err := e.exec("booking_bookings", `UPDATE booking_bookings SET given_name = '', family_name = '',
		fiscal_code = '', email = '', phone = '', details = '', join_token = '', manage_hash = x'',
		status = CASE WHEN status = 'active' AND start_unix * 1000 > ? THEN 'cancelled' ELSE status END
		WHERE tenant = ? AND id = ?`, e.now, e.t, b.id); err != nil {
		return err
	}
	e.counts[ClassBookings]++
	// Every other row about the booking goes (notes, reminders,
	// browsers, fair-access contacts, and the tables later packages add
	// with the same booking_id column).
	for _, table := range e.tablesWith("tenant", "booking_id") {
		if _, err := e.exec(table, `DELETE FROM `+table+` WHERE tenant = ? AND booking_id = ?`, e.t, b.id); err != nil {
			return err
		}
	}
	if _, err := e.exec("booking_outcomes", `UPDATE booking_outcomes SET outcome_note = '', cancel_reason = ''
		WHERE tenant = ? AND booking_id = ?`, e.t, b.id); err != nil {
		return err
	}
	q := ticketsOfBookingBefore6
	if e.indexes["queue_tickets_code"] {
		q = ticketsOfBookingQuery
	}
	tickets, err := e.strings1("queue_tickets", q, e.t, b.code)
	if err != nil {
		return err
	}
	for _, id := range tickets {
		if err := e.eraseTicket(id); err != nil {
			return err
		}
	}
	rooms, err := e.strings1("media_rooms", roomsOfBookingQuery, e.t, b.code, b.id)
	if err != nil {
		return err
	}
	for _, room := range rooms {
		if err := e.eraseRoom(room); err != nil {
			return err
		}
	}
	// Documents name their booking as "booking:<code>" (older ones, and
	// other callers of media/docs, the bare code or ID).
	docs, err := e.strings1("media_docs", docsOfBookingQuery, e.t, b.code, b.id, "booking:"+b.code, "booking:"+b.id)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := e.eraseDoc(d); err != nil {
			return err
		}
	}
	if scrub {
		e.scrubLater(b.code)
		e.scrubLater(b.email)
	}
	return nil
}

// scrubLater adds s to the texts scrubCopies looks for: a booking code,
// an email or a codice fiscale. Shorter than four bytes, it would match
// unrelated rows, and is left out.
func (e *eraser) scrubLater(s string) {
	if len(s) < 4 || slices.Contains(e.needles, s) {
		return
	}
	e.needles = append(e.needles, s)
}

// needlesPerPass is how many texts one pass of scrubCopies looks for:
// the statements below take that many, the unused ones NULL (which
// matches nothing). A citizen with up to seven bookings takes one pass.
const needlesPerPass = 16

// The statements of scrubCopies; sportello_instr_any is
// cluster.InstrAnyFunc, named here so that the query-plan audit reads the
// statements.
const (
	scrubOutboxQuery   = `DELETE FROM cluster_outbox WHERE tenant = ? AND sportello_instr_any(payload, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	scrubRequestsQuery = `DELETE FROM cluster_requests WHERE sportello_instr_any(value, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// scrubCopies deletes the rows of the cluster's own tables whose opaque
// payload carries one of e's needles: the outbox's emails (body, address,
// ICS) and the recorded results of requests (cluster_requests, kept for
// the idempotency window, which hold a created booking as JSON). They are
// found by content because their payload is not structured per package.
// cluster_requests has no tenant column: the needles are booking codes
// (which start with the Comune's prefix), emails and fiscal codes.
//
// Each table is read once for all the needles, through
// cluster.InstrAnyFunc, whose answer is instr(lower(payload),
// lower(needle)) > 0 for some needle. Until this version the erasure ran
// that condition once per needle (two per booking, and the citizen's
// email and codice fiscale), each a read of the whole outbox inside apply
// on every node; the rows deleted are the same, so nodes that still run
// that code stay identical to this one.
func (e *eraser) scrubCopies() error {
	for len(e.needles) > 0 {
		n := e.needles[:min(len(e.needles), needlesPerPass)]
		e.needles = e.needles[len(n):]
		args := make([]any, 1+needlesPerPass)
		args[0] = e.t
		for i, s := range n {
			args[1+i] = s
		}
		if _, err := e.exec("cluster_outbox", scrubOutboxQuery, args...); err != nil {
			return err
		}
		if _, err := e.exec("cluster_requests", scrubRequestsQuery, args[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// eraseTicket pseudonymises one queue ticket: the numbers, times and
// states stay for the statistics; the link to a booking, the network and
// device hashes, the secret and the contacts (email, browsers) go.
func (e *eraser) eraseTicket(id string) error {
	if held, err := e.held("queue_tickets", e.hold.Ticket("qt"), id); err != nil || held {
		return err
	}
	if e.tables["queue_tickets"] {
		set := `booking_code = '', secret_hash = x''`
		if e.hasColumn("queue_tickets", "ip_hash") {
			set += `, ip_hash = '', device_hash = ''`
		}
		if _, err := e.exec("queue_tickets", `UPDATE queue_tickets SET `+set+` WHERE tenant = ? AND id = ?`, e.t, id); err != nil {
			return err
		}
	}
	for _, table := range []string{"queue_notify", "queue_push", "queue_appio_tickets"} {
		if _, err := e.exec(table, `DELETE FROM `+table+` WHERE tenant = ? AND ticket_id = ?`, e.t, id); err != nil {
			return err
		}
	}
	e.counts[ClassTickets]++
	return nil
}

// held reports whether the row id of table (aliased qt in cond) is
// covered by a legal hold: every erase function asks, so that no path
// (retention, a citizen's erasure, a booking's rooms) erases what a hold
// keeps.
func (e *eraser) held(table, cond, id string) (bool, error) {
	if !e.tables[table] || cond == "0" {
		return false, nil
	}
	var n int
	if err := e.tx.QueryRow(`SELECT COUNT(*) FROM `+table+` qt WHERE qt.tenant = ? AND qt.id = ? AND `+cond, e.t, id).Scan(&n); err != nil {
		return false, fmt.Errorf("legal hold of %s %s: %w", table, id, err)
	}
	return n > 0, nil
}

// hasColumn reports whether table has column (a later migration's).
func (e *eraser) hasColumn(table, column string) bool {
	var n int
	if e.tx.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n) != nil {
		return false
	}
	return n > 0
}

// eraseRoom deletes a call's invitations (names of guests) and, once the
// call has ended, the room itself with its documents.
func (e *eraser) eraseRoom(id string) error {
	if held, err := e.held("media_rooms", e.hold.Room("qt"), id); err != nil || held {
		return err
	}
	if _, err := e.exec("media_invites", `DELETE FROM media_invites WHERE tenant = ? AND room = ?`, e.t, id); err != nil {
		return err
	}
	docs, err := e.strings1("media_docs", docsOfRoomQuery, e.t, id)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := e.eraseDoc(d); err != nil {
			return err
		}
	}
	if _, err := e.exec("media_doc_chunks", `DELETE FROM media_doc_chunks WHERE tenant = ? AND doc IN
		(SELECT id FROM media_docs qt WHERE tenant = ? AND room = ? AND NOT `+e.hold.Document("qt")+`)`, e.t, e.t, id); err != nil {
		return err
	}
	if _, err := e.exec("media_rooms", `DELETE FROM media_rooms WHERE tenant = ? AND id = ? AND state <> 'open'`, e.t, id); err != nil {
		return err
	}
	e.counts[ClassCalls]++
	return nil
}

// eraseDoc deletes a document and its chunks.
func (e *eraser) eraseDoc(id string) error {
	if held, err := e.held("media_docs", e.hold.Document("qt"), id); err != nil || held {
		return err
	}
	if _, err := e.exec("media_doc_chunks", `DELETE FROM media_doc_chunks WHERE tenant = ? AND doc = ?`, e.t, id); err != nil {
		return err
	}
	if _, err := e.exec("media_docs", `DELETE FROM media_docs WHERE tenant = ? AND id = ?`, e.t, id); err != nil {
		return err
	}
	e.counts[ClassDocuments]++
	return nil
}

// retainOutbox deletes the Comune's delivered (or failed) outbox rows
// created before cut (Unix nanoseconds).
//
// The outbox has no index on its time, and one would cost every booking
// another insert on every node. Deleting by the time alone read the
// whole table, every Comune's rows, on every node, each hour for each
// Comune, while apply did nothing else: 59–68 ms a pass over 100 000
// emails (BenchmarkRetentionLargeOutbox; 1.9 ms now), a stall of every
// booking in flight, and seconds an hour with many Comuni. The rows are
// numbered (rowid) in the order the log wrote them, and their time is
// the leader's stamp of that entry, so the rows before cut come first:
// the bounded statement reads from the start of the table up to the
// first row at or after cut, and deletes among those. A leader whose clock was behind its
// predecessor's can stamp a row earlier than the one before it; such a
// row is deleted by a later pass, once the cut has passed the rows before
// it. Because the two statements can then delete different rows, the
// bounded one runs only for privacy.erase version 2 and later, which the
// leader proposes once every member knows it (Service.erase).
func (e *eraser) retainOutbox(cut int64) error {
	q := `DELETE FROM cluster_outbox WHERE tenant = ? AND status <> 'pending' AND created < ?`
	if e.boundedOutbox {
		q = `DELETE FROM cluster_outbox
			WHERE rowid < coalesce((SELECT rowid FROM cluster_outbox WHERE created >= ?2 ORDER BY rowid LIMIT 1), 9223372036854775807)
				AND tenant = ?1 AND status <> 'pending' AND created < ?2`
	}
	_, err := e.exec("cluster_outbox", q, e.t, cut)
	return err
}

// retention erases, class by class, what ended before the class's
// cut-off, at most limit records per class.
func (e *eraser) retention(cut map[Class]int64) error {
	if c, ok := cut[ClassBookings]; ok {
		if err := e.retainBookings(c); err != nil {
			return err
		}
		if err := e.retainWaitlist(c); err != nil {
			return err
		}
	}
	// Delivered emails and pushes have no further use once the shorter
	// of the bookings' and tickets' periods has passed; pending ones are
	// left to the outbox.
	if c := max(cut[ClassBookings], cut[ClassTickets]); c > 0 {
		if err := e.retainOutbox(c * int64(time.Millisecond)); err != nil {
			return err
		}
	}
	if c, ok := cut[ClassTickets]; ok {
		day := time.UnixMilli(c).UTC().Format(time.DateOnly)
		cond := `booking_code <> '' OR length(secret_hash) > 0`
		if e.hasColumn("queue_tickets", "ip_hash") {
			cond += ` OR ip_hash <> '' OR device_hash <> ''`
		}
		if err := e.retainTickets(day, cond); err != nil {
			return err
		}
		if _, err := e.exec("queue_proofs", `DELETE FROM queue_proofs WHERE tenant = ? AND day < ?`, e.t, day); err != nil {
			return err
		}
	}
	if c, ok := cut[ClassCalls]; ok {
		ids, err := e.strings1("media_rooms", `SELECT id FROM media_rooms qt WHERE tenant = ? AND state <> 'open' AND ended > 0
			AND ended < ? AND NOT `+e.hold.Room("qt")+` ORDER BY ended, id LIMIT ?`, e.t, c, e.limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := e.eraseRoom(id); err != nil {
				return err
			}
		}
	}
	if c, ok := cut[ClassDocuments]; ok {
		ids, err := e.strings1("media_docs", `SELECT id FROM media_docs qt WHERE tenant = ? AND uploaded < ?
			AND NOT `+e.hold.Document("qt")+` ORDER BY uploaded, id LIMIT ?`, e.t, c, e.limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := e.eraseDoc(id); err != nil {
				return err
			}
		}
		// Chunks older than the cut-off whose document is gone (an
		// abandoned upload) or not held.
		if _, err := e.exec("media_doc_chunks", `DELETE FROM media_doc_chunks WHERE tenant = ? AND created < ?
			AND doc NOT IN (SELECT qt.id FROM media_docs qt WHERE qt.tenant = ? AND `+e.hold.Document("qt")+`)`, e.t, c, e.t); err != nil {
			return err
		}
	}
	if c, ok := cut[ClassAudit]; ok {
		q := `DELETE FROM cluster_audit WHERE tenant = ?1 AND id IN
			(SELECT id FROM cluster_audit WHERE tenant = ?1 AND at < ?2 ORDER BY id LIMIT ?3)`
		if e.marked() {
			q = auditDueQuery
		}
		n, err := e.exec("cluster_audit", q, e.t, c, e.limit)
		if err != nil {
			return err
		}
		e.counts[ClassAudit] += n
	}
	return nil
}

// retainWaitlist deletes the waiting-list entries closed (booked, left,
// lapsed) before cut, with their offers, and the App IO "no profile"
// marks older than cut: they are the bookings' personal data too. Entries
// still waiting are the citizen's live request and stay.
func (e *eraser) retainWaitlist(cut int64) error {
	if e.columns["booking_waitlist"]["closed_unix"] {
		ids, err := e.strings1("booking_waitlist", `SELECT id FROM booking_waitlist WHERE tenant = ?
			AND status IN ('booked', 'left', 'lapsed') AND closed_unix > 0 AND closed_unix * 1000 < ?
			ORDER BY closed_unix, id LIMIT ?`, e.t, cut, e.limit)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := e.exec("booking_waitlist_offers", `DELETE FROM booking_waitlist_offers WHERE tenant = ? AND entry_id = ?`, e.t, id); err != nil {
				return err
			}
			if _, err := e.exec("booking_waitlist", `DELETE FROM booking_waitlist WHERE tenant = ? AND id = ?`, e.t, id); err != nil {
				return err
			}
			e.counts[ClassBookings]++
		}
	}
	if e.columns["booking_appio_noprofile"]["at_unix"] {
		if _, err := e.exec("booking_appio_noprofile", `DELETE FROM booking_appio_noprofile WHERE tenant = ? AND at_unix * 1000 < ?`, e.t, cut); err != nil {
			return err
		}
	}
	return nil
}

// marked reports whether the retention keeps its marks (privacy schema
// 2): then it reads only what ended since its last complete pass. Every
// member has the table at the same index, and the cluster migrates only
// once every member knows the schema, so the table is the gate.
func (e *eraser) marked() bool { return e.tables["privacy_marks"] }

// mark returns where the last complete pass of class stopped, "" when
// none has.
func (e *eraser) mark(class Class) (string, error) {
	var m string
	err := e.tx.QueryRow(`SELECT mark FROM privacy_marks WHERE tenant = ? AND class = ?`, e.t, class).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return m, err
}

// setMark records where the pass of class stopped.
func (e *eraser) setMark(class Class, m string) error {
	_, err := e.tx.Exec(`INSERT INTO privacy_marks (tenant, class, mark) VALUES (?, ?, ?)
		ON CONFLICT (tenant, class) DO UPDATE SET mark = excluded.mark`, e.t, class, m)
	return err
}

// Reads of the bounded retention (privacy schema 2). ?1 is the Comune.
//
// The bookings not yet pseudonymised nor held whose start is in [?2, ?3)
// and whose end is before ?4 (Unix milliseconds), read per office through
// booking_bookings_office: only the bookings since the last complete
// pass, not every booking of the Comune. A booking cannot end before it
// starts, so the start's bound ?3 is the cut in seconds, rounded up.
// Offices are archived, never deleted, so booking_offices lists every
// office a booking can name.
const (
	bookingsDueWhere = ` FROM booking_bookings INDEXED BY booking_bookings_office
		WHERE tenant = ?1 AND office_id IN (SELECT id FROM booking_offices WHERE tenant = ?1)
			AND start_unix >= ?2 AND start_unix < ?3 AND ` + notErased + `
			AND id NOT IN (SELECT booking_id FROM privacy_holds WHERE tenant = ?1)`
	bookingsDueQuery = `SELECT id, code, email` + bookingsDueWhere + ` AND end_unix * 1000 < ?4 ORDER BY end_unix, id LIMIT ?5`
	// bookingsLeftQuery gives the new mark once every booking due has
	// been erased: the earliest start of those that had not ended at the
	// cut (an appointment under way), or the cut when there is none.
	bookingsLeftQuery = `SELECT coalesce(min(start_unix), ?3)` + bookingsDueWhere

	// auditDueQuery deletes the Comune's audit rows older than ?2, at most
	// ?3, reading only the rows before the first recent one (the oldest
	// rows come first, as in retainOutbox): the Comune's audit log is not
	// read whole each hour. A row stamped earlier than the one before it
	// (a leader whose clock was behind) waits for a later pass.
	auditDueQuery = `DELETE FROM cluster_audit WHERE tenant = ?1 AND id IN
		(SELECT id FROM cluster_audit INDEXED BY cluster_audit_tenant WHERE tenant = ?1 AND at < ?2
			AND id < coalesce((SELECT id FROM cluster_audit INDEXED BY cluster_audit_tenant
				WHERE tenant = ?1 AND at >= ?2 ORDER BY id LIMIT 1), 9223372036854775807)
			ORDER BY id LIMIT ?3)`
)

// ticketsDueQuery selects the tickets of days in [?2, ?3) whose personal
// fields cond are not yet emptied and that no hold keeps, per office
// through queue_tickets_number. queue_counters has a row for every
// office and day a ticket was taken in, written by the same apply, so it
// names every office a ticket can have.
func (e *eraser) ticketsDueQuery(cond string) string {
	return `SELECT id FROM queue_tickets qt INDEXED BY queue_tickets_number
		WHERE tenant = ?1 AND office_id IN (SELECT DISTINCT office_id FROM queue_counters WHERE tenant = ?1)
			AND day >= ?2 AND day < ?3 AND (` + cond + `) AND NOT ` + e.hold.Ticket("qt") + `
		ORDER BY day, id LIMIT ?4`
}

// retainBookings pseudonymises the bookings that ended before cut (Unix
// milliseconds), at most e.limit of them, oldest end first.
//
// Before privacy schema 2 it reads every booking of the Comune, the
// pseudonymised ones included (they stay for the statistics), each hour,
// inside apply on every node. From schema 2 it starts at the mark of the
// last pass that found fewer than e.limit (all that was due), and moves
// the mark to the cut, or to the start of an appointment still under way
// at the cut. Nothing gets behind the mark later: a booking is made and
// moved only to a slot ahead of the leader's time, and the mark is a
// retention period (a day at least) behind it; a booking under a legal
// hold is passed over, and lifting the hold deletes the marks.
func (e *eraser) retainBookings(cut int64) error {
	if !e.marked() || !e.tables["booking_offices"] || !e.tables["privacy_holds"] {
		bs, err := e.bookings(`SELECT id, code, email FROM booking_bookings WHERE tenant = ? AND end_unix * 1000 < ?
			AND `+notErased+` AND `+notHeld+` ORDER BY end_unix, id LIMIT ?`, e.t, cut, e.t, e.limit)
		if err != nil {
			return err
		}
		return e.eraseBookings(bs)
	}
	m, err := e.mark(ClassBookings)
	if err != nil {
		return err
	}
	from, _ := strconv.ParseInt(m, 10, 64)
	to := (cut + 999) / 1000
	bs, err := e.bookings(bookingsDueQuery, e.t, from, to, cut, e.limit)
	if err != nil {
		return err
	}
	if err := e.eraseBookings(bs); err != nil {
		return err
	}
	if len(bs) >= e.limit {
		return nil // more may be due: the next command goes on from the same mark
	}
	var left int64
	if err := e.tx.QueryRow(bookingsLeftQuery, e.t, from, to).Scan(&left); err != nil {
		return err
	}
	return e.setMark(ClassBookings, strconv.FormatInt(max(from, left), 10))
}

// eraseBookings pseudonymises bs (eraseBooking).
func (e *eraser) eraseBookings(bs []bookingRow) error {
	for _, b := range bs {
		if err := e.eraseBooking(b, false); err != nil {
			return err
		}
	}
	return nil
}

// retainTickets pseudonymises the tickets of days before day whose
// personal fields cond are not yet emptied, at most e.limit of them; from
// privacy schema 2 only those of the days since the mark of the last
// complete pass (see retainBookings).
func (e *eraser) retainTickets(day, cond string) error {
	if !e.marked() || !e.tables["queue_counters"] {
		ids, err := e.strings1("queue_tickets", `SELECT id FROM queue_tickets qt WHERE tenant = ? AND day < ? AND (`+cond+`)
			AND NOT `+e.hold.Ticket("qt")+` ORDER BY day, id LIMIT ?`, e.t, day, e.limit)
		if err != nil {
			return err
		}
		return e.eraseTickets(ids)
	}
	from, err := e.mark(ClassTickets)
	if err != nil {
		return err
	}
	ids, err := e.strings1("queue_tickets", e.ticketsDueQuery(cond), e.t, from, day, e.limit)
	if err != nil {
		return err
	}
	if err := e.eraseTickets(ids); err != nil {
		return err
	}
	if len(ids) >= e.limit || day <= from {
		return nil
	}
	return e.setMark(ClassTickets, day)
}

// eraseTickets pseudonymises the tickets ids (eraseTicket).
func (e *eraser) eraseTickets(ids []string) error {
	for _, id := range ids {
		if err := e.eraseTicket(id); err != nil {
			return err
		}
	}
	return nil
}
