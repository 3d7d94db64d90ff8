package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Reminders before an appointment (issue 10): each Comune chooses how long
// before the appointment they go (24 h and 2 h unless it says otherwise,
// or none); a worker on the leader finds the reminders due and proposes
// one command per booking and offset; apply records the reminder in
// booking_reminders_sent and queues the email and the browser
// notifications in the same transaction. The record's primary key makes a
// reminder queued once, whichever leader proposed it and however often.
// See DESIGN.md, "Reminders".

// Command types of the reminders.
const (
	// CmdRemindersSave stores a Comune's reminder offsets.
	CmdRemindersSave = "booking.reminders.save"
	// CmdReminderSend queues one reminder of one booking.
	CmdReminderSend = "booking.reminder.send"
	// CmdRemindersPrune forgets the reminder state of bookings that
	// are over or cancelled.
	CmdRemindersPrune = "booking.reminders.prune"
)

// Limits of the reminder offsets.
const (
	// MaxReminders bounds the reminders of one booking: more would be
	// noise, and each is an email.
	MaxReminders = 4
	// MinReminderOffset and MaxReminderOffset bound each offset: less
	// than a quarter of an hour leaves no time to act on it; more than a
	// week reminds of an appointment the citizen booked days ago and
	// still has the confirmation of.
	MinReminderOffset = 15 * time.Minute
	MaxReminderOffset = 7 * 24 * time.Hour
	// pruneAfter is how long after its appointment a booking's reminder
	// state is kept: a reminder proposed late by a slow leader still
	// meets its record.
	pruneAfter = 24 * time.Hour
)

// DefaultReminderOffsets are the offsets of a Comune that chose none:
// the day before and two hours before.
func DefaultReminderOffsets() []time.Duration {
	return []time.Duration{24 * time.Hour, 2 * time.Hour}
}

// ErrReminderNotDue refuses a reminder that is not (or no longer) due at
// the command's time: it is early, a later reminder has taken its place,
// the appointment has begun, the booking was made after the reminder's
// time, the booking was moved since the worker looked, or the Comune no
// longer sends it. The worker takes it as "nothing to do".
var ErrReminderNotDue = errors.New("reminder not due")

// ReminderSettings are a Comune's reminder offsets, longest first; none
// means no reminders. Default is true when the Comune never chose.
type ReminderSettings struct {
	Offsets []time.Duration
	Default bool
}

// remindersPayload is version 1 of booking.reminders.save: the offsets
// in seconds.
type remindersPayload struct {
	Offsets []int64 `json:"offsets"`
}

// reminderPayload is version 1 of booking.reminder.send. Sequence is the
// booking's as the worker saw it, so a reminder of a time the booking no
// longer has is refused.
type reminderPayload struct {
	BookingID string `json:"booking_id"`
	Sequence  int    `json:"sequence"`
	Before    int64  `json:"before_s"`
	Comune    comune `json:"comune"`
}

// ReminderResult is the value of booking.reminder.send: Queued is false
// when the reminder had been queued already (by an earlier leader, or an
// earlier proposal of this one).
type ReminderResult struct {
	Queued bool `json:"queued"`
}

// registerReminders adds the reminders' and push subscriptions'
// commands; booking.Register calls it.
func registerReminders(reg *cluster.Registry) {
	reg.RegisterError("booking.reminder_not_due", ErrReminderNotDue)
	reg.Handle(CmdRemindersSave, payloadVersion, applyRemindersSave)
	reg.Handle(CmdReminderSend, payloadVersion, applyReminderSend)
	reg.Handle(CmdRemindersPrune, payloadVersion, applyRemindersPrune)
	reg.HandleResult(CmdReminderSend, func(raw json.RawMessage) (any, error) {
		var r ReminderResult
		err := json.Unmarshal(raw, &r)
		return r, err
	})
	reg.Describe(CmdRemindersSave, func(cluster.Command) string { return "reminders" })
	registerPush(reg)
}

// CheckReminderOffsets validates offsets as apply does: at most
// MaxReminders, each between MinReminderOffset and MaxReminderOffset, in
// whole minutes, none twice. The error is a *ValidationError on the
// field "reminders", in Italian.
func CheckReminderOffsets(offsets []time.Duration) error {
	msg := ""
	for i, d := range offsets {
		switch {
		case d%time.Minute != 0:
			msg = "Indica i promemoria in ore o minuti interi."
		case d < MinReminderOffset:
			msg = "Un promemoria deve partire almeno 15 minuti prima dell'appuntamento."
		case d > MaxReminderOffset:
			msg = "Un promemoria può partire al massimo 7 giorni (168 ore) prima dell'appuntamento."
		case slices.Index(offsets, d) != i:
			msg = "Ogni promemoria può comparire una volta sola."
		}
		if msg != "" {
			break
		}
	}
	if msg == "" && len(offsets) > MaxReminders {
		msg = fmt.Sprintf("Puoi indicare al massimo %d promemoria.", MaxReminders)
	}
	if msg != "" {
		return &ValidationError{Fields: map[string]string{"reminders": msg}}
	}
	return nil
}

// ParseReminderOffsets reads the offsets as the administrator types them:
// a list separated by commas or semicolons of numbers of hours ("24, 2"),
// or with a unit: "h", "ore", "min", "minuti", "g", "giorni" ("1 g, 30
// min"). An empty text is no reminders. Errors are a *ValidationError on
// "reminders", in Italian.
func ParseReminderOffsets(s string) ([]time.Duration, error) {
	// "1,5 h" is an Italian decimal, which the comma separator would
	// silently read as 1 h and 5 h: refuse a comma between digits.
	if decimalComma.MatchString(s) {
		return nil, &ValidationError{Fields: map[string]string{"reminders": "Per le frazioni di ora usa i minuti, per esempio «90 min» invece di «1,5 h», " +
			"e separa i promemoria con una virgola seguita da uno spazio: «24 h, 2 h»."}}
	}
	var out []time.Duration
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.ToLower(strings.TrimSpace(part))
		if part == "" {
			continue
		}
		i := strings.IndexFunc(part, func(r rune) bool { return !unicode.IsDigit(r) })
		num, unit := part, ""
		if i >= 0 {
			num, unit = part[:i], strings.TrimSpace(part[i:])
		}
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 || n > 100000 {
			return nil, &ValidationError{Fields: map[string]string{"reminders": fmt.Sprintf(
				"«%s» non è un intervallo valido: scrivi per esempio «24 h, 2 h» oppure «30 min».", part)}}
		}
		var u time.Duration
		switch unit {
		case "", "h", "ore", "ora":
			u = time.Hour
		case "m", "min", "minuti", "minuto":
			u = time.Minute
		case "g", "giorni", "giorno", "gg":
			u = 24 * time.Hour
		default:
			return nil, &ValidationError{Fields: map[string]string{"reminders": fmt.Sprintf(
				"«%s»: l'unità deve essere h (ore), min (minuti) o g (giorni).", part)}}
		}
		out = append(out, time.Duration(n)*u)
	}
	return sortOffsets(out), CheckReminderOffsets(out)
}

// decimalComma finds a comma between digits, "1,5".
var decimalComma = regexp.MustCompile(`[0-9][.,][0-9]`)

// FormatReminderOffsets writes offsets as ParseReminderOffsets reads
// them: "24 h, 2 h", "30 min".
func FormatReminderOffsets(offsets []time.Duration) string {
	parts := make([]string, 0, len(offsets))
	for _, d := range offsets {
		if d%time.Hour == 0 {
			parts = append(parts, strconv.FormatInt(int64(d/time.Hour), 10)+" h")
		} else {
			parts = append(parts, strconv.FormatInt(int64(d/time.Minute), 10)+" min")
		}
	}
	return strings.Join(parts, ", ")
}

// sortOffsets returns offsets longest first (a new slice).
func sortOffsets(offsets []time.Duration) []time.Duration {
	out := slices.Clone(offsets)
	slices.SortFunc(out, func(a, b time.Duration) int { return int(b/time.Second - a/time.Second) })
	return out
}

// ReminderSettings returns the Comune's reminder offsets, longest first.
func (b *Book) ReminderSettings(ctx context.Context, t tenant.ID) (ReminderSettings, error) {
	offsets, def, err := loadReminderOffsets(ctx, b.db, t)
	if err != nil {
		return ReminderSettings{}, err
	}
	return ReminderSettings{Offsets: offsets, Default: def}, nil
}

// SaveReminderSettings stores the Comune's reminder offsets (none: no
// reminders) and returns the log index to wait for. Bad offsets give a
// *ValidationError on "reminders" and change nothing.
func (b *Book) SaveReminderSettings(ctx context.Context, t tenant.ID, offsets []time.Duration) (uint64, error) {
	if err := CheckReminderOffsets(offsets); err != nil {
		return 0, err
	}
	p := remindersPayload{Offsets: []int64{}}
	for _, d := range sortOffsets(offsets) {
		p.Offsets = append(p.Offsets, int64(d/time.Second))
	}
	res, err := b.propose(ctx, CmdRemindersSave, t, p)
	if err != nil {
		return 0, fmt.Errorf("save reminders: %w", err)
	}
	return res.Index, nil
}

// loadReminderOffsets reads the Comune's offsets, longest first: the
// default when it has no row (or before the schema's version 6).
func loadReminderOffsets(ctx context.Context, q querier, t tenant.ID) ([]time.Duration, bool, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT offsets FROM booking_reminder_settings WHERE tenant = ?`, t).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || isNoSuchTable(err) {
		return DefaultReminderOffsets(), true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load reminder settings: %w", err)
	}
	var secs []int64
	if err := json.Unmarshal([]byte(raw), &secs); err != nil {
		return nil, false, fmt.Errorf("reminder settings of %s: %w", t, err)
	}
	out := make([]time.Duration, 0, len(secs))
	for _, s := range secs {
		out = append(out, time.Duration(s)*time.Second)
	}
	return sortOffsets(out), false, nil
}

func applyRemindersSave(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p remindersPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	offsets := make([]time.Duration, 0, len(p.Offsets))
	for _, s := range p.Offsets {
		offsets = append(offsets, time.Duration(s)*time.Second)
	}
	if err := CheckReminderOffsets(offsets); err != nil {
		return nil, err
	}
	secs := []int64{}
	for _, d := range sortOffsets(offsets) {
		secs = append(secs, int64(d/time.Second))
	}
	raw, _ := json.Marshal(secs)
	if _, err := tx.ExecContext(context.Background(), `INSERT INTO booking_reminder_settings (tenant, offsets) VALUES (?, ?)
		ON CONFLICT (tenant) DO UPDATE SET offsets = excluded.offsets`, cmd.Tenant, string(raw)); err != nil {
		return nil, fmt.Errorf("save reminder settings: %w", err)
	}
	return nil, nil
}

// reminderWindow returns when the reminder before (one of offsets,
// longest first) of an appointment at start is due: from start − before
// until the next shorter reminder is due (or the appointment begins). A
// reminder the leader could not send in its window is not sent late:
// the next one says the same, closer to the time.
func reminderWindow(start time.Time, before time.Duration, offsets []time.Duration) (from, until time.Time) {
	from, until = start.Add(-before), start
	for _, d := range offsets {
		if d < before {
			until = start.Add(-d)
			break
		}
	}
	return from, until
}

// reminderDue reports whether the reminder before of booking b is due at
// now: inside its window, and the appointment's time chosen no later
// than the reminder's time (a booking made an hour before is not
// reminded of the day before).
func reminderDue(b Booking, before time.Duration, offsets []time.Duration, now time.Time) bool {
	from, until := reminderWindow(b.Start, before, offsets)
	return b.Status == Active && !now.Before(from) && now.Before(until) && !chosenAt(b).After(from)
}

// chosenAt is when the citizen chose the booking's present time: its
// creation, or its last move (Sequence counts moves; a cancellation,
// the other change that counts, ends the reminders anyway). A citizen
// who has just moved an appointment to tomorrow needs no reminder of it
// a minute later.
func chosenAt(b Booking) time.Time {
	if b.Sequence > 0 {
		return b.Updated
	}
	return b.Created
}

func applyReminderSend(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p reminderPayload
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	if p.BookingID == "" || p.Before <= 0 {
		return nil, fmt.Errorf("%s: payload lacks booking or offset", cmd.Type)
	}
	ctx := context.Background()
	t := p.Comune.tenant(cmd.Tenant)
	before := time.Duration(p.Before) * time.Second
	b, err := loadBookingByID(ctx, tx, t.ID, p.BookingID)
	if err != nil {
		return nil, err
	}
	if b.Status != Active {
		return nil, fmt.Errorf("reminder of %s: %w", b.Code, ErrCancelled)
	}
	offsets, _, err := loadReminderOffsets(ctx, tx, t.ID)
	if err != nil {
		return nil, err
	}
	if b.Sequence != p.Sequence || !slices.Contains(offsets, before) || !reminderDue(b.Booking, before, offsets, cmd.Time) {
		return nil, fmt.Errorf("reminder %s of %s at %s: %w", before, b.Code, cmd.Time.UTC().Format(time.RFC3339), ErrReminderNotDue)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO booking_reminders_sent (tenant, booking_id, sequence, offset_s, sent_unix)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, booking_id, sequence, offset_s) DO NOTHING`,
		t.ID, b.ID, b.Sequence, p.Before, cmd.Time.Unix())
	if err != nil {
		return nil, fmt.Errorf("record reminder of %s: %w", b.Code, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("record reminder of %s: %w", b.Code, err)
	} else if n == 0 {
		return ReminderResult{Queued: false}, nil
	}
	// The service and office as they are now, archived or not: the
	// appointment stands whatever happened to them.
	svc, err := loadService(ctx, tx, t.ID, b.ServiceID)
	if err != nil {
		return nil, err
	}
	office, err := loadOffice(ctx, tx, t.ID, b.OfficeID)
	if err != nil {
		return nil, err
	}
	var base, manage string
	err = tx.QueryRowContext(ctx, `SELECT base_url, manage_url FROM booking_reminder_links WHERE tenant = ? AND booking_id = ?`,
		t.ID, b.ID).Scan(&base, &manage)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("manage link of %s: %w", b.Code, err)
	}
	n := newNotice(NoticeReminder, t, b.Booking, svc, office, base, manage)
	n.Before = before
	if !cmd.Time.Before(n.CancelBy) {
		// Past the deadline the link no longer cancels or moves: the
		// email must not say it does.
		n.CancelBy = time.Time{}
	}
	if base == "" {
		// Without the Comune's address a join link would be a bare
		// path: better none than a broken one.
		n.JoinURL = ""
	}
	payload, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode reminder of %s: %w", b.Code, err)
	}
	// The key shares the booking's sequence (booking/<Comune>/<ID>), so
	// the outbox delivers the reminder after the booking's earlier
	// emails, never before a confirmation still waiting.
	item := cluster.OutboxItem{
		Kind:    OutboxKind,
		Key:     fmt.Sprintf("booking/%s/%s/%d/reminder-%d", t.ID, b.ID, b.Sequence, p.Before/60),
		Payload: payload,
	}
	if err := cluster.Enqueue(tx, cmd, item); err != nil {
		return nil, fmt.Errorf("enqueue reminder of %s: %w", b.Code, err)
	}
	if err := enqueueReminderPush(tx, cmd, n); err != nil {
		return nil, err
	}
	// The App IO twin, when the service has the channel on (appio_channel.go).
	if err := enqueueAppIO(tx, cmd, appIOOfNotice(AppIOReminder, n, svc.ID, b.Citizen.FiscalCode)); err != nil {
		return nil, err
	}
	return ReminderResult{Queued: true}, nil
}

// applyRemindersPrune forgets, for one Comune, the reminder state of
// bookings that are cancelled or whose appointment ended more than
// pruneAfter before the command's time: their records, manage links and
// browsers. Each table holds only the Comune's upcoming bookings, so
// the statements walk those rows and look each booking up by its key.
func applyRemindersPrune(tx *sql.Tx, cmd cluster.Command) (any, error) {
	var p struct{}
	if err := decode(cmd, &p); err != nil {
		return nil, err
	}
	cutoff := cmd.Time.Add(-pruneAfter).Unix()
	for _, table := range []string{"booking_reminders_sent", "booking_reminder_links", "booking_push"} {
		if _, err := tx.ExecContext(context.Background(), `DELETE FROM `+table+` AS r WHERE tenant = ? AND NOT EXISTS (
			SELECT 1 FROM booking_bookings b WHERE b.tenant = r.tenant AND b.id = r.booking_id
				AND b.status = 'active' AND b.end_unix >= ?)`, cmd.Tenant, cutoff); err != nil {
			return nil, fmt.Errorf("prune %s: %w", table, err)
		}
	}
	return nil, nil
}
