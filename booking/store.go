package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// querier is the read side shared by the FSM transaction (apply) and the
// node's read pool (Book): the same queries serve both, so the rules apply
// checks and the slots Book shows cannot drift apart.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// collect runs a query and scans every row with scan; what names the list
// in errors ("list closures").
func collect[T any](ctx context.Context, q querier, what string, scan func(interface{ Scan(...any) error }) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

const officeColumns = `id, name, address, phone, email`

func scanOffice(t tenant.ID, sc interface{ Scan(...any) error }) (Office, error) {
	o := Office{Tenant: t}
	err := sc.Scan(&o.ID, &o.Name, &o.Address, &o.Phone, &o.Email)
	return o, err
}

// loadOffice returns the office without hours and services.
func loadOffice(ctx context.Context, q querier, t tenant.ID, id string) (Office, error) {
	o, err := scanOffice(t, q.QueryRowContext(ctx,
		`SELECT `+officeColumns+` FROM booking_offices WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Office{}, fmt.Errorf("office %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Office{}, fmt.Errorf("load office %q: %w", id, err)
	}
	return o, nil
}

const serviceColumns = `id, office_id, name, description, category, what_to_bring, duration_s,
	channels, capacity, min_notice_s, horizon_days, cancel_deadline_s, max_active`

func scanService(t tenant.ID, sc interface{ Scan(...any) error }) (Service, error) {
	s := Service{Tenant: t}
	var bring, channels string
	var dur, notice, deadline int64
	err := sc.Scan(&s.ID, &s.OfficeID, &s.Name, &s.Description, &s.Category, &bring, &dur,
		&channels, &s.Capacity, &notice, &s.HorizonDays, &deadline, &s.MaxActivePerCitizen)
	if err != nil {
		return Service{}, err
	}
	if err := json.Unmarshal([]byte(bring), &s.WhatToBring); err != nil {
		return Service{}, fmt.Errorf("service %q what_to_bring: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(channels), &s.Channels); err != nil {
		return Service{}, fmt.Errorf("service %q channels: %w", s.ID, err)
	}
	s.Duration = time.Duration(dur) * time.Second
	s.MinNotice = time.Duration(notice) * time.Second
	s.CancelDeadline = time.Duration(deadline) * time.Second
	return s, nil
}

// loadService returns the service with its own hours (zero when it uses
// the office's).
func loadService(ctx context.Context, q querier, t tenant.ID, id string) (Service, error) {
	s, err := scanService(t, q.QueryRowContext(ctx,
		`SELECT `+serviceColumns+` FROM booking_services WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Service{}, fmt.Errorf("service %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Service{}, fmt.Errorf("load service %q: %w", id, err)
	}
	if s.Hours, err = loadHours(ctx, q, t, s.OfficeID, s.ID); err != nil {
		return Service{}, err
	}
	return s, nil
}

// loadHours returns the weekly hours of an office (serviceID "") or of one
// of its services.
func loadHours(ctx context.Context, q querier, t tenant.ID, officeID, serviceID string) (Week, error) {
	rows, err := q.QueryContext(ctx, `SELECT weekday, start_min, end_min FROM booking_hours
		WHERE tenant = ? AND office_id = ? AND service_id = ? ORDER BY weekday, start_min`,
		t, officeID, serviceID)
	if err != nil {
		return Week{}, fmt.Errorf("load hours of %s/%s: %w", officeID, serviceID, err)
	}
	defer rows.Close()
	var w Week
	for rows.Next() {
		var day int
		var iv Interval
		if err := rows.Scan(&day, &iv.Start, &iv.End); err != nil {
			return Week{}, fmt.Errorf("load hours of %s/%s: %w", officeID, serviceID, err)
		}
		if day >= 0 && day < 7 {
			w[day] = append(w[day], iv)
		}
	}
	if err := rows.Err(); err != nil {
		return Week{}, fmt.Errorf("load hours of %s/%s: %w", officeID, serviceID, err)
	}
	return w, nil
}

// loadClosures returns the closures of officeID (and of every office) that
// touch the days from..to.
func loadClosures(ctx context.Context, q querier, t tenant.ID, officeID string, from, to civil.Date) ([]Closure, error) {
	return collect(ctx, q, "load closures", scanClosure, `SELECT id, office_id, from_date, to_date, reason FROM booking_closures
		WHERE tenant = ? AND (office_id = '' OR office_id = ?) AND to_date >= ? AND from_date <= ?
		ORDER BY from_date, id`, t, officeID, from.String(), to.String())
}

func scanClosure(sc interface{ Scan(...any) error }) (Closure, error) {
	var c Closure
	var from, to string
	if err := sc.Scan(&c.ID, &c.OfficeID, &from, &to, &c.Reason); err != nil {
		return Closure{}, fmt.Errorf("scan closure: %w", err)
	}
	var err1, err2 error
	c.From, err1 = civil.ParseDate(from)
	c.To, err2 = civil.ParseDate(to)
	if err := errors.Join(err1, err2); err != nil {
		return Closure{}, fmt.Errorf("closure %q: %w", c.ID, err)
	}
	return c, nil
}

// loadOpenings returns the extra openings of officeID on the days from..to.
func loadOpenings(ctx context.Context, q querier, t tenant.ID, officeID string, from, to civil.Date) ([]Opening, error) {
	return collect(ctx, q, "load openings", scanOpening, `SELECT id, office_id, day, intervals, reason FROM booking_openings
		WHERE tenant = ? AND office_id = ? AND day >= ? AND day <= ? ORDER BY day, id`, t, officeID, from.String(), to.String())
}

func scanOpening(sc interface{ Scan(...any) error }) (Opening, error) {
	var o Opening
	var day, ivs string
	if err := sc.Scan(&o.ID, &o.OfficeID, &day, &ivs, &o.Reason); err != nil {
		return Opening{}, fmt.Errorf("scan opening: %w", err)
	}
	d, err := civil.ParseDate(day)
	if err != nil {
		return Opening{}, fmt.Errorf("opening %q: %w", o.ID, err)
	}
	o.Date = d
	if err := json.Unmarshal([]byte(ivs), &o.Intervals); err != nil {
		return Opening{}, fmt.Errorf("opening %q intervals: %w", o.ID, err)
	}
	return o, nil
}

// loadSchedule reads what decides the slots of svc on the days from..to.
func loadSchedule(ctx context.Context, q querier, t tenant.Tenant, loc *time.Location, svc Service, from, to civil.Date) (schedule, error) {
	var officeHours Week
	if svc.Hours.IsZero() {
		var err error
		if officeHours, err = loadHours(ctx, q, t.ID, svc.OfficeID, ""); err != nil {
			return schedule{}, err
		}
	}
	closures, err := loadClosures(ctx, q, t.ID, svc.OfficeID, from, to)
	if err != nil {
		return schedule{}, err
	}
	openings, err := loadOpenings(ctx, q, t.ID, svc.OfficeID, from, to)
	if err != nil {
		return schedule{}, err
	}
	return newSchedule(t, loc, svc, officeHours, closures, openings), nil
}

const bookingColumns = `id, code, service_id, office_id, start_unix, end_unix, channel,
	given_name, family_name, fiscal_code, email, phone, details, status, manage_hash,
	join_token, sequence, created, updated`

// storedBooking is a booking row with its manage-token hash, which never
// leaves the package.
type storedBooking struct {
	Booking
	hash []byte
}

func scanBooking(t tenant.ID, sc interface{ Scan(...any) error }) (storedBooking, error) {
	b := storedBooking{Booking: Booking{Tenant: t}}
	var start, end int64
	var created, updated string
	err := sc.Scan(&b.ID, &b.Code, &b.ServiceID, &b.OfficeID, &start, &end, &b.Channel,
		&b.Citizen.GivenName, &b.Citizen.FamilyName, &b.Citizen.FiscalCode, &b.Citizen.Email,
		&b.Citizen.Phone, &b.Details, &b.Status, &b.hash, &b.JoinToken, &b.Sequence, &created, &updated)
	if err != nil {
		return storedBooking{}, err
	}
	b.Start = time.Unix(start, 0).UTC()
	b.End = time.Unix(end, 0).UTC()
	var err1, err2 error
	b.Created, err1 = time.Parse(time.RFC3339Nano, created)
	b.Updated, err2 = time.Parse(time.RFC3339Nano, updated)
	if err := errors.Join(err1, err2); err != nil {
		return storedBooking{}, fmt.Errorf("booking %q: %w", b.ID, err)
	}
	return b, nil
}

// loadBookingByCode returns the booking of tenant t with code.
func loadBookingByCode(ctx context.Context, q querier, t tenant.ID, code string) (storedBooking, error) {
	b, err := scanBooking(t, q.QueryRowContext(ctx,
		`SELECT `+bookingColumns+` FROM booking_bookings WHERE tenant = ? AND code = ?`, t, code))
	if errors.Is(err, sql.ErrNoRows) {
		return storedBooking{}, fmt.Errorf("booking %q: %w", code, ErrNotFound)
	}
	if err != nil {
		return storedBooking{}, fmt.Errorf("load booking %q: %w", code, err)
	}
	if b.Lang, err = loadLang(ctx, q, t, b.ID); err != nil {
		return storedBooking{}, err
	}
	return b, nil
}

// loadBookingByID returns the booking of tenant t with id.
func loadBookingByID(ctx context.Context, q querier, t tenant.ID, id string) (storedBooking, error) {
	b, err := scanBooking(t, q.QueryRowContext(ctx,
		`SELECT `+bookingColumns+` FROM booking_bookings WHERE tenant = ? AND id = ?`, t, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storedBooking{}, fmt.Errorf("booking id %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return storedBooking{}, fmt.Errorf("load booking id %q: %w", id, err)
	}
	if b.Lang, err = loadLang(ctx, q, t, b.ID); err != nil {
		return storedBooking{}, err
	}
	return b, nil
}

// formatTime is how created/updated instants are stored: UTC, RFC 3339
// with as many fractional digits as needed, so the text is the same on
// every node for the same cmd.Time.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
