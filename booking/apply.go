package booking

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdOfficeSave  = "booking.office.save"
	CmdServiceSave = "booking.service.save"
	CmdClosureAdd  = "booking.closure.add"
	CmdOpeningAdd  = "booking.opening.add"
	CmdCreate      = "booking.create"
	CmdCancel      = "booking.cancel"
	CmdMove        = "booking.move"
)

// payloadVersion is the newest payload version of every booking command.
const payloadVersion = 1

// errVersion refuses a payload newer than this node knows; it happens only
// when a newer node proposes during a rolling upgrade.
var errVersion = errors.New("payload version not supported by this node")

// Register adds the booking schema and apply functions to reg. The apply
// functions of one registry (one node) share a cache of the services'
// configuration (see configCache).
func Register(reg *cluster.Registry) { register(reg, createVersion) }

// register is Register with booking.create handled up to payload version
// createMax: a test builds a member of the release before languages with
// 1.
func register(reg *cluster.Registry, createMax int) {
	a := &applier{cache: newConfigCache()}
	registerErrors(reg)
	reg.Migrate(Migrations()...)
	registerAdmin(reg)
	registerOutcome(reg)
	registerDesks(reg)
	registerReminders(reg)
	registerFair(reg)
	// Waiting lists and App IO (waitlist.go, appio_channel.go).
	registerWaitlist(reg, a)
	reg.Handle(CmdOfficeSave, payloadVersion, applyOfficeSave)
	reg.Handle(CmdServiceSave, payloadVersion, applyServiceSave)
	reg.Handle(CmdClosureAdd, payloadVersion, applyClosureAdd)
	reg.Handle(CmdOpeningAdd, payloadVersion, applyOpeningAdd)
	reg.Handle(CmdCreate, createMax, a.applyCreate)
	reg.Handle(CmdCancel, payloadVersion, applyCancel)
	reg.Handle(CmdMove, payloadVersion, a.applyMove)
	describeCommands(reg)
	// Bookings, cancellations and moves arrive in bursts (a service's
	// slots open, a campaign of ID cards): they may share log entries.
	// They use cmd.Index only through cluster.Enqueue; the configuration
	// commands above bump a version by index and go alone.
	reg.ShareEntries(CmdCreate, CmdCancel, CmdMove)
	// A follower that forwarded a booking gets the stored row back as an
	// Applied (without the join token, which it made itself), so it does
	// not read the row again after the command is applied.
	reg.HandleResult(CmdCreate, func(raw json.RawMessage) (any, error) {
		return decodeApplied(raw)
	})
}

// applier holds what the apply functions of one registry share.
type applier struct {
	cache *configCache
}

// comune is the part of the Comune's settings that apply needs, stamped in
// the payload by the proposer so that booking never reads tenant tables:
// the zone and patron days decide slots and closed days, the name and
// sender go into the email. National holidays come from the code
// (tenant.Tenant.ClosedOn), the same on every node of one version.
type comune struct {
	Name       string             `json:"name"`
	TimeZone   string             `json:"time_zone"`
	PatronDays []tenant.PatronDay `json:"patron_days,omitempty"`
	Sender     tenant.Sender      `json:"sender"`
}

func comuneOf(t tenant.Tenant) comune {
	return comune{Name: t.Name, TimeZone: t.TimeZone, PatronDays: t.PatronDays, Sender: t.Sender}
}

// tenant rebuilds the Tenant of command cmd from the stamped settings.
func (c comune) tenant(id string) tenant.Tenant {
	return tenant.Tenant{ID: tenant.ID(id), Name: c.Name, TimeZone: c.TimeZone, PatronDays: c.PatronDays, Sender: c.Sender}
}

// officePayload is version 1 of booking.office.save.
type officePayload struct {
	Office Office `json:"office"`
}

// servicePayload is version 1 of booking.service.save.
type servicePayload struct {
	Service Service `json:"service"`
}

// closurePayload is version 1 of booking.closure.add.
type closurePayload struct {
	Closure Closure `json:"closure"`
}

// openingPayload is version 1 of booking.opening.add.
type openingPayload struct {
	Opening Opening `json:"opening"`
}

// createPayload is version 1 of booking.create. The proposer stamps the
// ID, the code, the hash of the manage token and the join token. ManageURL
// carries the manage token itself, for the confirmation email only: the
// email is recorded in the same command, and nothing else keeps the token.
type createPayload struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	ServiceID string    `json:"service_id"`
	Start     time.Time `json:"start"`
	Channel   Channel   `json:"channel"`
	Citizen   Citizen   `json:"citizen"`
	Details   string    `json:"details"`
	TokenHash []byte    `json:"token_hash"`
	JoinToken string    `json:"join_token,omitempty"`
	Comune    comune    `json:"comune"`
	BaseURL   string    `json:"base_url"`
	ManageURL string    `json:"manage_url"`
	// Lang (version 2, lang.go) is the booking's language; absent in
	// version 1, which is Italian.
	Lang string `json:"lang,omitempty"`
	// Net (version 2, fair.go) is the keyed hash of the client's network
	// for the suspicious-patterns report. It rides in the booking's own
	// command: a booking without a proof of work needs no second command
	// (booking.fair.admit) just to file it.
	Net string `json:"net,omitempty"`
}

// cancelPayload is version 1 of booking.cancel. TokenHash is the SHA-256
// of the token the citizen presented.
type cancelPayload struct {
	Code      string `json:"code"`
	TokenHash []byte `json:"token_hash"`
	Comune    comune `json:"comune"`
	BaseURL   string `json:"base_url"`
}

// movePayload is version 1 of booking.move.
type movePayload struct {
	Code      string    `json:"code"`
	TokenHash []byte    `json:"token_hash"`
	Start     time.Time `json:"start"`
	Comune    comune    `json:"comune"`
	BaseURL   string    `json:"base_url"`
	ManageURL string    `json:"manage_url"`
}

// Applied is the result value of booking.create, booking.cancel and
// booking.move.
type Applied struct {
	ID       string `json:"id"`
	Code     string `json:"code"`
	Sequence int    `json:"sequence"`
	// Booking is the booking as booking.create stored it (nil for the
	// other commands), so that Book.Create need not read it back. Its
	// JSON form lacks the tenant and the join token.
	Booking *Booking `json:"booking,omitempty"`
	// ManageURL is the manage link booking.create was proposed with (it
	// holds the manage token, as the confirmation email does), so that a
	// replayed request (same idempotency key, see cluster.WithRequestID)
	// answers with the token of the first one.
	ManageURL string `json:"manage_url,omitempty"`
}

// RecordedValue is what the request record keeps of a (cluster.Recorded):
// everything but the copy of the booking, which a replay reads back by ID.
func (a Applied) RecordedValue() any {
	a.Booking = nil
	return a
}

// decode checks the payload version and decodes it.
func decode(cmd cluster.Command, v any) error {
	if cmd.Version < 1 || cmd.Version > payloadVersion {
		return fmt.Errorf("%s v%d: %w", cmd.Type, cmd.Version, errVersion)
	}
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command has no tenant", cmd.Type)
	}
	return cmd.Decode(v)
}

func applyOfficeSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p officePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	o := p.Office
	if err := checkOffice(o); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_offices (tenant, id, name, address, phone, email)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, address = excluded.address,
			phone = excluded.phone, email = excluded.email`,
		cmd.Tenant, o.ID, o.Name, o.Address, o.Phone, o.Email); err != nil {
		return nil, fmt.Errorf("save office %q: %w", o.ID, err)
	}
	if err := saveHours(tx, cmd.Tenant, o.ID, "", o.Hours); err != nil {
		return nil, err
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return o.ID, nil
}

func applyServiceSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p servicePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	s := p.Service
	if err := checkService(s); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	if _, err := loadOffice(ctx, tx, t, s.OfficeID); err != nil {
		return nil, err
	}
	// A service never changes office: its bookings and hours are filed
	// under the office it was created in.
	if old, err := loadService(ctx, tx, t, s.ID); err == nil && old.OfficeID != s.OfficeID {
		return nil, &ValidationError{Fields: map[string]string{"office_id": "Un servizio non può cambiare ufficio."}}
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	bring, _ := json.Marshal(nonNil(s.WhatToBring))
	channels, _ := json.Marshal(s.Channels)
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_services (tenant, id, office_id, name, description,
			category, what_to_bring, duration_s, channels, capacity, min_notice_s, horizon_days,
			cancel_deadline_s, max_active)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, description = excluded.description,
			category = excluded.category, what_to_bring = excluded.what_to_bring,
			duration_s = excluded.duration_s, channels = excluded.channels, capacity = excluded.capacity,
			min_notice_s = excluded.min_notice_s, horizon_days = excluded.horizon_days,
			cancel_deadline_s = excluded.cancel_deadline_s, max_active = excluded.max_active`,
		t, s.ID, s.OfficeID, s.Name, s.Description, s.Category, string(bring),
		int64(s.Duration/time.Second), string(channels), s.Capacity, int64(s.MinNotice/time.Second),
		s.HorizonDays, int64(s.CancelDeadline/time.Second), s.MaxActivePerCitizen); err != nil {
		return nil, fmt.Errorf("save service %q: %w", s.ID, err)
	}
	if err := markCapped(tx, cmd, s); err != nil {
		return nil, err
	}
	if err := saveHours(tx, cmd.Tenant, s.OfficeID, s.ID, s.Hours); err != nil {
		return nil, err
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return s.ID, nil
}

// markCapped marks capped the active bookings still to come of service
// s when it has a per-citizen cap, so that the cap's count, which reads
// only capped bookings (schema_v9.go), sees those made before it. Before
// the schema's version 9 there is nothing to mark.
func markCapped(tx *sql.Tx, cmd cluster.Command, s Service) error {
	if s.MaxActivePerCitizen == 0 {
		return nil
	}
	_, err := tx.ExecContext(context.Background(), `UPDATE booking_bookings SET capped = 1
		WHERE tenant = ? AND service_id = ? AND status = 'active' AND start_unix > ? AND capped = 0`,
		cmd.Tenant, s.ID, cmd.Time.Unix())
	if err != nil && !isNoColumn(err, "capped") {
		return fmt.Errorf("mark the bookings of %q capped: %w", s.ID, err)
	}
	return nil
}

// saveHours replaces the weekly hours of an office or service.
func saveHours(tx *sql.Tx, t, officeID, serviceID string, w Week) error {
	ctx := context.Background()
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_hours WHERE tenant = ? AND office_id = ? AND service_id = ?`,
		t, officeID, serviceID); err != nil {
		return fmt.Errorf("replace hours of %s/%s: %w", officeID, serviceID, err)
	}
	for day, ivs := range w {
		for _, iv := range ivs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO booking_hours (tenant, office_id, service_id, weekday, start_min, end_min)
				VALUES (?, ?, ?, ?, ?, ?)`, t, officeID, serviceID, day, iv.Start, iv.End); err != nil {
				return fmt.Errorf("save hours of %s/%s: %w", officeID, serviceID, err)
			}
		}
	}
	return nil
}

func applyClosureAdd(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p closurePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	c := p.Closure
	if err := checkClosure(c); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if c.OfficeID != "" {
		if _, err := loadOffice(ctx, tx, tenant.ID(cmd.Tenant), c.OfficeID); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_closures (tenant, id, office_id, from_date, to_date, reason)
		VALUES (?, ?, ?, ?, ?, ?)`, cmd.Tenant, c.ID, c.OfficeID, c.From.String(), c.To.String(), c.Reason); err != nil {
		return nil, fmt.Errorf("add closure: %w", err)
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return c.ID, nil
}

func applyOpeningAdd(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p openingPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	o := p.Opening
	if err := checkOpening(o); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := loadOffice(ctx, tx, tenant.ID(cmd.Tenant), o.OfficeID); err != nil {
		return nil, err
	}
	ivs, _ := json.Marshal(o.Intervals)
	if _, err := tx.ExecContext(ctx, `INSERT INTO booking_openings (tenant, id, office_id, day, intervals, reason)
		VALUES (?, ?, ?, ?, ?, ?)`, cmd.Tenant, o.ID, o.OfficeID, o.Date.String(), string(ivs), o.Reason); err != nil {
		return nil, fmt.Errorf("add opening: %w", err)
	}
	if err := bumpConfigVersion(tx, cmd); err != nil {
		return nil, err
	}
	return o.ID, nil
}

// reserve checks every rule a booking of the service of cfg at start must
// satisfy at cmd.Time, in the order a citizen can best act on: channel,
// time window, closed day, real slot, the citizen's own bookings,
// capacity. self is the booking being moved ("" when creating): it counts
// neither for the citizen's cap nor for the slot's capacity.
//
// counts, when not nil, are the counts the caller read from the
// transaction (booking.create, with its configuration); nil reads them
// here.
func reserve(tx *sql.Tx, cmd cluster.Command, t tenant.Tenant, cfg serviceConfig, start time.Time, ch Channel, fiscalCode, self string, counts *slotCounts) error {
	svc := cfg.svc
	if !svc.offers(ch) {
		return fmt.Errorf("channel %q: %w", ch, ErrChannelOffered)
	}
	loc := t.Location()
	if err := cfg.schedule(t).check(start, cmd.Time); err != nil {
		return err
	}
	if counts == nil {
		c, err := readSlotCounts(tx, cmd, t.ID, svc, start, fiscalCode, self)
		if err != nil {
			return err
		}
		counts = &c
	}
	c := *counts
	if svc.MaxActivePerCitizen > 0 && c.mine >= svc.MaxActivePerCitizen {
		return fmt.Errorf("service %q: %d active: %w", svc.ID, c.mine, ErrAlreadyBooked)
	}
	if c.slot+c.held >= svc.Capacity {
		return fmt.Errorf("reserve slot %s: %w", start.In(loc).Format("2006-01-02T15:04"), ErrSlotFull)
	}
	return nil
}

// slotCounts are what reserve compares with a service's caps: the
// citizen's active future bookings of the service (not counted, 0, when
// it has no cap), the slot's active bookings, and the seats of the slot
// held for waiting lists' offers (waitlist.go), which count as taken.
type slotCounts struct {
	mine, slot, held int
}

// readSlotCounts reads reserve's counts, excluding the booking self.
func readSlotCounts(tx *sql.Tx, cmd cluster.Command, t tenant.ID, svc Service, start time.Time, fiscalCode, self string) (slotCounts, error) {
	// The three counts in one statement: each statement costs a booking
	// several microseconds of database/sql and cgo before SQLite reads a
	// page. The citizen's count runs only for a service with a cap.
	var c slotCounts
	err := withCapped(func(term string) error {
		return tx.QueryRowContext(context.Background(), `SELECT
			CASE WHEN ?1 > 0 THEN (SELECT count(*) FROM booking_bookings
				WHERE tenant = ?2 AND service_id = ?3 AND fiscal_code = ?4 AND status = 'active'
					AND start_unix > ?5 AND id <> ?6`+term+`) ELSE 0 END,
			(SELECT count(*) FROM booking_bookings
				WHERE tenant = ?2 AND service_id = ?3 AND start_unix = ?7 AND status = 'active' AND id <> ?6),
			(SELECT count(*) FROM booking_waitlist_offers
				WHERE tenant = ?2 AND service_id = ?3 AND start_unix = ?7 AND status = 'pending')`,
			svc.MaxActivePerCitizen, t, svc.ID, fiscalCode, cmd.Time.Unix(), self, start.Unix()).Scan(&c.mine, &c.slot, &c.held)
	})
	if isNoSuchTable(err) {
		// Before the waiting list's migration: the counts one by one.
		c, err = reserveCounts(tx, cmd, t, svc, start, fiscalCode, self)
	}
	if err != nil {
		return slotCounts{}, fmt.Errorf("count bookings: %w", err)
	}
	return c, nil
}

// reserveCounts is reserve's counts, one query each: the citizen's active
// future bookings of the service (0 without a cap), the slot's bookings,
// and the seats held for waiting lists (heldSeats, 0 before its table).
func reserveCounts(tx *sql.Tx, cmd cluster.Command, t tenant.ID, svc Service, start time.Time, fiscalCode, self string) (c slotCounts, err error) {
	ctx := context.Background()
	if svc.MaxActivePerCitizen > 0 {
		err = withCapped(func(term string) error {
			return tx.QueryRowContext(ctx, `SELECT count(*) FROM booking_bookings
				WHERE tenant = ? AND service_id = ? AND fiscal_code = ? AND status = 'active'
					AND start_unix > ? AND id <> ?`+term,
				t, svc.ID, fiscalCode, cmd.Time.Unix(), self).Scan(&c.mine)
		})
		if err != nil {
			return slotCounts{}, fmt.Errorf("citizen: %w", err)
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM booking_bookings
		WHERE tenant = ? AND service_id = ? AND start_unix = ? AND status = 'active' AND id <> ?`,
		t, svc.ID, start.Unix(), self).Scan(&c.slot); err != nil {
		return slotCounts{}, fmt.Errorf("slot: %w", err)
	}
	if c.held, err = heldSeats(tx, t, svc.ID, start.Unix()); err != nil {
		return slotCounts{}, err
	}
	return c, nil
}

func (a *applier) applyCreate(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p createPayload
	if err := decodeCreate(cmd, createVersion, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	if p.ID == "" || !validCode(p.Code) || len(p.TokenHash) != tokenHashSize {
		return nil, fmt.Errorf("%s: payload lacks id, code or token hash", cmd.Type)
	}
	// The citizen cap compares codes as stored: a payload that is not in
	// normal form would slip past it.
	if fc := p.Citizen.FiscalCode; fc != NormalizeFiscalCode(fc) || !ValidFiscalCode(fc) {
		return nil, &ValidationError{Fields: map[string]string{"citizen.fiscal_code": "Il codice fiscale non è valido."}}
	}
	// The configuration and, in the same query, the fair-access and App
	// IO settings and reserve's counts (nil before their tables exist:
	// then read below).
	cfg, settings, err := a.cache.serviceForCreate(ctx, tx, t.ID, p.ServiceID, p.Citizen.FiscalCode, p.Start, cmd.Time)
	if err != nil {
		return nil, err
	}
	svc, office := cfg.svc, cfg.office
	var counts *slotCounts
	if settings != nil {
		counts = &settings.counts
	}
	if err := reserve(tx, cmd, t, cfg, p.Start, p.Channel, p.Citizen.FiscalCode, "", counts); err != nil {
		return nil, err
	}
	if cmd.Version < 2 {
		p.Net = ""
	}
	var fair *FairSettings
	if settings != nil {
		fair = &settings.fair
	}
	if err := checkFairCreate(tx, cmd, t, svc, fair, p.ID, p.Start, p.Citizen, p.Net); err != nil {
		return nil, err
	}
	b := Booking{
		ID: p.ID, Tenant: t.ID, Code: p.Code, ServiceID: svc.ID, OfficeID: svc.OfficeID,
		Start: p.Start.UTC(), End: p.Start.Add(svc.Duration).UTC(), Channel: p.Channel,
		Citizen: p.Citizen, Details: p.Details, Status: Active, JoinToken: p.JoinToken,
		Created: cmd.Time.UTC(), Updated: cmd.Time.UTC(),
	}
	if cmd.Version < 2 {
		// Version 1 has no language: an older member would have
		// refused the field, so it is not honoured here either.
		p.Lang = ""
	}
	if b.Lang, err = insertBooking(tx, b, p.TokenHash, p.Lang, svc.MaxActivePerCitizen > 0); err != nil {
		// The table's two unique keys, (tenant, id) and (tenant, code),
		// are the check that the code is free: SQLite undoes the failed
		// statement, and the error rolls the command back to its
		// savepoint, so nothing of it stays. A separate query first
		// would cost every booking a third lookup of the same indexes.
		if isBookingKeyTaken(err) {
			return nil, fmt.Errorf("code %s: %w", p.Code, ErrCodeTaken)
		}
		return nil, fmt.Errorf("insert booking %s: %w", b.Code, err)
	}
	if err := rememberManageURL(tx, t.ID, b.ID, p.BaseURL, p.ManageURL); err != nil {
		return nil, err
	}
	n := newNotice(NoticeConfirm, t, b, svc, office, p.BaseURL, p.ManageURL)
	// The confirm-to-keep window comes from the fair settings read with
	// the configuration; before their table exists, fairNotice reads them.
	if fair != nil {
		fairNoticeWith(&n, *fair, p.ManageURL)
	} else if err := fairNotice(tx, &n, p.ManageURL); err != nil {
		return nil, err
	}
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	// The App IO twin of the email, when the service has the channel on.
	// Known off (the common case), it costs nothing.
	if settings == nil {
		err = enqueueAppIO(tx, cmd, appIOOfNotice(AppIOConfirm, n, svc.ID, b.Citizen.FiscalCode))
	} else if settings.appIO {
		err = enqueueAppIOIf(tx, cmd, appIOOfNotice(AppIOConfirm, n, svc.ID, b.Citizen.FiscalCode), true)
	}
	if err != nil {
		return nil, err
	}
	return Applied{ID: b.ID, Code: b.Code, Sequence: b.Sequence, Booking: &b, ManageURL: p.ManageURL}, nil
}

// isBookingKeyTaken reports whether err is SQLite's refusal of a booking
// row whose ID or code the Comune already uses: both keys are unique
// constraints of booking_bookings, and SQLite names the table's columns in
// the message for either.
func isBookingKeyTaken(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: booking_bookings.")
}

// loadManaged returns the booking with code if tokenHash matches its
// manage token, is still active, and its cancellation deadline has not
// passed at now.
func loadManaged(tx *sql.Tx, t tenant.ID, code string, tokenHash []byte, now time.Time, svc *Service) (storedBooking, error) {
	ctx := context.Background()
	b, err := loadBookingByCode(ctx, tx, t, code)
	if err != nil {
		return storedBooking{}, err
	}
	if subtle.ConstantTimeCompare(b.hash, tokenHash) != 1 {
		return storedBooking{}, fmt.Errorf("booking %s: %w", code, ErrBadToken)
	}
	if b.Status == Cancelled {
		return storedBooking{}, fmt.Errorf("booking %s: %w", code, ErrCancelled)
	}
	if *svc, err = loadService(ctx, tx, t, b.ServiceID); err != nil {
		return storedBooking{}, err
	}
	if now.After(b.Start.Add(-svc.CancelDeadline)) {
		return storedBooking{}, fmt.Errorf("booking %s: %w", code, ErrPastDeadline)
	}
	return b, nil
}

func applyCancel(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p cancelPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	var svc Service
	b, err := loadManaged(tx, t.ID, p.Code, p.TokenHash, cmd.Time, &svc)
	if err != nil {
		return nil, err
	}
	office, err := loadOffice(ctx, tx, t.ID, svc.OfficeID)
	if err != nil {
		return nil, err
	}
	b.Status = Cancelled
	b.Sequence++
	b.Updated = cmd.Time.UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE booking_bookings SET status = ?, sequence = ?, updated = ?
		WHERE tenant = ? AND id = ?`, b.Status, b.Sequence, formatTime(b.Updated), t.ID, b.ID); err != nil {
		return nil, fmt.Errorf("cancel booking %s: %w", b.Code, err)
	}
	if err := forgetReminderState(tx, t.ID, b.ID); err != nil {
		return nil, err
	}
	n := newNotice(NoticeCancel, t, b.Booking, svc, office, p.BaseURL, "")
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	// The freed seat goes to the waiting list first (waitlist.go).
	if err := offerFreedSeat(tx, cmd, p.Comune, svc.ID, b.Start); err != nil {
		return nil, err
	}
	return Applied{ID: b.ID, Code: b.Code, Sequence: b.Sequence}, nil
}

func (a *applier) applyMove(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p movePayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	var svc Service
	b, err := loadManaged(tx, t.ID, p.Code, p.TokenHash, cmd.Time, &svc)
	if err != nil {
		return nil, err
	}
	cfg, err := a.cache.service(ctx, tx, t.ID, svc.ID)
	if err != nil {
		return nil, err
	}
	office := cfg.office
	if err := reserve(tx, cmd, t, cfg, p.Start, b.Channel, b.Citizen.FiscalCode, b.ID, nil); err != nil {
		return nil, err
	}
	if err := checkFairMove(tx, cmd, t, svc.ID, p.Start); err != nil {
		return nil, err
	}
	prevStart, prevEnd := b.Start, b.End
	b.Start = p.Start.UTC()
	b.End = p.Start.Add(svc.Duration).UTC()
	b.Sequence++
	b.Updated = cmd.Time.UTC()
	if _, err := tx.ExecContext(ctx, `UPDATE booking_bookings SET start_unix = ?, end_unix = ?, sequence = ?, updated = ?
		WHERE tenant = ? AND id = ?`, b.Start.Unix(), b.End.Unix(), b.Sequence, formatTime(b.Updated), t.ID, b.ID); err != nil {
		return nil, fmt.Errorf("move booking %s: %w", b.Code, err)
	}
	if err := rememberManageURL(tx, t.ID, b.ID, p.BaseURL, p.ManageURL); err != nil {
		return nil, err
	}
	n := newNotice(NoticeMove, t, b.Booking, svc, office, p.BaseURL, p.ManageURL)
	n.PreviousStart, n.PreviousEnd = prevStart, prevEnd
	if err := fairNotice(tx, &n, p.ManageURL); err != nil {
		return nil, err
	}
	if err := enqueueNotice(tx, cmd, n); err != nil {
		return nil, err
	}
	// The seat left behind goes to the waiting list first (waitlist.go).
	if err := offerFreedSeat(tx, cmd, p.Comune, svc.ID, prevStart); err != nil {
		return nil, err
	}
	return Applied{ID: b.ID, Code: b.Code, Sequence: b.Sequence}, nil
}

// enqueueNotice records the email of n in the replicated outbox, in the
// same transaction as the change it tells of. Its key names the booking
// and the sequence, so one change is never queued twice. booking.create
// from version createCompactVersion queues the compact form of the
// notice (notice_compact.go), every other command the full one: the form
// follows from the command, so every node, and a replay of an old log,
// writes the same bytes.
func enqueueNotice(tx *sql.Tx, cmd cluster.Command, n Notice) error {
	var payload []byte
	if cmd.Type == CmdCreate && cmd.Version >= createCompactVersion {
		payload = appendCompactNotice(make([]byte, 0, 640), n)
	} else {
		var err error
		if payload, err = json.Marshal(n); err != nil {
			return fmt.Errorf("encode %s notice: %w", n.Kind, err)
		}
	}
	item := cluster.OutboxItem{
		Kind:    OutboxKind,
		Key:     "booking/" + cmd.Tenant + "/" + n.Booking.ID + "/" + strconv.Itoa(n.Sequence) + "/" + string(n.Kind),
		Payload: payload,
	}
	if err := cluster.Enqueue(tx, cmd, item); err != nil {
		return fmt.Errorf("enqueue %s email of %s: %w", n.Kind, n.Booking.Code, err)
	}
	return nil
}

// nonNil returns s, or an empty slice for nil, so JSON columns hold "[]".
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// trimBase returns baseURL without trailing slashes, ready to prefix paths.
func trimBase(baseURL string) string { return strings.TrimRight(baseURL, "/") }
