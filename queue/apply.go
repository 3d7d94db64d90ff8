package queue

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Command types of the package.
const (
	CmdConfigure = "queue.office.configure"
	CmdTake      = "queue.take"
	CmdCancel    = "queue.cancel"
	CmdCall      = "queue.call"
	CmdStart     = "queue.start"
	CmdServed    = "queue.served"
	CmdNoShow    = "queue.no_show"
	CmdRecall    = "queue.recall"
	CmdTransfer  = "queue.transfer"
	CmdPark      = "queue.park"
	CmdResume    = "queue.resume"
	CmdPauseDesk = "queue.desk.pause"
	// CmdResumeDesk ends a desk's pause.
	CmdResumeDesk = "queue.desk.resume"
)

// payloadVersion is the newest payload version of every queue command
// but queue.call, whose newest is callVersion.
const (
	payloadVersion = 1
	callVersion    = 2
	// takeVersion 2 adds Admit (admission and notifications): a node
	// that knew only version 1 would file a ticket the others refuse, so
	// it must refuse the entry instead of ignoring the field.
	// takeVersion 3 adds the enrolled kiosk (admitStamp.KioskID), which
	// lifts the address cap: a node of version 2 would apply the cap.
	takeVersion = 3
	// configureVersion 2 carries the settings of confirmation by email
	// and kiosk enrolment (Configure sends it only when they change).
	configureVersion = 2
)

// errVersion refuses a payload newer than this node knows.
var errVersion = errors.New("payload version not supported by this node")

// Register adds the queue schema, apply functions and errors to reg.
func Register(reg *cluster.Registry) {
	registerErrors(reg)
	registerAdmitErrors(reg)
	reg.Migrate(Migrations()...)
	reg.Handle(CmdConfigure, configureVersion, applyConfigure)
	reg.Handle(CmdTake, takeVersion, applyTake)
	reg.Handle(CmdCancel, payloadVersion, applyCancel)
	reg.Handle(CmdCall, callVersion, applyCall)
	registerCore(reg)
	registerPush(reg)
	registerConfirm(reg)
	registerKiosks(reg)
	registerRelease(reg)
	for typ, tr := range transitions() {
		reg.Handle(typ, payloadVersion, tr.apply)
	}
	describeCommands(reg)
	// Every command but the configuration answers with the ticket as
	// stored, so a follower that forwarded it gets a Ticket too.
	for _, typ := range []string{CmdTake, CmdCancel, CmdCall, CmdStart, CmdServed, CmdNoShow, CmdRecall,
		CmdTransfer, CmdPark, CmdResume} {
		reg.HandleResult(typ, func(raw json.RawMessage) (any, error) {
			var k Ticket
			err := json.Unmarshal(raw, &k)
			return k, err
		})
	}
	// Tickets are not shared between log entries: each take reads the
	// counter the previous one wrote, and cmd.Time orders the calls.
}

// configurePayload is version 1 of queue.office.configure.
type configurePayload struct {
	Config OfficeConfig `json:"config"`
}

// takePayload is version 1 of queue.take. The proposer stamps the ID, the
// secret's hash, the Comune's time zone (the day is the Comune's), the
// expected duration and, for a check-in, the appointment it read from the
// booking.
type takePayload struct {
	ID          string    `json:"id"`
	OfficeID    string    `json:"office_id"`
	ServiceID   string    `json:"service_id,omitempty"`
	Channel     Channel   `json:"channel"`
	Priority    Priority  `json:"priority,omitempty"`
	BookingCode string    `json:"booking_code,omitempty"`
	Appointment time.Time `json:"appointment,omitzero"`
	DurationS   int64     `json:"duration_s"`
	SecretHash  []byte    `json:"secret_hash"`
	TimeZone    string    `json:"time_zone"`
	// Admit is what admission and notifications need (admit.go).
	Admit *admitStamp `json:"admit,omitempty"`
}

// cancelPayload is version 1 of queue.cancel.
type cancelPayload struct {
	ID         string `json:"id"`
	SecretHash []byte `json:"secret_hash"`
}

// callPayload is queue.call. Version 1 has OfficeID, Desk, Services
// and TimeZone: Services, when not empty, limits the call to tickets of
// those services (and tickets without one). Version 2 adds TicketID (call
// that waiting ticket rather than the next), Channels and Appointments
// (CallOptions). The proposer sends version 1 whenever the call uses
// none of them, so a call reaches a cluster not yet upgraded as before;
// apply reads both versions with the same struct, the new fields empty
// in version 1.
type callPayload struct {
	OfficeID     string    `json:"office_id"`
	Desk         string    `json:"desk"`
	Services     []string  `json:"services,omitempty"`
	TimeZone     string    `json:"time_zone"`
	TicketID     string    `json:"ticket_id,omitempty"`
	Channels     []Channel `json:"channels,omitempty"`
	Appointments bool      `json:"appointments,omitempty"`
}

// version is the oldest payload version that carries p: version 1
// without admission (seeding, tools), so such takes still reach a node
// not yet upgraded.
func (p takePayload) version() int {
	if p.Admit != nil && p.Admit.KioskID != "" {
		return takeVersion
	}
	if p.Admit != nil {
		return 2
	}
	return 1
}

// version is the oldest payload version that carries p.
func (p callPayload) version() int {
	if p.TicketID != "" || len(p.Channels) > 0 || p.Appointments {
		return callVersion
	}
	return 1
}

// deskPayload is version 1 of the operator's transitions of one ticket.
type deskPayload struct {
	ID   string `json:"id"`
	Desk string `json:"desk"`
}

// decode checks the payload version and tenant, and decodes it.
func decode(cmd cluster.Command, v any) error {
	return decodeUpTo(cmd, payloadVersion, v)
}

// decodeUpTo is decode for a command whose newest version is newest.
func decodeUpTo(cmd cluster.Command, newest int, v any) error {
	if cmd.Version < 1 || cmd.Version > newest {
		return fmt.Errorf("%s v%d: %w", cmd.Type, cmd.Version, errVersion)
	}
	if cmd.Tenant == "" {
		return fmt.Errorf("%s: command has no tenant", cmd.Type)
	}
	return cmd.Decode(v)
}

// dayOf is the Comune-local date of instant at in zone.
func dayOf(at time.Time, zone string) string {
	return at.In(tenant.Tenant{TimeZone: zone}.Location()).Format(time.DateOnly)
}

var letterRE = regexp.MustCompile(`^[A-Z]$`)

// CheckConfig validates an office's queue configuration.
func CheckConfig(c OfficeConfig) error {
	f := map[string]string{}
	if c.OfficeID == "" {
		f["office_id"] = "Indicare l'ufficio."
	}
	for svc, l := range c.Groups {
		if !letterRE.MatchString(l) {
			f["groups."+svc] = "La lettera del gruppo deve essere una sola lettera maiuscola (A–Z)."
		}
	}
	if c.EarlyCheckIn < 0 || c.EarlyCheckIn > 2*time.Hour {
		f["early_check_in"] = "L'anticipo ammesso va da 0 a 120 minuti."
	}
	if c.LateCheckIn < 0 || c.LateCheckIn > 2*time.Hour {
		f["late_check_in"] = "Il ritardo ammesso va da 0 a 120 minuti."
	}
	if c.Sample < 1 || c.Sample > 100 {
		f["sample"] = "Il numero di servizi per la stima va da 1 a 100."
	}
	checkAdmissionConfig(c, f)
	if len(f) > 0 {
		return &ValidationError{Fields: f}
	}
	return nil
}

func applyConfigure(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p configurePayload
	if err := decodeUpTo(cmd, configureVersion, &p); err != nil {
		return nil, err
	}
	c := p.Config
	if err := CheckConfig(c); err != nil {
		return nil, err
	}
	groups, _ := json.Marshal(c.Groups)
	if _, err := tx.ExecContext(context.Background(), `INSERT INTO queue_offices (tenant, office_id, groups, early_s, late_s, sample)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, office_id) DO UPDATE SET groups = excluded.groups, early_s = excluded.early_s,
			late_s = excluded.late_s, sample = excluded.sample`,
		cmd.Tenant, c.OfficeID, string(groups), int64(c.EarlyCheckIn/time.Second), int64(c.LateCheckIn/time.Second), c.Sample); err != nil {
		return nil, fmt.Errorf("configure queue of %s: %w", c.OfficeID, err)
	}
	if err := saveAdmissionConfig(tx, cmd.Tenant, c); err != nil {
		return nil, err
	}
	if cmd.Version >= 2 {
		if err := saveConfirmConfig(tx, cmd.Tenant, c); err != nil {
			return nil, err
		}
	}
	return c.OfficeID, nil
}

// applyTake numbers and files a ticket. The number comes from the
// office's counter for the day and letter, read and written in this
// transaction: apply runs one command at a time on every node in log
// order, so two takes, proposed on any nodes at once, get consecutive
// numbers everywhere.
func applyTake(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p takePayload
	if err := decodeUpTo(cmd, takeVersion, &p); err != nil {
		return nil, err
	}
	if cmd.Version < 2 {
		// Version 1 knew nothing of admission: apply it as then.
		p.Admit = nil
	}
	if cmd.Version < 3 && p.Admit != nil {
		// Version 2 knew nothing of enrolled kiosks.
		p.Admit.KioskID = ""
	}
	return fileTake(tx, cmd, p)
}

// newTake checks a take's payload and builds its ticket, not yet
// numbered, at the command's time: the check-in window is judged here.
func newTake(tx *sql.Tx, cmd cluster.Command, p takePayload) (Ticket, OfficeConfig, error) {
	if p.ID == "" || p.OfficeID == "" || len(p.SecretHash) != sha256.Size || !p.Channel.valid() || !p.Priority.valid() || p.DurationS <= 0 {
		return Ticket{}, OfficeConfig{}, fmt.Errorf("%s: payload lacks id, office, secret hash, channel, priority or duration", cmd.Type)
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	cfg, err := loadConfig(ctx, tx, t, p.OfficeID)
	if err != nil {
		return Ticket{}, OfficeConfig{}, err
	}
	k := Ticket{
		ID: p.ID, Tenant: t, OfficeID: p.OfficeID, Day: dayOf(cmd.Time, p.TimeZone),
		ServiceID: p.ServiceID, Channel: p.Channel, Priority: p.Priority, State: Waiting,
		Duration: time.Duration(p.DurationS) * time.Second, Taken: cmd.Time.UTC().Truncate(time.Second),
	}
	if p.BookingCode != "" {
		// The check-in window is judged here, at the leader's time of the
		// command, so every node files the citizen in the same line.
		appt := p.Appointment.UTC()
		if cmd.Time.Before(appt.Add(-cfg.EarlyCheckIn)) {
			return Ticket{}, OfficeConfig{}, fmt.Errorf("check-in of %s before %s: %w", p.BookingCode, appt.Add(-cfg.EarlyCheckIn).Format(time.RFC3339), ErrTooEarly)
		}
		var dup bool
		if err := tx.QueryRowContext(ctx, checkedInQuery, t, p.BookingCode).Scan(&dup); err != nil {
			return Ticket{}, OfficeConfig{}, fmt.Errorf("check booking %s: %w", p.BookingCode, err)
		}
		if dup {
			return Ticket{}, OfficeConfig{}, fmt.Errorf("booking %s: %w", p.BookingCode, ErrAlreadyCheckedIn)
		}
		k.BookingCode, k.Appointment = p.BookingCode, appt
		k.Booked = !cmd.Time.After(appt.Add(cfg.LateCheckIn))
	}
	return k, cfg, nil
}

// fileTake admits, numbers and files the ticket of take p at the
// command's time (queue.take, and queue.confirm for a pending one).
func fileTake(tx *sql.Tx, cmd cluster.Command, p takePayload) (Ticket, error) {
	ctx := context.Background()
	k, cfg, err := newTake(tx, cmd, p)
	if err != nil {
		return Ticket{}, err
	}
	t := k.Tenant
	// Expired unconfirmed tickets go before they could count against
	// this one's caps (they do not: admit counts only unexpired ones)
	// and so that a quiet office does not keep them.
	if err := sweepPending(tx, t, k.OfficeID, cmd.Time); err != nil {
		return Ticket{}, err
	}
	if err := admit(tx, cmd, cfg, k, p.Admit); err != nil {
		return Ticket{}, err
	}
	letter := cfg.letter(p.ServiceID)
	var n int
	if err := tx.QueryRowContext(ctx, `INSERT INTO queue_counters (tenant, office_id, day, letter, last)
		VALUES (?, ?, ?, ?, 1)
		ON CONFLICT (tenant, office_id, day, letter) DO UPDATE SET last = last + 1
		RETURNING last`, t, k.OfficeID, k.Day, letter).Scan(&n); err != nil {
		return Ticket{}, fmt.Errorf("number ticket of %s: %w", k.OfficeID, err)
	}
	k.Number = fmt.Sprintf("%s%03d", letter, n)
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) + 1 FROM queue_tickets
		WHERE tenant = ? AND office_id = ? AND day = ?`, t, k.OfficeID, k.Day).Scan(&k.Seq); err != nil {
		return Ticket{}, fmt.Errorf("sequence ticket of %s: %w", k.OfficeID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_tickets (tenant, `+ticketColumns+`, secret_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t, k.ID, k.OfficeID, k.Day, k.Seq, k.Number, k.ServiceID, k.Channel, k.Priority, k.BookingCode,
		unixOf(k.Appointment), k.Booked, k.State, k.Desk, k.Recalls, p.DurationS, unixOf(k.Taken), 0, 0, 0,
		"", "", 0, p.SecretHash); err != nil {
		return Ticket{}, fmt.Errorf("insert ticket %s: %w", k.Number, err)
	}
	return k, fileAdmission(tx, cmd, cfg, k, p.Admit)
}

// saveState writes a ticket's mutable columns.
func saveState(tx *sql.Tx, k Ticket) error {
	if _, err := tx.ExecContext(context.Background(), `UPDATE queue_tickets SET state = ?, desk = ?, recalls = ?,
		called = ?, started = ?, done = ?, for_desk = ? WHERE tenant = ? AND id = ?`,
		k.State, k.Desk, k.Recalls, unixOf(k.Called), unixOf(k.Started), unixOf(k.Done), k.ForDesk, k.Tenant, k.ID); err != nil {
		return fmt.Errorf("save ticket %s: %w", k.Number, err)
	}
	return nil
}

func applyCancel(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p cancelPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	k, hash, err := loadTicket(context.Background(), tx, tenant.ID(cmd.Tenant), p.ID)
	if errors.Is(err, ErrNotFound) {
		// A ticket still waiting for its email's confirmation.
		return cancelPending(tx, cmd, p)
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(hash, p.SecretHash) != 1 {
		return nil, fmt.Errorf("ticket %s: %w", p.ID, ErrBadSecret)
	}
	if k.State != Waiting && k.State != Called && k.State != Parked {
		return nil, fmt.Errorf("cancel ticket %s, %s: %w", k.Number, k.State, ErrTransition)
	}
	k.State = Cancelled
	k.Done = cmd.Time.UTC().Truncate(time.Second)
	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
}

// applyCall gives the desk the first waiting ticket by the ordering rule
// at cmd.Time (pick), or the ticket the payload names. Calls are applied
// one at a time, so two desks calling at once never get the same ticket:
// the second sees it called.
func applyCall(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p callPayload
	if err := decodeUpTo(cmd, callVersion, &p); err != nil {
		return nil, err
	}
	if cmd.Version < 2 {
		// A node of the version 1 binary ignores these fields: so does
		// this one, or the two would call different tickets.
		p.TicketID, p.Channels, p.Appointments = "", nil, false
	}
	if p.OfficeID == "" || p.Desk == "" {
		return nil, &ValidationError{Fields: map[string]string{"desk": "Indicare l'ufficio e lo sportello."}}
	}
	ctx := context.Background()
	t := tenant.ID(cmd.Tenant)
	day := dayOf(cmd.Time, p.TimeZone)
	if err := deskFree(ctx, tx, t, p.OfficeID, day, p.Desk); err != nil {
		return nil, err
	}
	var k Ticket
	if p.TicketID != "" {
		var err error
		if k, _, err = loadTicket(ctx, tx, t, p.TicketID); err != nil {
			return nil, err
		}
		if k.OfficeID != p.OfficeID || k.Day != day {
			return nil, fmt.Errorf("ticket %s in today's line of %s: %w", p.TicketID, p.OfficeID, ErrNotFound)
		}
		if k.State != Waiting {
			return nil, fmt.Errorf("call ticket %s, %s: %w", k.Number, k.State, ErrTransition)
		}
		if k.ForDesk != "" && k.ForDesk != p.Desk {
			return nil, fmt.Errorf("call ticket %s reserved for desk %s at desk %s: %w", k.Number, k.ForDesk, p.Desk, ErrWrongDesk)
		}
	} else {
		waiting, err := loadTickets(ctx, tx, t, p.OfficeID, day, Waiting)
		if err != nil {
			return nil, err
		}
		var ok bool
		if k, ok = pick(waiting, p.Desk, CallOptions{Services: p.Services, Channels: p.Channels, Appointments: p.Appointments}, cmd.Time); !ok {
			return nil, fmt.Errorf("office %s: %w", p.OfficeID, ErrEmpty)
		}
	}
	k.State, k.Desk, k.ForDesk, k.Recalls = Called, p.Desk, "", 0
	k.Called = cmd.Time.UTC().Truncate(time.Second)
	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
}

// deskFree refuses a call to a desk that is paused (ErrDeskPaused) or
// still holds a called or served ticket of the day (ErrDeskBusy).
func deskFree(ctx context.Context, tx *sql.Tx, t tenant.ID, officeID, day, desk string) error {
	st, err := loadDeskState(ctx, tx, t, officeID, desk)
	if err != nil {
		return err
	}
	if st.Paused {
		return fmt.Errorf("desk %s: %w", desk, ErrDeskPaused)
	}
	var busy bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM queue_tickets WHERE tenant = ? AND office_id = ?
		AND day = ? AND desk = ? AND state IN ('called', 'serving'))`, t, officeID, day, desk).Scan(&busy); err != nil {
		return fmt.Errorf("check desk %s: %w", desk, err)
	}
	if busy {
		return fmt.Errorf("desk %s: %w", desk, ErrDeskBusy)
	}
	return nil
}

// transition is one operator command on a ticket of the operator's
// desk.
type transition struct {
	// from are the states the command applies to.
	from []State
	// to is the new state; the function sets the time it stamps.
	to    State
	stamp func(k *Ticket, at time.Time)
}

// transitions returns the operator's commands on one ticket. A parked
// ticket can be closed without resuming it: served when the citizen came
// back with what was missing and the operator finished at once, no-show
// when the citizen never came back.
func transitions() map[string]transition {
	return map[string]transition{
		CmdStart:  {from: []State{Called}, to: Serving, stamp: func(k *Ticket, at time.Time) { k.Started = at }},
		CmdServed: {from: []State{Serving, Parked}, to: Served, stamp: func(k *Ticket, at time.Time) { k.Done = at }},
		CmdNoShow: {from: []State{Called, Parked}, to: NoShow, stamp: func(k *Ticket, at time.Time) { k.Done = at }},
		CmdRecall: {from: []State{Called}, to: Called, stamp: func(k *Ticket, at time.Time) { k.Called = at; k.Recalls++ }},
		CmdPark:   {from: []State{Called, Serving}, to: Parked, stamp: func(*Ticket, time.Time) {}},
	}
}

func (tr transition) apply(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p deskPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	k, _, err := loadTicket(context.Background(), tx, tenant.ID(cmd.Tenant), p.ID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(tr.from, k.State) {
		return nil, fmt.Errorf("%s ticket %s, %s: %w", cmd.Type, k.Number, k.State, ErrTransition)
	}
	if k.Desk != p.Desk {
		return nil, fmt.Errorf("%s ticket %s at desk %s: %w", cmd.Type, k.Number, p.Desk, ErrWrongDesk)
	}
	k.State = tr.to
	tr.stamp(&k, cmd.Time.UTC().Truncate(time.Second))
	return k, notifyAfter(tx, cmd, k, saveState(tx, k))
}
