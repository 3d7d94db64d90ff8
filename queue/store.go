package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// querier is what both the FSM's transaction and the read pool offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ticketColumns are the columns scanTicket reads, in order.
const ticketColumns = `id, office_id, day, seq, number, service_id, channel, priority, booking_code,
	appointment, booked, state, desk, recalls, duration_s, taken, called, started, done,
	transferred_from, for_desk, transferred`

// unixTime turns a stored Unix time (0 for none) into a UTC time.
func unixTime(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// unixOf stores a time as Unix seconds (0 for the zero time).
func unixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func scanTicket(t tenant.ID, sc interface{ Scan(...any) error }) (Ticket, error) {
	var k Ticket
	var appt, taken, called, started, done, durS, transferred int64
	if err := sc.Scan(&k.ID, &k.OfficeID, &k.Day, &k.Seq, &k.Number, &k.ServiceID, &k.Channel, &k.Priority,
		&k.BookingCode, &appt, &k.Booked, &k.State, &k.Desk, &k.Recalls, &durS, &taken, &called, &started, &done,
		&k.TransferredFrom, &k.ForDesk, &transferred); err != nil {
		return Ticket{}, err
	}
	k.Tenant = t
	k.Appointment, k.Taken, k.Called, k.Started, k.Done = unixTime(appt), unixTime(taken), unixTime(called), unixTime(started), unixTime(done)
	k.Transferred = unixTime(transferred)
	k.Duration = time.Duration(durS) * time.Second
	return k, nil
}

// loadTicket returns a ticket with its secret hash.
func loadTicket(ctx context.Context, q querier, t tenant.ID, id string) (Ticket, []byte, error) {
	var hash []byte
	row := q.QueryRowContext(ctx, `SELECT `+ticketColumns+`, secret_hash FROM queue_tickets WHERE tenant = ? AND id = ?`, t, id)
	k, err := scanTicket(t, scanWith{row, &hash})
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, nil, fmt.Errorf("ticket %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Ticket{}, nil, fmt.Errorf("load ticket %s: %w", id, err)
	}
	return k, hash, nil
}

// scanWith scans the ticket columns and then one more.
type scanWith struct {
	row   *sql.Row
	extra any
}

func (s scanWith) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra)...) }

// loadTickets returns the tickets of an office's day in a state, by
// arrival.
func loadTickets(ctx context.Context, q querier, t tenant.ID, officeID, day string, state State) ([]Ticket, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+ticketColumns+` FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ? AND state = ? ORDER BY seq`, t, officeID, day, state)
	if err != nil {
		return nil, fmt.Errorf("list %s tickets of %s: %w", state, officeID, err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		k, err := scanTicket(t, rows)
		if err != nil {
			return nil, fmt.Errorf("list %s tickets of %s: %w", state, officeID, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s tickets of %s: %w", state, officeID, err)
	}
	return out, nil
}

// loadConfig returns an office's queue configuration, or the defaults.
func loadConfig(ctx context.Context, q querier, t tenant.ID, officeID string) (OfficeConfig, error) {
	c := defaultConfig(officeID)
	var groups string
	var early, late int64
	err := q.QueryRowContext(ctx, `SELECT groups, early_s, late_s, sample FROM queue_offices
		WHERE tenant = ? AND office_id = ?`, t, officeID).Scan(&groups, &early, &late, &c.Sample)
	if errors.Is(err, sql.ErrNoRows) {
		return c, nil
	}
	if err != nil {
		return OfficeConfig{}, fmt.Errorf("load queue config of %s: %w", officeID, err)
	}
	if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
		return OfficeConfig{}, fmt.Errorf("load queue config of %s: %w", officeID, err)
	}
	c.EarlyCheckIn, c.LateCheckIn = time.Duration(early)*time.Second, time.Duration(late)*time.Second
	if err := loadAdmissionConfig(ctx, q, t, &c); err != nil {
		return OfficeConfig{}, err
	}
	return c, nil
}

// averageService returns the mean length (start to done) of the last n
// tickets served in an office's day, and false when none was served.
func averageService(ctx context.Context, q querier, t tenant.ID, officeID, day string, n int) (time.Duration, bool, error) {
	var avg sql.NullFloat64
	err := q.QueryRowContext(ctx, `SELECT avg(done - started) FROM (SELECT done, started FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ? AND state = 'served' AND started > 0
		ORDER BY done DESC, seq DESC LIMIT ?)`, t, officeID, day, n).Scan(&avg)
	if err != nil {
		return 0, false, fmt.Errorf("average service of %s: %w", officeID, err)
	}
	if !avg.Valid {
		return 0, false, nil
	}
	return time.Duration(avg.Float64 * float64(time.Second)), true, nil
}
